/* SPDX-License-Identifier: MIT */
/* Unit tests for http/http_cookie: Cookie header parsing (including the
 * malformed pairs browsers and scripts produce) and Set-Cookie formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http_cookie.h"

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
    return http_cookie_parse(a, s, strlen(s), max, l);
}

static void test_parse_basic(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "a=1; b=2;c=three", 10, &l), TD_OK);
    assert_int_equal(l.len, 3);
    assert_string_equal(l.items[0].name, "a");
    assert_string_equal(l.items[0].value, "1");
    assert_string_equal(l.items[2].name, "c");
    assert_string_equal(l.items[2].value, "three");
    assert_int_equal(l.items[2].value_len, 5);
    assert_string_equal(http_kv_get(&l, "b"), "2");
    /* Values are not decoded; only the first '=' splits. */
    assert_int_equal(parse(a, "t=a%20b=c+d", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "t"), "a%20b=c+d");
    /* Duplicate names kept in order: first is the most specific path. */
    assert_int_equal(parse(a, "sid=new; sid=old", 10, &l), TD_OK);
    assert_int_equal(l.len, 2);
    assert_string_equal(http_kv_get(&l, "sid"), "new");
    /* Empty value. */
    assert_int_equal(parse(a, "e=; f=1", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "e"), "");
    assert_int_equal(l.items[0].value_len, 0);
}

static void test_parse_quotes(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "q=\"quoted\"; r=\"\"; s=\"half; t=\"", 10, &l), TD_OK);
    assert_int_equal(l.len, 4);
    assert_string_equal(http_kv_get(&l, "q"), "quoted");
    assert_string_equal(http_kv_get(&l, "r"), "");
    assert_string_equal(http_kv_get(&l, "s"), "\"half");   /* unbalanced: kept */
    assert_string_equal(http_kv_get(&l, "t"), "\"");       /* lone quote: kept */
    assert_int_equal(parse(a, "u=\"a\"b\"", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "u"), "a\"b");    /* one pair removed only */
}

static void test_parse_malformed(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;

    assert_int_equal(parse(a, "", 10, &l), TD_OK);
    assert_int_equal(l.len, 0);
    assert_null(l.items);
    assert_int_equal(parse(a, ";;; ;", 10, &l), TD_OK);
    assert_int_equal(l.len, 0);
    /* Missing '=', empty name, non-token name, controls: skipped. */
    assert_int_equal(parse(a, "novalue; =x; a b=1; ok=1; c\"d=2; e=\x01; f=v\x7f; g=2", 10, &l),
                     TD_OK);
    assert_int_equal(l.len, 2);
    assert_string_equal(l.items[0].name, "ok");
    assert_string_equal(l.items[1].name, "g");
    /* Whitespace around names and values is trimmed, including tabs. */
    assert_int_equal(parse(a, "  \tx = 1 \t;y=2  ", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "x"), "1");
    assert_string_equal(http_kv_get(&l, "y"), "2");
    /* Embedded NUL in the header: that pair is skipped. */
    assert_int_equal(http_cookie_parse(a, "a=x\0y; b=2", 10, 10, &l), TD_OK);
    assert_int_equal(l.len, 1);
    assert_string_equal(l.items[0].name, "b");
    /* Non-ASCII values pass through untouched. */
    assert_int_equal(parse(a, "n=\xc3\xa9", 10, &l), TD_OK);
    assert_string_equal(http_kv_get(&l, "n"), "\xc3\xa9");
}

static void test_parse_limits(void **state)
{
    struct arena *a = *state;
    struct http_kvlist l;
    size_t n = 50000;
    char *s = malloc(4 * n + 1);

    assert_int_equal(parse(a, "a=1; b=2", 2, &l), TD_OK);
    assert_int_equal(parse(a, "a=1; b=2; c=3", 2, &l), TD_ETOOBIG);
    assert_int_equal(l.len, 0);
    /* Malformed pairs do not count against the cap. */
    assert_int_equal(parse(a, "a=1; junk; b=2; ;;", 2, &l), TD_OK);
    assert_int_equal(l.len, 2);
    for (size_t i = 0; i < n; i++)
        memcpy(s + 4 * i, "x=1;", 4);
    s[4 * n] = '\0';
    assert_int_equal(http_cookie_parse(a, s, 4 * n, 50, &l), TD_ETOOBIG);
    memset(s, ';', 4 * n);
    assert_int_equal(http_cookie_parse(a, s, 4 * n, 50, &l), TD_OK);
    assert_int_equal(l.len, 0);
    free(s);
}

static void test_format(void **state)
{
    struct buf b;
    struct http_cookie_opts o = {.max_age = -1};
    (void)state;

    buf_init(&b, 0);
    assert_int_equal(http_cookie_format(&b, "sid", "abc123", &o), TD_OK);
    assert_string_equal(b.data, "sid=abc123; Path=/");
    buf_reset(&b);
    assert_int_equal(http_cookie_format(&b, "sid", "abc", NULL), TD_OK);
    assert_string_equal(b.data, "sid=abc; Path=/");
    buf_reset(&b);

    o = (struct http_cookie_opts){.max_age = 3600, .path = "/app", .http_only = true,
                                  .secure = true, .same_site = "lax"};
    assert_int_equal(http_cookie_format(&b, "__Secure-s", "v", &o), TD_OK);
    assert_string_equal(b.data, "__Secure-s=v; Path=/app; Max-Age=3600; HttpOnly; Secure; "
                                "SameSite=Lax");
    buf_reset(&b);

    o = (struct http_cookie_opts){.max_age = 0, .same_site = "Strict"};
    assert_int_equal(http_cookie_format(&b, "gone", "", &o), TD_OK);
    assert_string_equal(b.data, "gone=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
                                "SameSite=Strict");
    buf_reset(&b);

    o = (struct http_cookie_opts){.max_age = -1, .secure = true, .same_site = "None"};
    assert_int_equal(http_cookie_format(&b, "__Host-id", "x", &o), TD_OK);
    assert_string_equal(b.data, "__Host-id=x; Path=/; Secure; SameSite=None");
    buf_free(&b);
}

static void test_format_invalid(void **state)
{
    struct buf b;
    struct http_cookie_opts o = {.max_age = -1};
    (void)state;

    buf_init(&b, 0);
    buf_appends(&b, "keep");
    assert_int_equal(http_cookie_format(&b, "", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a b", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a=b", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a;b", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a\r\n", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "v;w", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "v w", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "v,w", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "\"v\"", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "v\\", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "v\r\nSet-Cookie: x=1", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", "\xc3\xa9", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, NULL, "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "a", NULL, &o), TD_EINVAL);
    o.path = "/x;Domain=evil";
    assert_int_equal(http_cookie_format(&b, "a", "v", &o), TD_EINVAL);
    o.path = "/x\n";
    assert_int_equal(http_cookie_format(&b, "a", "v", &o), TD_EINVAL);
    o.path = "relative";
    assert_int_equal(http_cookie_format(&b, "a", "v", &o), TD_EINVAL);
    o.path = NULL;
    o.same_site = "Sometimes";
    assert_int_equal(http_cookie_format(&b, "a", "v", &o), TD_EINVAL);
    o.same_site = "None"; /* without Secure */
    assert_int_equal(http_cookie_format(&b, "a", "v", &o), TD_EINVAL);
    o.same_site = NULL;
    assert_int_equal(http_cookie_format(&b, "__Secure-a", "v", &o), TD_EINVAL);
    assert_int_equal(http_cookie_format(&b, "__Host-a", "v", &o), TD_EINVAL);
    o.secure = true;
    o.path = "/sub";
    assert_int_equal(http_cookie_format(&b, "__Host-a", "v", &o), TD_EINVAL);
    /* Nothing was appended by any of the failures. */
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    buf_free(&b);
}

static void test_format_ceiling(void **state)
{
    struct buf b;
    struct http_cookie_opts o = {.max_age = 0, .http_only = true};
    (void)state;

    buf_init(&b, 30);
    buf_appends(&b, "x");
    /* The name=value fits, the Expires does not: the buffer is restored. */
    assert_int_equal(http_cookie_format(&b, "a", "b", &o), TD_ETOOBIG);
    assert_string_equal(b.data, "x");
    assert_int_equal(b.len, 1);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_limits, setup, teardown),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_invalid),
        cmocka_unit_test(test_format_ceiling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
