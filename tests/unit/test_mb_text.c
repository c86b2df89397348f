/* SPDX-License-Identifier: MIT */
/* Unit tests for social/mb_text: checking and normalizing post text (RFC
 * 3629 UTF-8), Mastodon's length rule, its mention/hashtag/link grammars and
 * the HTML it renders statuses as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "social/mb_text.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NOLIMIT ((size_t)-1)

static int parse(const char *s, struct mb_text *t)
{
    return mb_text_parse(s, strlen(s), NOLIMIT, t);
}

/* The entities of s as "kind:source-slice=value;" for compact asserts. */
static char *ents(const char *s)
{
    struct mb_text t;
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(parse(s, &t), TD_OK);
    for (size_t i = 0; i < t.n_ents; i++) {
        const struct mb_entity *e = &t.ents[i];
        char k = e->kind == MB_ENT_MENTION ? 'm' : e->kind == MB_ENT_TAG ? 't' : 'l';

        buf_printf(&b, "%c:%.*s=%s;", k, (int)e->len, t.text + e->off, e->value);
    }
    mb_text_free(&t);
    return buf_steal(&b, NULL);
}

#define ENTS(src, want)                      \
    do {                                     \
        char *got_ = ents(src);              \
        assert_string_equal(got_, want);     \
        free(got_);                          \
    } while (0)

static size_t chars(const char *s)
{
    struct mb_text t;
    size_t n;

    assert_int_equal(parse(s, &t), TD_OK);
    n = t.chars;
    mb_text_free(&t);
    return n;
}

/* Test callbacks: accounts "alice" (local) and "bob@remote.example" exist. */
static int mention_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                       struct buf *url)
{
    (void)ctx;
    (void)t;
    if (strcmp(e->value, "alice") == 0)
        return buf_appends(url, "https://tandem.example/@alice");
    if (strcmp(e->value, "bob@remote.example") == 0)
        return buf_appends(url, "https://remote.example/@bob");
    if (strcmp(e->value, "evil") == 0)
        return buf_appends(url, "https://x.example/\"><script>");
    return TD_ENOTFOUND;
}

static int tag_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                   struct buf *url)
{
    (void)ctx;
    (void)t;
    return buf_printf(url, "https://tandem.example/tags/%s", e->value);
}

static const struct mb_text_render R = {mention_url, tag_url, NULL};

static char *html(const char *s)
{
    struct mb_text t;
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(parse(s, &t), TD_OK);
    assert_int_equal(mb_text_render_html(&t, &R, &b), TD_OK);
    assert_true(b.len <= MB_TEXT_HTML_MAX(t.len));
    mb_text_free(&t);
    return buf_steal(&b, NULL);
}

#define HTML(src, want)                      \
    do {                                     \
        char *got_ = html(src);              \
        assert_string_equal(got_, want);     \
        free(got_);                          \
    } while (0)

/* ---- validation and normalization ---- */

static void test_normalize(void **state)
{
    struct mb_text t;

    (void)state;
    assert_int_equal(parse("  a\r\nb\rc\n\n", &t), TD_OK);
    assert_string_equal(t.text, "a\nb\nc");
    assert_int_equal(t.len, 5);
    assert_null(t.error);
    mb_text_free(&t);
    assert_int_equal(parse("", &t), TD_OK);
    assert_int_equal(t.len, 0);
    assert_int_equal(t.chars, 0);
    mb_text_free(&t);
    assert_int_equal(mb_text_parse(NULL, 0, 500, &t), TD_OK);
    mb_text_free(&t);
    assert_int_equal(parse("tab\there", &t), TD_OK);
    mb_text_free(&t);
    mb_text_free(NULL);
}

static void test_reject(void **state)
{
    struct mb_text t;

    (void)state;
    assert_int_equal(mb_text_parse("a\0b", 3, 500, &t), TD_EINVAL);
    assert_string_equal(t.error, "NUL byte");
    assert_int_equal(t.error_off, 1);
    mb_text_free(&t);
    assert_int_equal(parse("bell\a", &t), TD_EINVAL);
    assert_string_equal(t.error, "control character");
    assert_int_equal(t.error_off, 4);
    mb_text_free(&t);
    assert_int_equal(parse("esc\x1b[31m", &t), TD_EINVAL);
    mb_text_free(&t);
    assert_int_equal(parse("del\x7f", &t), TD_EINVAL);
    mb_text_free(&t);
    assert_int_equal(parse("c1 \xc2\x85 next line", &t), TD_EINVAL); /* U+0085 */
    assert_string_equal(t.error, "control character");
    mb_text_free(&t);
    assert_int_equal(parse("nbsp \xc2\xa0 ok", &t), TD_OK); /* U+00A0 is not C1 */
    mb_text_free(&t);
    assert_int_equal(parse("vt\v", &t), TD_EINVAL);
    mb_text_free(&t);
}

static void test_reject_utf8(void **state)
{
    static const char *bad[] = {
        "ab\xc3",                 /* truncated */
        "\xc0\xaf",               /* overlong '/' */
        "x\xe0\x80\xaf",          /* 3-byte overlong */
        "\xf0\x80\x80\xaf",       /* 4-byte overlong */
        "\xc0\x80",               /* overlong NUL */
        "\xed\xa0\x80",           /* lone high surrogate U+D800 */
        "\xed\xbf\xbf",           /* lone low surrogate U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 pair */
        "\xf4\x90\x80\x80",       /* above U+10FFFF */
        "\x80",                   /* stray continuation */
        "\xff",
    };
    struct mb_text t;

    (void)state;
    for (size_t i = 0; i < TD_ARRAY_LEN(bad); i++) {
        assert_int_equal(parse(bad[i], &t), TD_EINVAL);
        assert_string_equal(t.error, "invalid UTF-8");
        assert_null(t.text);
        mb_text_free(&t);
    }
    assert_int_equal(parse("ok \xc3\xa9 \xc3", &t), TD_EINVAL);
    assert_int_equal(t.error_off, 6);
    mb_text_free(&t);
}

static void test_byte_cap(void **state)
{
    struct mb_text t;
    char *s = malloc(MB_TEXT_MAX_BYTES + 1);

    (void)state;
    memset(s, 'a', MB_TEXT_MAX_BYTES + 1);
    assert_int_equal(mb_text_parse(s, MB_TEXT_MAX_BYTES + 1, NOLIMIT, &t), TD_ETOOBIG);
    assert_string_equal(t.error, "text too large");
    mb_text_free(&t);
    assert_int_equal(mb_text_parse(s, MB_TEXT_MAX_BYTES, NOLIMIT, &t), TD_OK);
    assert_int_equal(t.chars, MB_TEXT_MAX_BYTES);
    mb_text_free(&t);
    free(s);
}

/* ---- counting ---- */

static void test_count(void **state)
{
    struct mb_text t;
    char s[600];

    (void)state;
    assert_int_equal(chars("hello"), 5);
    assert_int_equal(chars("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"), 3); /* 日本語 */
    assert_int_equal(chars("\xf0\x9f\x98\x80!"), 2);                    /* 😀! */
    /* 👨‍👩‍👧: three emoji and two ZWJ are five code points. */
    assert_int_equal(chars("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
                           "\xf0\x9f\x91\xa7"), 5);
    assert_int_equal(chars("a https://example.com/a/very/long/path/that/goes/on?x=1 b"),
                     2 + 2 + MB_TEXT_URL_CHARS);
    assert_int_equal(chars("http://x.io"), MB_TEXT_URL_CHARS); /* short ones too */
    assert_int_equal(chars("@bob@remote.example hi"), 4 + 3);   /* "@bob" + " hi" */
    assert_int_equal(chars("#Tag"), 4);
    assert_int_equal(chars("a\r\nb"), 3);

    memset(s, 'x', 500);
    s[500] = '\0';
    assert_int_equal(mb_text_parse(s, 500, 500, &t), TD_OK);
    mb_text_free(&t);
    assert_int_equal(mb_text_parse(s, 500, 499, &t), TD_ETOOBIG);
    assert_int_equal(t.chars, 500);
    assert_string_equal(t.error, "text too long");
    mb_text_free(&t);
    /* 600 bytes of text, but a link inside counts 23. */
    memcpy(s, "https://example.org/", 20);
    memset(s + 20, 'p', 560);
    memcpy(s + 580, " and some words", 16);
    assert_int_equal(mb_text_parse(s, strlen(s), 500, &t), TD_OK);
    assert_int_equal(t.chars, 23 + 15);
    mb_text_free(&t);
}

/* ---- entities ---- */

static void test_mentions(void **state)
{
    (void)state;
    ENTS("@alice", "m:@alice=alice;");
    ENTS("hi @Alice!", "m:@Alice=alice;");
    ENTS("cc @bob@Remote.Example.", "m:@bob@Remote.Example=bob@remote.example;");
    ENTS("@a.b-c_d@x-y.z", "m:@a.b-c_d@x-y.z=a.b-c_d@x-y.z;");
    ENTS("end with @alice.", "m:@alice=alice;");
    ENTS("(@alice)", "m:@alice=alice;");
    ENTS("email@example.com", "");
    ENTS("a=@alice /@alice", "");
    ENTS("@alice@", "");
    ENTS("@jos\xc3\xa9", ""); /* cut short by a Latin accent */
    ENTS("@alice://x", "");
    ENTS("@ alone @", "");
    ENTS("@@alice", "m:@alice=alice;"); /* the second '@' follows a non-word character */
    ENTS("\xe6\x97\xa5@alice", ""); /* after a CJK letter (a word character) */
    ENTS("@alice@\xe4\xbe\x8b.jp", "m:@alice@\xe4\xbe\x8b.jp=alice@\xe4\xbe\x8b.jp;");
}

static void test_mention_user_len(void **state)
{
    struct mb_text t;

    (void)state;
    assert_int_equal(parse("@bob@remote.example", &t), TD_OK);
    assert_int_equal(t.n_mentions, 1);
    assert_int_equal(t.ents[0].user_len, 3);
    assert_int_equal(t.ents[0].value_len, 18);
    mb_text_free(&t);
}

static void test_tags(void **state)
{
    (void)state;
    ENTS("#Hello world", "t:#Hello=hello;");
    ENTS("go #caf\xc3\xa9!", "t:#caf\xc3\xa9=caf\xc3\xa9;");
    ENTS("#\xe6\x97\xa5\xe6\x9c\xac", "t:#\xe6\x97\xa5\xe6\x9c\xac=\xe6\x97\xa5\xe6\x9c\xac;");
    ENTS("#123", "");
    ENTS("#123abc", "t:#123abc=123abc;");
    ENTS("#1_2", "t:#1_2=1_2;");
    ENTS("C# and F#", "");
    ENTS("a/#b x)#c", "");
    ENTS("(#paren)", "t:#paren=paren;");
    ENTS("#a#b", "t:#a=a;");
    ENTS("#tag.", "t:#tag=tag;");
    ENTS("#one_two", "t:#one_two=one_two;");
    ENTS("#a\xc2\xb7" "b", "t:#a\xc2\xb7" "b=a\xc2\xb7" "b;"); /* middle dot joins */
    ENTS("#ab\xc2\xb7", "t:#ab=ab;");                             /* but not at the end */
    ENTS("#\xef\xbc\xb4\xef\xbd\x85\xef\xbd\x93\xef\xbd\x94",     /* full-width Ｔｅｓｔ */
         "t:#\xef\xbc\xb4\xef\xbd\x85\xef\xbd\x93\xef\xbd\x94=test;");
    /* The link is glued to a letter, so it is no link (twitter-text's preceding
     * characters), but the tag still stops before its scheme. */
    ENTS("#foohttps://example.com", "t:#foo=foo;");
    ENTS("#https://example.com", "t:#https=https;");
    ENTS("# space", "");
}

/* The one entity of src is the link url. */
#define LINK(src, url) ENTS(src, "l:" url "=" url ";")

static void test_links(void **state)
{
    (void)state;
    LINK("see https://example.com.", "https://example.com");
    LINK("(see https://example.com/a).", "https://example.com/a");
    LINK("https://example.com/a?b=1&c=2!", "https://example.com/a?b=1&c=2");
    LINK("really? http://example.org/path?", "http://example.org/path");
    LINK("https://en.wikipedia.org/wiki/Primer_(film)",
         "https://en.wikipedia.org/wiki/Primer_(film)");
    LINK("(https://en.wikipedia.org/wiki/Primer_(film)).",
         "https://en.wikipedia.org/wiki/Primer_(film)");
    LINK("https://x.com/a_(b_(c))_d ok", "https://x.com/a_(b_(c))_d");
    LINK("https://x.com/a_(b_(c_(d)))", "https://x.com/a_"); /* 3 levels */
    LINK("HTTPS://Example.COM:8443/x#frag", "HTTPS://Example.COM:8443/x#frag");
    LINK("https://example.com/@alice/1", "https://example.com/@alice/1");
    LINK("https://example.com/#tag", "https://example.com/#tag");
    LINK("https://ex.com/?q=#tag", "https://ex.com/?q=#tag");
    LINK("https://\xe4\xbe\x8b\xe3\x81\x88.jp/\xe3\x83\x91\xe3\x82\xb9",
         "https://\xe4\xbe\x8b\xe3\x81\x88.jp/\xe3\x83\x91\xe3\x82\xb9");
    LINK("https://xn--e1afmkfd.xn--p1ai/", "https://xn--e1afmkfd.xn--p1ai/");
    ENTS("http://localhost/ http://127.0.0.1/ http:// https://.com ftp://x.org", "");
    ENTS("xhttps://example.com @https://example.com", "");
    ENTS("https://-bad.com https://a..b.com https://example.c", "");
    LINK("https://example.com/\"quoted\"", "https://example.com/\"quoted");
}

static void test_mixed(void **state)
{
    struct mb_text t;

    (void)state;
    ENTS("@alice look #FOSS https://example.com/x, @bob@remote.example!",
         "m:@alice=alice;t:#FOSS=foss;l:https://example.com/x=https://example.com/x;"
         "m:@bob@remote.example=bob@remote.example;");
    assert_int_equal(parse("@a #b https://c.de @d", &t), TD_OK);
    assert_int_equal(t.n_mentions, 2);
    assert_int_equal(t.n_tags, 1);
    assert_int_equal(t.n_links, 1);
    assert_int_equal(t.n_ents, 4);
    mb_text_free(&t);
}

static void test_entity_caps(void **state)
{
    struct buf b;
    struct mb_text t;

    (void)state;
    buf_init(&b, 0);
    for (int i = 0; i < 70; i++)
        buf_printf(&b, "@u%d #t%d https://e%d.com ", i, i, i);
    assert_int_equal(mb_text_parse(b.data, b.len, NOLIMIT, &t), TD_OK);
    assert_int_equal(t.n_mentions, MB_TEXT_MAX_MENTIONS);
    assert_int_equal(t.n_tags, MB_TEXT_MAX_TAGS);
    assert_int_equal(t.n_links, MB_TEXT_MAX_LINKS);
    assert_int_equal(t.n_ents, MB_TEXT_MAX_ENTITIES);
    /* The links past the cap are plain text and count in full. */
    assert_true(t.chars > 64 * 23);
    mb_text_free(&t);
    buf_free(&b);
}

static void test_hostile(void **state)
{
    static const char *units[] = {"@", "#", "http://", "https://a.b/(", "@a@", "#a\xc2\xb7",
                                  "(", "https://a.co/((x)", "\n", "&"};
    size_t n = MB_TEXT_MAX_BYTES;
    char *s = malloc(n);

    (void)state;
    for (size_t u = 0; u < TD_ARRAY_LEN(units); u++) {
        size_t ul = strlen(units[u]), len = n - n % ul;
        struct mb_text t;
        struct buf out;

        for (size_t i = 0; i < len; i += ul)
            memcpy(s + i, units[u], ul);
        assert_int_equal(mb_text_parse(s, len, NOLIMIT, &t), TD_OK);
        buf_init(&out, MB_TEXT_HTML_MAX(t.len));
        assert_int_equal(mb_text_render_html(&t, &R, &out), TD_OK);
        assert_true(t.n_ents <= MB_TEXT_MAX_ENTITIES);
        buf_free(&out);
        mb_text_free(&t);
    }
    free(s);
}

/* ---- rendering ---- */

static void test_html_basic(void **state)
{
    (void)state;
    HTML("", "");
    HTML("hello", "<p>hello</p>");
    HTML("a\nb\n\nc\n\n\n\nd", "<p>a<br />b</p><p>c</p><p>d</p>");
    HTML("<script>alert('x')&\"</script>",
         "<p>&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;</p>");
}

static void test_html_entities(void **state)
{
    (void)state;
    HTML("hi @alice",
         "<p>hi <span class=\"h-card\" translate=\"no\"><a href=\"https://tandem.example/@alice\" "
         "class=\"u-url mention\">@<span>alice</span></a></span></p>");
    HTML("@bob@remote.example",
         "<p><span class=\"h-card\" translate=\"no\"><a href=\"https://remote.example/@bob\" "
         "class=\"u-url mention\">@<span>bob</span></a></span></p>");
    HTML("@nobody here", "<p>@nobody here</p>"); /* unknown: plain text */
    HTML("#Tandem",
         "<p><a href=\"https://tandem.example/tags/tandem\" class=\"mention hashtag\" "
         "rel=\"tag\">#<span>Tandem</span></a></p>");
    HTML("https://example.com",
         "<p><a href=\"https://example.com\" target=\"_blank\" "
         "rel=\"nofollow noopener noreferrer\" "
         "translate=\"no\"><span class=\"invisible\">https://</span><span class=\"\">example.com"
         "</span><span class=\"invisible\"></span></a></p>");
    HTML("http://www.example.com/0123456789012345678901234567890123456789",
         "<p><a href=\"http://www.example.com/0123456789012345678901234567890123456789\" "
         "target=\"_blank\" rel=\"nofollow noopener noreferrer\" translate=\"no\"><span "
         "class=\"invisible\">http://www.</span><span class=\"ellipsis\">example.com/"
         "012345678901234567</span><span class=\"invisible\">8901234567890123456789</span>"
         "</a></p>");
}

static void test_html_escaping(void **state)
{
    char *h;

    (void)state;
    /* '<' ends a path and is not a query character: it stays text. */
    HTML("https://x.com/?q=<script>",
         "<p><a href=\"https://x.com/?q=\" target=\"_blank\" rel=\"nofollow noopener noreferrer\" "
         "translate=\"no\"><span class=\"invisible\">https://</span><span class=\"\">x.com/?q="
         "</span><span class=\"invisible\"></span></a>&lt;script&gt;</p>");
    /* Quotes inside a link are escaped in the attribute and in the text. */
    h = html("https://x.com/a\"onmouseover=\"alert(1)'b");
    assert_non_null(strstr(h, "href=\"https://x.com/a&quot;onmouseover=&quot;alert"));
    assert_null(strstr(h, "\"onmouseover"));
    assert_null(strstr(h, "'"));
    free(h);
    /* A hostile URL from the callback is escaped too. */
    h = html("@evil");
    assert_non_null(strstr(h, "href=\"https://x.example/&quot;&gt;&lt;script&gt;\""));
    assert_null(strstr(h, "<script>"));
    free(h);
    /* Multi-byte characters are never cut in the shortened text. */
    h = html("https://example.com/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
             "\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_non_null(strstr(h, "<span class=\"ellipsis\">example.com/\xc3\xa9\xc3\xa9"));
    assert_non_null(strstr(h, "\xc3\xa9</span><span class=\"invisible\">\xc3\xa9"));
    free(h);
}

static int fail_cb(void *ctx, const struct mb_text *t, const struct mb_entity *e, struct buf *url)
{
    (void)ctx;
    (void)t;
    (void)e;
    (void)url;
    return TD_EIO;
}

static int long_cb(void *ctx, const struct mb_text *t, const struct mb_entity *e, struct buf *url)
{
    (void)ctx;
    (void)t;
    (void)e;
    for (int i = 0; i < MB_TEXT_CB_URL_MAX; i++) {
        int rc = buf_putc(url, '"');

        if (rc != TD_OK)
            return rc;
    }
    return TD_OK;
}

static void test_html_callbacks(void **state)
{
    struct mb_text t;
    struct buf b;
    struct mb_text_render none = {NULL, NULL, NULL};
    struct mb_text_render failing = {fail_cb, fail_cb, NULL};
    struct mb_text_render longest = {long_cb, long_cb, NULL};

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(parse("@alice #tag", &t), TD_OK);
    assert_int_equal(mb_text_render_html(&t, &none, &b), TD_OK);
    assert_string_equal(b.data, "<p>@alice #tag</p>");
    buf_reset(&b);
    assert_int_equal(mb_text_render_html(&t, NULL, &b), TD_OK);
    assert_string_equal(b.data, "<p>@alice #tag</p>");
    buf_reset(&b);
    assert_int_equal(mb_text_render_html(&t, &failing, &b), TD_EIO);
    buf_reset(&b);
    /* The largest callback URLs still fit the documented bound. */
    assert_int_equal(mb_text_render_html(&t, &longest, &b), TD_OK);
    assert_true(b.len <= MB_TEXT_HTML_MAX(t.len));
    buf_free(&b);
    /* A ceiling too small for the output gives TD_ETOOBIG, not a crash. */
    buf_init(&b, 10);
    assert_int_equal(mb_text_render_html(&t, &R, &b), TD_ETOOBIG);
    buf_free(&b);
    mb_text_free(&t);
}

static void test_plain(void **state)
{
    struct mb_text t;
    struct buf b;
    const char *src =
        "  Hi @bob@remote.example <b> https://example.com/very/long/path/indeed/yes\r\n";

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(parse(src, &t), TD_OK);
    assert_int_equal(mb_text_render_plain(&t, &b), TD_OK);
    assert_string_equal(b.data,
                        "Hi @bob@remote.example <b> https://example.com/very/long/path/indeed/yes");
    buf_free(&b);
    mb_text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_reject_utf8),
        cmocka_unit_test(test_byte_cap),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_mentions),
        cmocka_unit_test(test_mention_user_len),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_entity_caps),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_html_basic),
        cmocka_unit_test(test_html_entities),
        cmocka_unit_test(test_html_escaping),
        cmocka_unit_test(test_html_callbacks),
        cmocka_unit_test(test_plain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
