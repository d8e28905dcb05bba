/* SPDX-License-Identifier: Apache-2.0 */
/* test_config.c - config.json: every key kept, numbers keep their spelling,
 * output in the byte format of Python's json.dumps(indent=2, sort_keys=True)
 * (expected strings written out by hand from Python's rules). */
#include "check.h"

#include <ptm/ptm.h>

static ptm_config *parse(const char *s)
{
    ptm_config *c = NULL;
    if (ptm_config_parse(s, strlen(s), "cfg.json", &c) != PTM_OK)
        fprintf(stderr, "parse: %s\n", ptm_last_error());
    return c;
}

static int dumps_as(ptm_config *c, const char *want)
{
    char *got = NULL;
    int ok = c && ptm_config_to_json(c, &got) == PTM_OK && !strcmp(got, want);
    if (!ok)
        fprintf(stderr, "got:\n%s\nwant:\n%s\n", got ? got : "(null)", want);
    ptm_free(got);
    return ok;
}

TEST(round_trip_keeps_everything)
{
    ptm_config *c = parse("{\"z\": 1.0, \"a\": [1, 2.50, {\"k\": null}], \"eps\": 1e-05, \"big\": 12345678901234567890,"
                          " \"s\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\\u0001\", \"e\": {}, \"l\": [], \"t\": true}");
    CHECK(c != NULL);
    CHECK(dumps_as(c, "{\n"
                      "  \"a\": [\n"
                      "    1,\n"
                      "    2.50,\n"
                      "    {\n"
                      "      \"k\": null\n"
                      "    }\n"
                      "  ],\n"
                      "  \"big\": 12345678901234567890,\n"
                      "  \"e\": {},\n"
                      "  \"eps\": 1e-05,\n"
                      "  \"l\": [],\n"
                      "  \"s\": \"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\\u0001\",\n"
                      "  \"t\": true,\n"
                      "  \"z\": 1.0\n"
                      "}\n"));
    CHECK(ptm_config_float(c, "eps", 0) == 1e-05);
    CHECK(ptm_config_int(c, "z", -1) == 1); /* integral float reads as int */
    CHECK(ptm_config_size(c) == 8 && !strcmp(ptm_config_key(c, 0), "z"));
    ptm_config_free(c);
}

TEST(setters_print_like_python)
{
    ptm_config *c = parse("{}");
    CHECK_OK(ptm_config_set_float(c, "a", 0.02));
    CHECK_OK(ptm_config_set_float(c, "b", 1e-5));
    CHECK_OK(ptm_config_set_float(c, "c", 1e16));
    CHECK_OK(ptm_config_set_float(c, "d", 100.0));
    CHECK_OK(ptm_config_set_float(c, "e", 0.1 + 0.2));
    CHECK_OK(ptm_config_set_float(c, "f", 0.0001));
    CHECK_OK(ptm_config_set_float(c, "g", -1.5e-7));
    CHECK_OK(ptm_config_set_float(c, "h", 1234567890123456.0));
    CHECK_OK(ptm_config_set_int(c, "i", -9007199254740993LL));
    CHECK_OK(ptm_config_set_bool(c, "j", 0));
    CHECK_OK(ptm_config_set_string(c, "k.nested.deep", "v"));
    const char *arr[] = {"X", "Y"};
    CHECK_OK(ptm_config_set_string_array(c, "l", arr, 2));
    CHECK_OK(ptm_config_set_json(c, "m", "[1.0, {\"x\": 2}]"));
    CHECK(dumps_as(c, "{\n  \"a\": 0.02,\n  \"b\": 1e-05,\n  \"c\": 1e+16,\n  \"d\": 100.0,\n"
                      "  \"e\": 0.30000000000000004,\n  \"f\": 0.0001,\n  \"g\": -1.5e-07,\n"
                      "  \"h\": 1234567890123456.0,\n  \"i\": -9007199254740993,\n  \"j\": false,\n"
                      "  \"k\": {\n    \"nested\": {\n      \"deep\": \"v\"\n    }\n  },\n"
                      "  \"l\": [\n    \"X\",\n    \"Y\"\n  ],\n"
                      "  \"m\": [\n    1.0,\n    {\n      \"x\": 2\n    }\n  ]\n}\n"));
    CHECK(ptm_config_int(c, "i", 0) == -9007199254740993LL); /* exact beyond 2^53 */
    CHECK(!strcmp(ptm_config_string(c, "k.nested.deep", ""), "v"));
    CHECK(ptm_config_array_size(c, "l") == 2 && !strcmp(ptm_config_array_string(c, "l", 1), "Y"));
    ptm_config_remove(c, "k.nested.deep");
    CHECK(!ptm_config_has(c, "k.nested.deep") && ptm_config_has(c, "k.nested"));
    ptm_config_remove(c, "a");
    CHECK(!ptm_config_has(c, "a"));
    ptm_config_free(c);
}

TEST(strict_getters_and_errors)
{
    ptm_config *c = parse("{\"n\": 2.5, \"s\": \"x\", \"i\": 3, \"nul\": null, \"dup\": 1, \"dup\": 2}");
    int64_t i;
    double d;
    const char *s;
    CHECK_OK(ptm_config_get_int(c, "i", &i));
    CHECK(i == 3);
    CHECK_ERR(ptm_config_get_int(c, "n", &i), PTM_ERR_CONFIG, "cfg.json: key \"n\" must be an integer");
    CHECK_ERR(ptm_config_get_int(c, "absent", &i), PTM_ERR_CONFIG, "cfg.json: missing key \"absent\"");
    CHECK_ERR(ptm_config_get_string(c, "i", &s), PTM_ERR_CONFIG, "must be a string");
    CHECK_ERR(ptm_config_get_float(c, "nul", &d), PTM_ERR_CONFIG, "missing key \"nul\"");
    CHECK(ptm_config_int(c, "dup", 0) == 2); /* like Python: the last duplicate wins */
    CHECK(ptm_config_size(c) == 5);
    ptm_config_free(c);
    ptm_config *bad = NULL;
    CHECK_ERR(ptm_config_parse("{\"a\": ", 6, "x/config.json", &bad), PTM_ERR_CONFIG, "x/config.json: not valid JSON");
    CHECK_ERR(ptm_config_parse("[1, 2]", 6, "x/config.json", &bad), PTM_ERR_CONFIG, "must be a JSON object");
    CHECK_ERR(ptm_config_parse("{} x", 4, "x/config.json", &bad), PTM_ERR_CONFIG, "trailing data");
    CHECK_ERR(ptm_config_parse("", 0, "x/config.json", &bad), PTM_ERR_CONFIG, "not valid JSON");
    char deep[5000];
    memset(deep, '[', 2500);
    memset(deep + 2500, ']', 2499);
    deep[4999] = '\0';
    CHECK_ERR(ptm_config_parse(deep, strlen(deep), "deep.json", &bad), PTM_ERR_CONFIG, "deep.json");
    CHECK_ERR(ptm_config_load(PTM_TEST_TMP "/no/config.json", &bad), PTM_ERR_NOT_FOUND, "no/config.json");
    c = parse("{}");
    CHECK_ERR(ptm_config_set_json(c, "k", "{oops"), PTM_ERR_CONFIG, "not valid JSON");
    ptm_config_free(c);
}

TEST(save_is_atomic_and_reloads)
{
    ptm_config *c = parse("{\"model_type\": \"gpt2\", \"n_embd\": 768}");
    const char *path = PTM_TEST_TMP "/cfg_roundtrip.json";
    CHECK_OK(ptm_config_save(c, path));
    ptm_config *r = NULL;
    CHECK_OK(ptm_config_load(path, &r));
    CHECK(r && ptm_config_int(r, "n_embd", 0) == 768 && !strcmp(ptm_config_origin(r), path));
    ptm_config *cl = NULL;
    CHECK_OK(ptm_config_clone(r, &cl));
    CHECK(dumps_as(cl, "{\n  \"model_type\": \"gpt2\",\n  \"n_embd\": 768\n}\n"));
    CHECK_ERR(ptm_config_save(c, PTM_TEST_TMP "/no/such/dir/config.json"), PTM_ERR_IO, "no/such/dir");
    ptm_config_free(cl);
    ptm_config_free(r);
    ptm_config_free(c);
}

int main(void)
{
    RUN(round_trip_keeps_everything);
    RUN(setters_print_like_python);
    RUN(strict_getters_and_errors);
    RUN(save_is_atomic_and_reloads);
    return CHECK_DONE();
}
