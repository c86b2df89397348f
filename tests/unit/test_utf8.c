/* SPDX-License-Identifier: MIT */
/* Unit tests for core/utf8: strict validation (RFC 3629 §4 and its §10
 * security notes on overlongs and surrogates), counting, control detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/utf8.h"

#include <string.h>

#define V(lit) utf8_valid(lit, sizeof(lit) - 1)

static void test_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid(NULL, 0));
    assert_true(V("hello"));
    assert_true(V("\xc3\xa9"));             /* é */
    assert_true(V("\xe2\x82\xac"));         /* € */
    assert_true(V("\xf0\x9f\x98\x80"));     /* 😀 */
    assert_true(V("\xc2\x80"));             /* U+0080, lowest 2-byte */
    assert_true(V("\xdf\xbf"));             /* U+07FF */
    assert_true(V("\xe0\xa0\x80"));         /* U+0800, lowest 3-byte */
    assert_true(V("\xed\x9f\xbf"));         /* U+D7FF, just below surrogates */
    assert_true(V("\xee\x80\x80"));         /* U+E000, just above surrogates */
    assert_true(V("\xef\xbf\xbf"));         /* U+FFFF */
    assert_true(V("\xf0\x90\x80\x80"));     /* U+10000 */
    assert_true(V("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    assert_true(utf8_valid("a\0b", 3));     /* NUL is a valid code point */
}

static void test_overlong(void **state)
{
    (void)state;
    assert_false(V("\xc0\xaf"));             /* overlong '/' */
    assert_false(V("\xc1\xbf"));
    assert_false(V("\xc0\x80"));             /* overlong NUL (modified UTF-8) */
    assert_false(V("\xe0\x80\xaf"));         /* 3-byte overlong '/' */
    assert_false(V("\xe0\x9f\xbf"));         /* overlong U+07FF */
    assert_false(V("\xf0\x80\x80\xaf"));     /* 4-byte overlong '/' */
    assert_false(V("\xf0\x8f\xbf\xbf"));     /* overlong U+FFFF */
}

static void test_surrogates_and_range(void **state)
{
    (void)state;
    assert_false(V("\xed\xa0\x80"));         /* U+D800 */
    assert_false(V("\xed\xbf\xbf"));         /* U+DFFF */
    assert_false(V("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 surrogate pair */
    assert_false(V("\xf4\x90\x80\x80"));     /* U+110000 */
    assert_false(V("\xf5\x80\x80\x80"));
    assert_false(V("\xf8\x88\x80\x80\x80")); /* 5-byte form */
    assert_false(V("\xfe"));
    assert_false(V("\xff"));
}

static void test_malformed(void **state)
{
    (void)state;
    assert_false(V("\x80"));                 /* lone continuation */
    assert_false(V("a\xbf"));
    assert_false(V("\xc3"));                 /* truncated at end */
    assert_false(V("\xe2\x82"));
    assert_false(V("\xf0\x9f\x98"));
    assert_false(V("\xc3("));                /* bad continuation */
    assert_false(V("\xe2\x28\xa1"));
    assert_false(V("\xe2\x82\x28"));
    assert_false(V("\xf0\x9f\x28\x80"));
    assert_false(V("\xf0\x9f\x98\x28"));
    /* The length bounds the read: a valid sequence cut by len is invalid. */
    assert_false(utf8_valid("\xe2\x82\xac", 2));
    assert_true(utf8_valid("ab\xe2\x82\xac", 2));
}

static void test_count(void **state)
{
    (void)state;
    assert_int_equal(utf8_count("", 0), 0);
    assert_int_equal(utf8_count("abc", 3), 3);
    assert_int_equal(utf8_count("h\xc3\xa9llo", 6), 5);
    assert_int_equal(utf8_count("\xe2\x82\xac\xf0\x9f\x98\x80", 7), 2);
}

static void test_controls(void **state)
{
    (void)state;
    assert_false(utf8_has_controls("", 0));
    assert_false(utf8_has_controls("a\tb\r\nc", 6));
    assert_false(utf8_has_controls("\xc3\xa9\xc2\x85", 4)); /* C1 (U+0085) is not C0 */
    assert_true(utf8_has_controls("a\0b", 3));
    assert_true(utf8_has_controls("\x1b[31m", 5));
    assert_true(utf8_has_controls("x\x7f", 2));
    assert_true(utf8_has_controls("\x0b", 1));
    assert_false(utf8_has_controls("x\x7f", 1)); /* len respected */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_overlong),
        cmocka_unit_test(test_surrogates_and_range),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_controls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
