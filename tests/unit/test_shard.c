/* SPDX-License-Identifier: Apache-2.0 */
/* test_shard.c - ptm_parse_file_size against values worked out by hand from
 * transformers 4.37's convert_file_size_to_int (formats.md 5.5). */
#include "check.h"

#include <ptm/ptm.h>

static int size_is(const char *text, uint64_t want)
{
    uint64_t got = 0;
    ptm_status s = ptm_parse_file_size(text, &got);
    if (s != PTM_OK || got != want) {
        fprintf(stderr, "\"%s\": status %d (%s), got %llu, want %llu\n", text, (int)s, ptm_last_error(),
                (unsigned long long)got, (unsigned long long)want);
        return 0;
    }
    return 1;
}

TEST(decimal_units)
{
    CHECK(size_is("5GB", 5000000000ull));
    CHECK(size_is("200MB", 200000000ull));
    CHECK(size_is("1KB", 1000ull));
    CHECK(size_is("10mB", 10000000ull)); /* upper-cased suffix; capital B: bytes */
    CHECK(size_is(" 7 GB", 7000000000ull)); /* int() strips whitespace */
    CHECK(size_is("1_000KB", 1000000ull));  /* int() takes underscores */
    CHECK(size_is("+3MB", 3000000ull));
}

TEST(binary_units)
{
    CHECK(size_is("10GiB", 10737418240ull));
    CHECK(size_is("5GIB", 5368709120ull));
    CHECK(size_is("1KiB", 1024ull));
    CHECK(size_is("3mib", 3145728ull));
    CHECK(size_is("2kib", 2048ull)); /* no bits rule for binary units */
}

TEST(bits)
{
    CHECK(size_is("8Mb", 1000000ull));
    CHECK(size_is("5Gb", 625000000ull));
    CHECK(size_is("5gb", 625000000ull));
    CHECK(size_is("100kb", 12500ull));
    CHECK(size_is("1Kb", 125ull));
    CHECK(size_is("1kb", 125ull));
    CHECK(size_is("3kb", 375ull));
    CHECK(size_is("9kb", 1125ull)); /* 9000 // 8 */
    CHECK(size_is("13KB", 13000ull));
    CHECK(size_is("1Mb", 125000ull));
}

TEST(byte_counts)
{
    CHECK(size_is("1", 1));
    CHECK(size_is("123456", 123456));
    CHECK(size_is("9223372036854775807", 9223372036854775807ull));
}

TEST(refused)
{
    uint64_t v = 42;
    static const char *const bad[] = {"5.5GB", "10TB", "GB", "", "-1MB", "1__0KB", "_1KB", "1_KB", "5 G B",
                                      "5B", "0", "0GB", "0kb", "abc", "99999999999GB", "9223372036854775808",
                                      "0x10MB", NULL};
    for (int i = 0; bad[i]; i++) {
        ptm_status s = ptm_parse_file_size(bad[i], &v);
        if (s != PTM_ERR_INVALID_ARG || !strstr(ptm_last_error(), bad[i]))
            fprintf(stderr, "\"%s\" -> %d %s\n", bad[i], (int)s, ptm_last_error());
        CHECK(s == PTM_ERR_INVALID_ARG && strstr(ptm_last_error(), bad[i]));
    }
    CHECK(v == 42);
    CHECK_ERR(ptm_parse_file_size(NULL, &v), PTM_ERR_INVALID_ARG, "NULL");
}

int main(void)
{
    RUN(decimal_units);
    RUN(binary_units);
    RUN(bits);
    RUN(byte_counts);
    RUN(refused);
    return CHECK_DONE();
}
