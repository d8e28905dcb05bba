/* SPDX-License-Identifier: Apache-2.0 */
/* check.h - a minimal test harness.  Each test file defines tests with
 * TEST(name) and lists them in main via RUN(name); the program prints one
 * line per failed check and ends with "N passed, N failed". */
#ifndef PTM_TEST_CHECK_H
#define PTM_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_in_test;
static int check_tests_passed, check_tests_failed;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);      \
            check_failed_in_test = 1;                                                      \
        }                                                                                  \
    } while (0)

/* A ptm call that must succeed; prints ptm_last_error() otherwise. */
#define CHECK_OK(expr)                                                                     \
    do {                                                                                   \
        ptm_status check_s_ = (expr);                                                      \
        if (check_s_ != PTM_OK) {                                                          \
            fprintf(stderr, "%s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #expr,            \
                    (int)check_s_, ptm_last_error());                                      \
            check_failed_in_test = 1;                                                      \
        }                                                                                  \
    } while (0)

/* A ptm call that must fail with `status` and a message containing `needle`. */
#define CHECK_ERR(expr, status, needle)                                                    \
    do {                                                                                   \
        ptm_status check_s_ = (expr);                                                      \
        if (check_s_ != (status) || !strstr(ptm_last_error(), (needle))) {                 \
            fprintf(stderr, "%s:%d: %s -> %d \"%s\", wanted %d containing \"%s\"\n",      \
                    __FILE__, __LINE__, #expr, (int)check_s_, ptm_last_error(),            \
                    (int)(status), (needle));                                              \
            check_failed_in_test = 1;                                                      \
        }                                                                                  \
    } while (0)

#define TEST(name) static void test_##name(void)
#define RUN(name)                                                                          \
    do {                                                                                   \
        check_failed_in_test = 0;                                                          \
        test_##name();                                                                     \
        if (check_failed_in_test) {                                                        \
            check_tests_failed++;                                                          \
            fprintf(stderr, "FAIL %s\n", #name);                                           \
        } else {                                                                           \
            check_tests_passed++;                                                          \
            printf("ok   %s\n", #name);                                                    \
        }                                                                                  \
    } while (0)
#define CHECK_DONE()                                                                       \
    (printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed),              \
     check_tests_failed ? 1 : 0)

#endif
