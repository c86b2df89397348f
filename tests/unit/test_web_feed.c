/* SPDX-License-Identifier: MIT */
/* Unit tests for the Atom feeds' XML text escaping (web_feed_xml_text):
 * the five special characters, what XML 1.0 §2.2 forbids, malformed UTF-8.
 * The feeds themselves are tested end to end in tests/interop/test_feeds.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/utf8.h"
#include "web/web.h"

#include <string.h>

/* Escape the literal and compare with want. */
static void check(const char *in, size_t n, const char *want)
{
    struct buf b;

    buf_init(&b, 0);
    web_feed_xml_text(&b, in, n);
    assert_string_equal(b.data ? b.data : "", want);
    assert_true(utf8_valid(b.data ? b.data : "", b.len));
    buf_free(&b);
}

#define CHECK(lit, want) check(lit, sizeof(lit) - 1, want)

static void test_specials(void **state)
{
    (void)state;
    CHECK("", "");
    CHECK("plain text", "plain text");
    CHECK("<b>&\"'</b>", "&lt;b&gt;&amp;&quot;&apos;&lt;/b&gt;");
    CHECK("&amp;", "&amp;amp;"); /* already escaped HTML is escaped once more */
    CHECK("]]>", "]]&gt;");
}

static void test_controls(void **state)
{
    (void)state;
    CHECK("a\tb\nc\rd", "a\tb\nc\rd"); /* allowed whitespace */
    CHECK("a\x01\x08\x0b\x0c\x1f"
          "b",
          "ab");                           /* other C0 controls go */
    check("a\0b", 3, "ab");                /* NUL too */
    CHECK("x\x7fy", "x\x7fy");             /* DEL is a Char in XML 1.0 */
    CHECK("\xef\xbf\xbe\xef\xbf\xbf", ""); /* U+FFFE, U+FFFF */
    CHECK("\xef\xbf\xbd", "\xef\xbf\xbd"); /* U+FFFD stays */
}

static void test_utf8(void **state)
{
    (void)state;
    CHECK("caf\xc3\xa9 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x98\x80");
    CHECK("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd");   /* overlong: each byte replaced */
    CHECK("a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd"); /* truncated at the end */
    CHECK("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    CHECK("\xff<", "\xef\xbf\xbd&lt;");
    CHECK("\x80"
          "a",
          "\xef\xbf\xbd"
          "a"); /* stray continuation byte */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
