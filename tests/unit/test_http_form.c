/* SPDX-License-Identifier: MIT */
/* Unit tests for http/http_form: urlencoded parsing (valid, edge and
 * hostile input), percent-coding, header parameters and media types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http_form.h"

#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
    *state = arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

static int parse(struct arena *a, const char *s, size_t max, struct http_kvlist *l)
{
    return http_form_parse(a, s, strlen(s), max, l);
}

static void test_form_basic(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "a=1&b=hello+world&c=%41%62%2B%26%3D", 10, &l), TD_OK);
    assert_int_equal(l.len, 3);
    assert_string_equal(l.items[0].name, "a");
    assert_string_equal(l.items[0].value, "1");
    assert_int_equal(l.items[0].value_len, 1);
    assert_string_equal(http_kv_get(&l, "b"), "hello world");
    assert_string_equal(http_kv_get(&l, "c"), "Ab+&=");
    assert_int_equal(l.items[2].value_len, 5);
    assert_null(http_kv_get(&l, "d"));
    assert_null(http_kv_get(&l, "A"));
    assert_null(http_kv_get(NULL, "a"));
}

static void test_form_edges(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "", 10, &l), TD_OK);
    assert_int_equal(l.len, 0);
    assert_null(l.items);
    /* Empty sequences are skipped (WHATWG URL §5.1 step 3.1). */
    assert_int_equal(parse(a, "&&a=1&&&b&", 10, &l), TD_OK);
    assert_int_equal(l.len, 2);
    assert_string_equal(l.items[1].name, "b");
    assert_string_equal(l.items[1].value, "");
    /* Only the first '=' splits. */
    assert_int_equal(parse(a, "x==y=z&=v&k=", 10, &l), TD_OK);
    assert_int_equal(l.len, 3);
    assert_string_equal(l.items[0].value, "=y=z");
    assert_string_equal(l.items[1].name, "");
    assert_string_equal(l.items[1].value, "v");
    assert_string_equal(l.items[2].value, "");
    /* Duplicates kept in order; get returns the first. */
    assert_int_equal(parse(a, "t=1&t=2", 10, &l), TD_OK);
    assert_int_equal(l.len, 2);
    assert_string_equal(http_kv_get(&l, "t"), "1");
    /* Decoded name, UTF-8 in both. */
    assert_int_equal(parse(a, "n%C3%A9+m=%E2%82%AC", 10, &l), TD_OK);
    assert_string_equal(l.items[0].name, "n\xc3\xa9 m");
    assert_string_equal(l.items[0].value, "\xe2\x82\xac");
    assert_int_equal(l.items[0].value_len, 3);
    /* Raw (unencoded) UTF-8 is accepted too. */
    assert_int_equal(parse(a, "q=\xc3\xa9t\xc3\xa9", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "q"), "\xc3\xa9t\xc3\xa9");
    /* len is respected: nothing past it is read. */
    assert_int_equal(http_form_parse(a, "a=1&b=2", 3, 10, &l), TD_OK);
    assert_int_equal(l.len, 1);
    assert_string_equal(l.items[0].value, "1");
}

static void test_form_bad_escapes(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "a=%4", 10, &l), TD_EINVAL);
    assert_int_equal(l.len, 0);
    assert_int_equal(parse(a, "a=%", 10, &l), TD_EINVAL);
    assert_int_equal(parse(a, "a=%zz", 10, &l), TD_EINVAL);
    assert_int_equal(parse(a, "a=%4g", 10, &l), TD_EINVAL);
    assert_int_equal(parse(a, "%4=1", 10, &l), TD_EINVAL);
    assert_int_equal(parse(a, "a=1&b=%%41", 10, &l), TD_EINVAL);
    /* A truncated escape at the end of a length-bounded segment. */
    assert_int_equal(http_form_parse(a, "a=%41", 4, 10, &l), TD_EINVAL);
    /* Decoded NUL is refused so values stay safe C strings. */
    assert_int_equal(parse(a, "a=x%00y", 10, &l), TD_EINVAL);
    assert_int_equal(http_form_parse(a, "a=x\0y", 5, 10, &l), TD_EINVAL);
}

static void test_form_bad_utf8(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "a=%FF", 10, &l), TD_EINVAL);
    assert_int_equal(parse(a, "a=caf%E9", 10, &l), TD_EINVAL);      /* Latin-1 é */
    assert_int_equal(parse(a, "a=%C0%AF", 10, &l), TD_EINVAL);      /* overlong '/' */
    assert_int_equal(parse(a, "a=%ED%A0%80", 10, &l), TD_EINVAL);   /* surrogate */
    assert_int_equal(parse(a, "a=%E2%82", 10, &l), TD_EINVAL);      /* truncated */
    assert_int_equal(parse(a, "%FF=1", 10, &l), TD_EINVAL);         /* in the name */
    assert_int_equal(parse(a, "a=\xff", 10, &l), TD_EINVAL);        /* raw byte */
}

static void test_form_limits(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;
    size_t n = 200000;
    char *s = malloc(2 * n + 1);

    assert_int_equal(parse(a, "a=1&b=2&c=3", 3, &l), TD_OK);
    assert_int_equal(l.len, 3);
    assert_int_equal(parse(a, "a=1&b=2&c=3&d", 3, &l), TD_ETOOBIG);
    assert_int_equal(l.len, 0);
    assert_int_equal(parse(a, "a", 0, &l), TD_ETOOBIG);
    assert_int_equal(parse(a, "", 0, &l), TD_OK);

    /* 200000 '&' alone: no pairs at all. */
    memset(s, '&', n);
    s[n] = '\0';
    assert_int_equal(http_form_parse(a, s, n, 100, &l), TD_OK);
    assert_int_equal(l.len, 0);
    /* "a&a&a&..." : refused by counting, before allocating. */
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = 'a';
        s[2 * i + 1] = '&';
    }
    s[2 * n] = '\0';
    assert_int_equal(http_form_parse(a, s, 2 * n, 1000, &l), TD_ETOOBIG);
    assert_int_equal(http_form_parse(a, s, 2 * n, n, &l), TD_OK);
    assert_int_equal(l.len, n);
    free(s);
}

static void test_url_decode(void **state)
{
    struct arena *a = *state;
    char *out;
    size_t n;

    assert_int_equal(http_url_decode(a, "/a%20b+c/%C3%A9", 15, &out, &n), TD_OK);
    assert_string_equal(out, "/a b+c/\xc3\xa9");
    assert_int_equal(n, 9);
    assert_int_equal(http_url_decode(a, "", 0, &out, NULL), TD_OK);
    assert_string_equal(out, "");
    assert_int_equal(http_url_decode(a, "%2f%2E", 6, &out, &n), TD_OK);
    assert_string_equal(out, "/.");
    assert_int_equal(http_url_decode(a, "/x%4", 4, &out, &n), TD_EINVAL);
    assert_null(out);
    assert_int_equal(http_url_decode(a, "/x%zz", 5, &out, &n), TD_EINVAL);
    assert_int_equal(http_url_decode(a, "/x%00.txt", 9, &out, &n), TD_EINVAL);
    assert_int_equal(http_url_decode(a, "%", 1, &out, &n), TD_EINVAL);
}

static void test_url_encode(void **state)
{
    struct buf b;
    (void)state;

    buf_init(&b, 0);
    assert_int_equal(http_url_encode(&b, "aZ09-._~ /?&=+%\xc3\xa9", 17), TD_OK);
    assert_string_equal(b.data, "aZ09-._~%20%2F%3F%26%3D%2B%25%C3%A9");
    buf_reset(&b);
    assert_int_equal(http_url_encode(&b, "a\0b", 3), TD_OK);
    assert_string_equal(b.data, "a%00b");
    buf_free(&b);

    buf_init(&b, 4);
    assert_int_equal(http_url_encode(&b, "a b", 3), TD_ETOOBIG);
    buf_free(&b);
}

static void test_roundtrip(void **state)
{
    struct arena *a = *state;
    struct buf b;
    struct http_kvlist l;
    const char *v = "x y+z&w=%\xe2\x82\xac";

    buf_init(&b, 0);
    buf_appends(&b, "k=");
    assert_int_equal(http_url_encode(&b, v, strlen(v)), TD_OK);
    assert_int_equal(http_form_parse(a, b.data, b.len, 4, &l), TD_OK);
    assert_int_equal(l.len, 1);
    assert_string_equal(http_kv_get(&l, "k"), v);
    buf_free(&b);
}

static void test_header_param(void **state)
{
    struct arena *a = *state;

    assert_string_equal(http_header_param(a, "multipart/form-data; boundary=abc", "boundary"),
                        "abc");
    assert_string_equal(http_header_param(a, "multipart/form-data; BOUNDARY=\"x y\"", "boundary"),
                        "x y");
    assert_string_equal(http_header_param(a, "a/b;charset=utf-8;q=1", "Charset"), "utf-8");
    assert_string_equal(http_header_param(a, "a/b ; x=1 ;; y=\"q\\\"u\\\\o\" ", "y"),
                        "q\"u\\o");
    assert_string_equal(http_header_param(a, "a/b; x=\"\"", "x"), "");
    assert_string_equal(http_header_param(a, "a/b; x=1; x=2", "x"), "1");
    assert_null(http_header_param(a, "a/b; x=1", "y"));
    assert_null(http_header_param(a, "a/b", "x"));
    assert_null(http_header_param(a, "", "x"));
    assert_null(http_header_param(a, NULL, "x"));
    assert_null(http_header_param(a, "a/b; xx=1", "x"));
    assert_null(http_header_param(a, "a/b; x", "x"));           /* no '=' */
    assert_null(http_header_param(a, "a/b; x=", "x"));          /* empty token */
    assert_null(http_header_param(a, "a/b; x=\"abc", "x"));     /* unterminated */
    assert_null(http_header_param(a, "a/b; x=\"a\\", "x"));
    assert_null(http_header_param(a, "a/b; x=\"a\rb\"", "x"));  /* control in quotes */
    assert_null(http_header_param(a, "a/b; x = 1", "x"));       /* no BWS allowed */
    assert_null(http_header_param(a, "a/b; y=1 z; x=2", "x"));  /* junk before */
    assert_null(http_header_param(a, "a/b; y=\"1\"z; x=2", "x"));
    /* The lenient form keeps lone backslashes (browser filenames). */
    assert_string_equal(http__header_param(a, "form-data; f=\"C:\\dir\\a.txt\"", "f", true),
                        "C:\\dir\\a.txt");
    assert_string_equal(http__header_param(a, "form-data; f=\"a\\\"b\"", "f", true), "a\"b");
    assert_string_equal(http_header_param(a, "form-data; f=\"C:\\dir\"", "f"), "C:dir");
}

static void test_media_type(void **state)
{
    (void)state;
    assert_true(http_media_type_is("Text/HTML; charset=utf-8", "text/html"));
    assert_true(http_media_type_is("  application/json  ", "application/json"));
    assert_true(http_media_type_is("application/json;x=1", "APPLICATION/JSON"));
    assert_true(http_media_type_is("text/plain \t; a=b", "text/plain"));
    assert_false(http_media_type_is("text/htmlx", "text/html"));
    assert_false(http_media_type_is("text/htm", "text/html"));
    assert_false(http_media_type_is("", "text/html"));
    assert_false(http_media_type_is(NULL, "text/html"));
    assert_false(http_media_type_is("text/html", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_form_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_bad_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_bad_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_form_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_decode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_url_encode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_param, setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_type, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
