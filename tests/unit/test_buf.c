/* SPDX-License-Identifier: MIT */
/* Unit tests for core/buf: ceilings, printf, HTML escaping, consume, steal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

static void test_append_and_ceiling(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "abcd", 4), TD_OK);
    assert_int_equal(buf_appends(&b, "efgh"), TD_OK);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "abcdefgh");
    /* One more byte passes the ceiling and leaves the buffer unchanged. */
    assert_int_equal(buf_putc(&b, 'x'), TD_ETOOBIG);
    assert_int_equal(b.len, 8);
    assert_int_equal(buf_printf(&b, "%d", 1), TD_ETOOBIG);
    assert_string_equal(b.data, "abcdefgh");
    buf_free(&b);
    buf_free(NULL);
}

static void test_printf_grows(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_printf(&b, "%04d,", i), TD_OK);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(b.data + 4995, "0999,", 5);
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void test_html_escape(void **state)
{
    struct buf b;
    const char *s = "<a href=\"x\">Tom & 'Jerry'</a>";
    (void)state;
    buf_init(&b, 0);
    assert_int_equal(buf_append_html(&b, s, strlen(s)), TD_OK);
    assert_string_equal(b.data,
                        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    buf_free(&b);
}

static void test_consume_and_steal(void **state)
{
    struct buf b;
    size_t len;
    char *p;
    (void)state;
    buf_init(&b, 0);
    buf_appends(&b, "hello world");
    buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    buf_appends(&b, "again");
    p = buf_steal(&b, &len);
    assert_int_equal(len, 5);
    assert_string_equal(p, "again");
    assert_null(b.data);
    free(p);
    p = buf_steal(&b, &len); /* empty buffer gives an empty string */
    assert_string_equal(p, "");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_ceiling),
        cmocka_unit_test(test_printf_grows),
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_consume_and_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
