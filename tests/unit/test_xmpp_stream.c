/* SPDX-License-Identifier: MIT */
/* Unit tests for src/xmpp/xmpp_stream.c: a client stream (RFC 6120 §4.2-4.4)
 * fed whole, byte by byte and pipelined; namespaces and xml:lang; entities
 * and CJK text; every error class the parser reports (§4.9.3, §11: DTD and
 * entity bombs, comments, PIs, unbound prefixes, wrong namespaces, limits,
 * encodings); close, stop and reset (§4.3.3 restart); RFC 7395 framing. A
 * recorder turns the callbacks into one event log string per test. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_KEPT 16

struct rec {
    struct xmpp_stream *s;
    struct buf log; /* "open(to,version,lang,id) <stanza/> close error(cond)" */
    int opens, stanzas, closes, errors;
    enum xmpp_stream_error cond;
    struct xmpp_el *kept[MAX_KEPT]; /* the first stanzas, with their arenas */
    struct arena *kept_a[MAX_KEPT];
    bool stop_on_stanza;
};

static void r_open(void *ud, const struct xmpp_el *h)
{
    struct rec *r = ud;
    const char *to = xmpp_el_attr(h, "to"), *ver = xmpp_el_attr(h, "version");
    const char *lang = xmpp_el_attr_ns(h, XMPP_NS_XML, "lang");

    r->opens++;
    buf_printf(&r->log, "open(%s:%s,%s,%s,%s) ", h->ns, h->name, to ? to : "-", ver ? ver : "-",
               lang ? lang : "-");
}

static void r_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct rec *r = ud;

    TD_ASSERT(xmpp_el_serialize(el, XMPP_NS_CLIENT, &r->log) == TD_OK);
    buf_putc(&r->log, ' ');
    if (r->stanzas < MAX_KEPT) {
        r->kept[r->stanzas] = el;
        r->kept_a[r->stanzas] = a;
    } else {
        arena_free(a);
    }
    r->stanzas++;
    if (r->stop_on_stanza)
        xmpp_stream_stop(r->s);
}

static void r_close(void *ud)
{
    struct rec *r = ud;

    r->closes++;
    buf_appends(&r->log, "close ");
}

static void r_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    struct rec *r = ud;

    assert_non_null(text);
    r->errors++;
    r->cond = cond;
    buf_printf(&r->log, "error(%s) ", xmpp_stream_error_name(cond));
}

static const struct xmpp_stream_cbs rec_cbs = {r_open, r_stanza, r_close, r_error};

static void rec_init(struct rec *r, const struct xmpp_stream_limits *lim)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->log, 0);
    r->s = xmpp_stream_new(lim, &rec_cbs, r);
}

static void rec_clear_log(struct rec *r)
{
    buf_reset(&r->log);
}

static void rec_free(struct rec *r)
{
    for (int i = 0; i < r->stanzas && i < MAX_KEPT; i++)
        arena_free(r->kept_a[i]);
    xmpp_stream_free(r->s);
    buf_free(&r->log);
}

static int feed(struct rec *r, const char *s)
{
    return xmpp_stream_feed(r->s, s, strlen(s));
}

static int feed_bytewise(struct rec *r, const char *s)
{
    int rc = TD_OK;

    for (size_t i = 0; s[i] != '\0' && rc == TD_OK; i++)
        rc = xmpp_stream_feed(r->s, s + i, 1);
    return rc;
}

#define HEADER                                                                                     \
    "<?xml version='1.0'?><stream:stream from='juliet@im.example.com' to='im.example.com' "        \
    "version='1.0' xml:lang='en' xmlns='jabber:client' "                                           \
    "xmlns:stream='http://etherx.jabber.org/streams'>"
#define HEADER_LOG "open(http://etherx.jabber.org/streams:stream,im.example.com,1.0,en) "

/* An RFC 6120 §9 style client session, after TLS and SASL. */
static const char full_stream[] =
    HEADER "\n"
           "<iq id='tn281v37' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>balcony</resource></bind></iq> "
           "<message from='juliet@im.example.com/balcony' id='ju2ba41c' to='romeo@example.net' "
           "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message>"
           "<presence/>\r\n\t"
           "</stream:stream>";
static const char full_log[] = HEADER_LOG
    "<iq id='tn281v37' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<resource>balcony</resource></bind></iq> "
    "<message from='juliet@im.example.com/balcony' id='ju2ba41c' to='romeo@example.net' "
    "type='chat' xml:lang='en'><body>Art thou not Romeo, and a Montague?</body></message> "
    "<presence/> close ";

static void test_full_stream(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, full_stream), TD_ECLOSED);
    assert_string_equal(r.log.data, full_log);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.stanzas, 3);
    assert_int_equal(r.closes, 1);
    assert_int_equal(r.errors, 0);
    /* The stanza tree itself. */
    assert_string_equal(r.kept[0]->name, "iq");
    assert_string_equal(r.kept[0]->ns, XMPP_NS_CLIENT);
    assert_string_equal(xmpp_el_attr(r.kept[0], "type"), "set");
    {
        struct xmpp_el *bind = xmpp_el_child(r.kept[0], "bind", "urn:ietf:params:xml:ns:xmpp-bind");

        assert_non_null(bind);
        assert_string_equal(xmpp_el_child_text(r.kept_a[0], bind, "resource", NULL), "balcony");
        /* The unprefixed child inherits bind's default namespace. */
        assert_string_equal(xmpp_el_child(bind, "resource", NULL)->ns,
                            "urn:ietf:params:xml:ns:xmpp-bind");
    }
    /* After the close, input is ignored. */
    assert_int_equal(feed(&r, "<message/>"), TD_ECLOSED);
    assert_int_equal(r.stanzas, 3);
    rec_free(&r);
}

static void test_bytewise(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed_bytewise(&r, full_stream), TD_ECLOSED);
    assert_string_equal(r.log.data, full_log);
    rec_free(&r);
}

static void test_pipelined_and_order(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, HEADER "<message id='1'/><message id='2'>x</message> "
                                     "<message id='3'><body>y</body></message><iq id='4"),
                     TD_OK);
    assert_string_equal(r.log.data, HEADER_LOG "<message id='1'/> <message id='2'>x</message> "
                                               "<message id='3'><body>y</body></message> ");
    rec_clear_log(&r);
    assert_int_equal(feed(&r, "'/>"), TD_OK);
    assert_string_equal(r.log.data, "<iq id='4'/> ");
    rec_free(&r);
}

static void test_namespaces(void **state)
{
    struct rec r;
    struct xmpp_el *m, *x, *bar, *body;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, HEADER "<message xml:lang='fr'><x:foo xmlns:x='urn:x' x:a='1' b='2'>"
                                     "<bar/><x:baz/></x:foo><body xmlns='urn:other'/>"
                                     "<c:body xmlns:c='jabber:client'>hi</c:body></message>"),
                     TD_OK);
    assert_int_equal(r.stanzas, 1);
    m = r.kept[0];
    assert_string_equal(xmpp_el_attr_ns(m, XMPP_NS_XML, "lang"), "fr");
    assert_null(xmpp_el_attr(m, "lang")); /* xml:lang is not a plain attribute */
    x = xmpp_el_child(m, "foo", "urn:x");
    assert_non_null(x);
    assert_string_equal(xmpp_el_attr_ns(x, "urn:x", "a"), "1");
    assert_null(xmpp_el_attr(x, "a"));
    assert_string_equal(xmpp_el_attr(x, "b"), "2");
    bar = xmpp_el_child(x, "bar", NULL);
    assert_string_equal(bar->ns, XMPP_NS_CLIENT); /* prefixed parent: default unchanged */
    assert_non_null(xmpp_el_child(x, "baz", "urn:x"));
    body = xmpp_el_child(m, "body", NULL);
    assert_string_equal(body->ns, "urn:other");
    body = xmpp_el_next(body, "body", NULL);
    assert_non_null(body);
    assert_string_equal(body->ns, XMPP_NS_CLIENT);
    assert_null(xmpp_el_next(body, "body", NULL));
    rec_free(&r);
}

static void test_entities_and_cjk(void **state)
{
    struct rec r;
    size_t len;
    const char *t;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, HEADER "<message to='a&amp;b&apos;c'><body>a &amp; b &lt; c "
                                     "&#x4E2D;&#25991; \xe4\xb8\xad\xe6\x96\x87 &gt;&quot;"
                                     "<![CDATA[<raw>&]]></body></message>"),
                     TD_OK);
    assert_int_equal(r.stanzas, 1);
    assert_string_equal(xmpp_el_attr(r.kept[0], "to"), "a&b'c");
    t = xmpp_el_text(r.kept_a[0], xmpp_el_child(r.kept[0], "body", NULL), &len);
    assert_string_equal(t, "a & b < c \xe4\xb8\xad\xe6\x96\x87 \xe4\xb8\xad\xe6\x96\x87 >\"<raw>&");
    assert_int_equal(len, strlen(t));
    rec_free(&r);
}

static void test_whitespace_keepalive(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, HEADER), TD_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(feed(&r, " \n"), TD_OK);
    /* More whitespace than max_tag_bytes, a byte at a time: still fine. */
    for (int i = 0; i < 20000; i++)
        assert_int_equal(feed(&r, " "), TD_OK);
    assert_int_equal(feed(&r, "<presence/>"), TD_OK);
    assert_int_equal(r.stanzas, 1);
    assert_int_equal(r.errors, 0);
    rec_free(&r);
}

/* Feed a stream prologue plus bad, expect exactly one error cond and no
 * stanza made of the bad part. */
static void expect_error(const struct xmpp_stream_limits *lim, const char *input,
                         enum xmpp_stream_error cond)
{
    struct rec r;

    rec_init(&r, lim);
    assert_int_equal(feed(&r, input), TD_EPROTO);
    assert_int_equal(r.errors, 1);
    if (r.cond != cond)
        fail_msg("input %s: got %s, want %s", input, xmpp_stream_error_name(r.cond),
                 xmpp_stream_error_name(cond));
    /* Further input is ignored until reset. */
    assert_int_equal(feed(&r, "<presence/>"), TD_EPROTO);
    assert_int_equal(r.errors, 1);
    rec_free(&r);
}

static void test_restricted_xml(void **state)
{
    (void)state;
    /* Billion laughs: refused at the DOCTYPE, nothing is expanded. */
    expect_error(NULL,
                 "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
                 "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
                 "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
                 "<stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams'>&lol3;",
                 XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, "<!DOCTYPE x SYSTEM 'http://evil/x.dtd'>", XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, HEADER "<message><!-- hi --></message>", XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, HEADER "<!-- between stanzas -->", XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, "<!-- before -->" HEADER, XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, HEADER "<message><?php evil()?></message>", XMPP_STREAM_ERR_RESTRICTED_XML);
    expect_error(NULL, HEADER "<message>&lol;</message>", XMPP_STREAM_ERR_RESTRICTED_XML);
}

static void test_not_well_formed(void **state)
{
    (void)state;
    expect_error(NULL, HEADER "<message><x:y/></message>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message a:b='1'/>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message></iq>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message a='1' a='2'/>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message><body>\x01</body></message>",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message>&#0;</message>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    /* Bytes that are not UTF-8 (Latin-1 e-acute, overlong '/', surrogate). */
    expect_error(NULL, HEADER "<message><body>caf\xe9</body></message>",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message><body>\xc0\xaf</body></message>",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message><body>\xed\xa0\x80</body></message>",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    /* The root ends only with </stream:stream>; a second XML declaration is junk. */
    expect_error(NULL, HEADER "<?xml version='1.0'?>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
    expect_error(NULL, HEADER "<message xmlns:xml='urn:bad'/>", XMPP_STREAM_ERR_NOT_WELL_FORMED);
}

static void test_encoding(void **state)
{
    (void)state;
    expect_error(NULL,
                 "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams'>",
                 XMPP_STREAM_ERR_UNSUPPORTED_ENCODING);
    expect_error(NULL, "<?xml version='1.0' encoding='UTF-16'?>",
                 XMPP_STREAM_ERR_UNSUPPORTED_ENCODING);

    /* encoding='utf-8' (any case) is fine. */
    struct rec r;

    rec_init(&r, NULL);
    assert_int_equal(feed(&r, "<?xml version='1.0' encoding='utf-8'?><stream:stream "
                              "xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>"),
                     TD_OK);
    assert_int_equal(r.opens, 1);
    rec_free(&r);
}

static void test_namespace_errors(void **state)
{
    struct xmpp_stream_limits s2s = {.content_ns = XMPP_NS_SERVER};

    (void)state;
    expect_error(NULL, "<stream:stream xmlns='jabber:client' xmlns:stream='http://wrong/streams'>",
                 XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(NULL, "<stream xmlns='jabber:client'>", XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(NULL,
                 "<stream:stream xmlns='jabber:server' "
                 "xmlns:stream='http://etherx.jabber.org/streams'>",
                 XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(NULL, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
                 XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(NULL, "<stream xmlns='http://etherx.jabber.org/streams'>",
                 XMPP_STREAM_ERR_BAD_NAMESPACE_PREFIX);
    expect_error(NULL,
                 "<stream:features xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams'>",
                 XMPP_STREAM_ERR_BAD_FORMAT);
    expect_error(&s2s, HEADER, XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(NULL, HEADER "hello", XMPP_STREAM_ERR_BAD_FORMAT);

    /* A server-to-server stream with its own content namespace. */
    struct rec r;

    rec_init(&r, &s2s);
    assert_int_equal(feed(&r, "<stream:stream xmlns='jabber:server' "
                              "xmlns:stream='http://etherx.jabber.org/streams' "
                              "xmlns:db='jabber:server:dialback' to='b.example'>"
                              "<db:result from='a.example' to='b.example'>abc</db:result>"),
                     TD_OK);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.stanzas, 1);
    assert_string_equal(r.kept[0]->ns, "jabber:server:dialback");
    rec_free(&r);
}

static void test_limit_depth_attrs_names(void **state)
{
    /* The header has 4 attributes, a 36-byte namespace (xml:) and a 21-byte value:
     * all at the limits. */
    struct xmpp_stream_limits lim = {
        .max_depth = 3, .max_attrs = 4, .max_name_bytes = 36, .max_attr_bytes = 21};
    struct rec r;

    (void)state;
    /* Depth 3 is allowed, 4 is not. */
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<a><b><c/></b></a>"), TD_OK);
    assert_int_equal(r.stanzas, 1);
    rec_free(&r);
    expect_error(&lim, HEADER "<a><b><c><d/></c></b></a>", XMPP_STREAM_ERR_POLICY_VIOLATION);
    /* Attributes. */
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<a w='1' x='2' y='3' z='123456789012345678901'/>"), TD_OK);
    assert_int_equal(r.stanzas, 1);
    rec_free(&r);
    expect_error(&lim, HEADER "<a v='0' w='1' x='2' y='3' z='4'/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim, HEADER "<a xmlns:p='1' xmlns:q='2' xmlns:r='3' xmlns:s='4' xmlns:t='5'/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim, HEADER "<a x='1234567890123456789012'/>", XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim,
                 HEADER "<a x='&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;"
                        "&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;'/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim, HEADER "<abcdefghijklmnopqrstuvwxyz0123456789a/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim, HEADER "<a abcdefghijklmnopqrstuvwxyz0123456789a='1'/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
    expect_error(&lim, HEADER "<a xmlns='urn:abcdefghijklmnopqrstuvwxyz0123456'/>",
                 XMPP_STREAM_ERR_POLICY_VIOLATION);
}

/* A stanza bigger than max_stanza_bytes is refused once the limit is passed,
 * long before the rest is fed. */
static void test_limit_stanza_size(void **state)
{
    struct xmpp_stream_limits lim = {.max_stanza_bytes = 64 * 1024};
    char chunk[1024];
    struct rec r;
    size_t fed = 0;
    int rc = TD_OK;

    (void)state;
    memset(chunk, 'a', sizeof(chunk));
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<message><body>"), TD_OK);
    while (rc == TD_OK && fed < 4 * 1024 * 1024) {
        rc = xmpp_stream_feed(r.s, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, TD_EPROTO);
    assert_int_equal(r.cond, XMPP_STREAM_ERR_POLICY_VIOLATION);
    assert_true(fed <= 64 * 1024 + 2 * sizeof(chunk));
    rec_free(&r);

    /* A stanza of exactly the limit passes. */
    lim.max_stanza_bytes = 40;
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<message><body>12345</body></message>"), TD_OK); /* 37 */
    assert_int_equal(feed(&r, "<message><body>12345678</body></message>"), TD_OK);     /* 40 */
    assert_int_equal(r.stanzas, 2);
    assert_int_equal(feed(&r, "<message><body>123456789</body></message>"), TD_EPROTO);
    assert_int_equal(r.cond, XMPP_STREAM_ERR_POLICY_VIOLATION);
    rec_free(&r);
}

/* An unfinished start tag (a huge attribute value) is refused at max_tag_bytes. */
static void test_limit_tag_size(void **state)
{
    struct xmpp_stream_limits lim = {
        .max_tag_bytes = 8 * 1024, .max_attr_bytes = 1 << 20, .max_stanza_bytes = 1 << 22};
    char chunk[512];
    struct rec r;
    size_t fed = 0;
    int rc = TD_OK;

    (void)state;
    memset(chunk, 'v', sizeof(chunk));
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<message to='"), TD_OK);
    while (rc == TD_OK && fed < 1024 * 1024) {
        rc = xmpp_stream_feed(r.s, chunk, sizeof(chunk));
        fed += sizeof(chunk);
    }
    assert_int_equal(rc, TD_EPROTO);
    assert_int_equal(r.cond, XMPP_STREAM_ERR_POLICY_VIOLATION);
    assert_true(fed <= 8 * 1024 + sizeof(chunk));
    rec_free(&r);

    /* Also before the header: an endless XML declaration. */
    rec_init(&r, &lim);
    rc = feed(&r, "<?xml version='1.0' ");
    for (fed = 0; rc == TD_OK && fed < 1024 * 1024; fed += 1) {
        rc = xmpp_stream_feed(r.s, " ", 1);
    }
    assert_int_equal(rc, TD_EPROTO);
    assert_int_equal(r.cond, XMPP_STREAM_ERR_POLICY_VIOLATION);
    rec_free(&r);
}

static void test_limit_text(void **state)
{
    struct xmpp_stream_limits lim = {.max_text_bytes = 10};
    struct rec r;

    (void)state;
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, HEADER "<m><a>12345</a><b>12345</b></m>"), TD_OK);
    assert_int_equal(r.stanzas, 1);
    /* The count is per stanza. */
    assert_int_equal(feed(&r, "<m>1234567890</m>"), TD_OK);
    assert_int_equal(r.stanzas, 2);
    assert_int_equal(feed(&r, "<m><a>12345</a><b>123456</b></m>"), TD_EPROTO);
    assert_int_equal(r.cond, XMPP_STREAM_ERR_POLICY_VIOLATION);
    rec_free(&r);
}

static void test_reset_restart(void **state)
{
    struct rec r;

    (void)state;
    rec_init(&r, NULL);
    r.stop_on_stanza = true;
    /* <starttls/> with a pipelined stanza behind it (command injection): the
     * session stops the parser in on_stanza, the rest is discarded. */
    assert_int_equal(feed(&r, HEADER "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
                                     "<message to='injected'/>"),
                     TD_ECLOSED);
    assert_int_equal(r.stanzas, 1);
    assert_string_equal(r.kept[0]->name, "starttls");
    assert_int_equal(feed(&r, "<message/>"), TD_ECLOSED);
    assert_int_equal(r.stanzas, 1);

    /* After the TLS handshake: a fresh document, with its own XML declaration. */
    xmpp_stream_reset(r.s);
    r.stop_on_stanza = false;
    rec_clear_log(&r);
    assert_int_equal(feed(&r, HEADER "<presence/>"), TD_OK);
    assert_string_equal(r.log.data, HEADER_LOG "<presence/> ");
    assert_int_equal(r.opens, 2);

    /* Reset in the middle of a stanza drops it and clears errors too. */
    assert_int_equal(feed(&r, "<message><body>half"), TD_OK);
    xmpp_stream_reset(r.s);
    assert_int_equal(feed(&r, "<junk"), TD_OK);
    assert_int_equal(feed(&r, "/>"), TD_EPROTO);
    xmpp_stream_reset(r.s);
    rec_clear_log(&r);
    assert_int_equal(feed(&r, HEADER "</stream:stream>"), TD_ECLOSED);
    assert_string_equal(r.log.data, HEADER_LOG "close ");
    xmpp_stream_reset(r.s);
    assert_int_equal(feed(&r, HEADER), TD_OK);
    assert_int_equal(r.opens, 4);
    rec_free(&r);
}

static void test_no_callbacks(void **state)
{
    struct xmpp_stream *s = xmpp_stream_new(NULL, NULL, NULL);
    const char in[] = HEADER "<message><body>x</body></message></stream:stream>";

    (void)state;
    /* Stanzas nobody takes are freed (ASan checks). */
    assert_int_equal(xmpp_stream_feed(s, in, strlen(in)), TD_ECLOSED);
    xmpp_stream_reset(s);
    assert_int_equal(xmpp_stream_feed(s, "<x", 2), TD_OK);
    xmpp_stream_free(s);
    xmpp_stream_free(NULL);
}

/* ---- RFC 7395 WebSocket framing ---- */

#define OPEN_MSG                                                                                   \
    "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>"

static void test_framing(void **state)
{
    struct xmpp_stream_limits lim = {.framing = true};
    struct rec r;

    (void)state;
    rec_init(&r, &lim);
    assert_int_equal(feed(&r, OPEN_MSG), TD_OK);
    assert_string_equal(r.log.data, "open(urn:ietf:params:xml:ns:xmpp-framing:open,example.com,"
                                    "1.0,-) ");
    rec_clear_log(&r);
    assert_int_equal(feed(&r, "<?xml version='1.0'?><message xmlns='jabber:client' to='a@b'>"
                              "<body>hi</body></message>"),
                     TD_OK);
    assert_int_equal(feed(&r, "  \n"), TD_OK); /* whitespace-only message: ignored */
    assert_int_equal(feed(&r, "<iq xmlns='jabber:client' type='get' id='1'/>\n"), TD_OK);
    assert_string_equal(r.log.data, "<message to='a@b'><body>hi</body></message> "
                                    "<iq type='get' id='1'/> ");
    assert_string_equal(r.kept[0]->ns, XMPP_NS_CLIENT);
    rec_clear_log(&r);
    /* Stream restart after SASL success: a new <open/>. */
    xmpp_stream_reset(r.s);
    assert_int_equal(feed(&r, OPEN_MSG), TD_OK);
    assert_int_equal(feed(&r, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"), TD_ECLOSED);
    assert_int_equal(feed(&r, "<message xmlns='jabber:client'/>"), TD_ECLOSED);
    assert_string_equal(r.log.data, "open(urn:ietf:params:xml:ns:xmpp-framing:open,example.com,"
                                    "1.0,-) close ");
    rec_free(&r);

    /* Byte-split messages are not allowed in framing mode. */
    expect_error(&lim, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    /* Two elements in one message. */
    expect_error(&lim, OPEN_MSG "<message xmlns='jabber:client'/>",
                 XMPP_STREAM_ERR_NOT_WELL_FORMED);
    /* A classic stream header is not an <open/>. */
    expect_error(&lim, HEADER "</stream:stream>", XMPP_STREAM_ERR_INVALID_NAMESPACE);
    expect_error(&lim, "<message xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
                 XMPP_STREAM_ERR_BAD_FORMAT);
    expect_error(&lim, "<!DOCTYPE x><open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
                 XMPP_STREAM_ERR_RESTRICTED_XML);
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(xmpp_stream_error_name(XMPP_STREAM_ERR_BAD_FORMAT), "bad-format");
    assert_string_equal(xmpp_stream_error_name(XMPP_STREAM_ERR_RESTRICTED_XML), "restricted-xml");
    assert_string_equal(xmpp_stream_error_name(XMPP_STREAM_ERR_UNSUPPORTED_ENCODING),
                        "unsupported-encoding");
    assert_string_equal(xmpp_stream_error_name((enum xmpp_stream_error)999), "undefined-condition");
}


/* Hibernation: between stanzas the parser goes back to the pool and the
 * next feed wakes it with the header's declarations, without a new open. */
static void test_hibernate(void **state)
{
    static const char hdr[] =
        "<?xml version='1.0'?><s:stream xmlns='jabber:client' xmlns:s='"
        XMPP_NS_STREAMS "' xmlns:x='urn:example:x' to='example.com' version='1.0'>";
    struct rec r;
    struct xmpp_stream_limits fl = {.framing = true};

    (void)state;
    rec_init(&r, NULL);
    assert_false(xmpp_stream_hibernate(r.s)); /* no header yet */
    assert_int_equal(feed(&r, hdr), TD_OK);
    assert_true(xmpp_stream_hibernate(r.s));
    assert_true(xmpp_stream_hibernate(r.s)); /* twice: still asleep */
    /* the prefix declared on the header still binds after the wake */
    assert_int_equal(feed(&r, "<message to='a@b'><x:y/></message>  "), TD_OK);
    assert_int_equal(r.opens, 1);
    assert_int_equal(r.stanzas, 1);
    assert_non_null(xmpp_el_child(r.kept[0], "y", "urn:example:x"));
    assert_true(xmpp_stream_hibernate(r.s));
    /* a stanza cut in two: no hibernation in the middle */
    assert_int_equal(feed(&r, "<presence><show>a"), TD_OK);
    assert_false(xmpp_stream_hibernate(r.s));
    assert_int_equal(feed(&r, "way</show></presence>"), TD_OK);
    assert_int_equal(r.stanzas, 2);
    assert_true(xmpp_stream_hibernate(r.s));
    /* errors still come after a wake */
    assert_int_equal(feed(&r, "<y:message xmlns:z='q'/>"), TD_EPROTO);
    assert_int_equal(r.errors, 1);
    assert_false(xmpp_stream_hibernate(r.s));
    rec_free(&r);

    /* a restart after hibernation starts a new header; close still works */
    rec_init(&r, NULL);
    assert_int_equal(feed(&r, hdr), TD_OK);
    assert_true(xmpp_stream_hibernate(r.s));
    xmpp_stream_reset(r.s);
    assert_int_equal(feed(&r, hdr), TD_OK);
    assert_int_equal(r.opens, 2);
    assert_true(xmpp_stream_hibernate(r.s));
    assert_int_equal(feed(&r, "</s:stream>"), TD_ECLOSED);
    assert_int_equal(r.closes, 1);
    rec_free(&r);

    /* framing: every message is its own document */
    rec_init(&r, &fl);
    assert_int_equal(feed(&r, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='e' "
                              "version='1.0'/>"), TD_OK);
    assert_true(xmpp_stream_hibernate(r.s));
    assert_int_equal(feed(&r, "<message xmlns='jabber:client'><body>hi</body></message>"),
                     TD_OK);
    assert_int_equal(r.stanzas, 1);
    assert_true(xmpp_stream_hibernate(r.s));
    rec_free(&r); /* freed while asleep: nothing leaks */

    /* many streams asleep at once: the pool is bounded, wakes still work */
    struct rec many[80];
    for (int i = 0; i < 80; i++) {
        rec_init(&many[i], NULL);
        assert_int_equal(feed(&many[i], hdr), TD_OK);
        assert_true(xmpp_stream_hibernate(many[i].s));
    }
    for (int i = 0; i < 80; i++) {
        assert_int_equal(feed(&many[i], "<iq type='get' id='1'/>"), TD_OK);
        assert_int_equal(many[i].stanzas, 1);
        rec_free(&many[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_stream),
        cmocka_unit_test(test_bytewise),
        cmocka_unit_test(test_pipelined_and_order),
        cmocka_unit_test(test_namespaces),
        cmocka_unit_test(test_entities_and_cjk),
        cmocka_unit_test(test_whitespace_keepalive),
        cmocka_unit_test(test_restricted_xml),
        cmocka_unit_test(test_not_well_formed),
        cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_namespace_errors),
        cmocka_unit_test(test_limit_depth_attrs_names),
        cmocka_unit_test(test_limit_stanza_size),
        cmocka_unit_test(test_limit_tag_size),
        cmocka_unit_test(test_limit_text),
        cmocka_unit_test(test_reset_restart),
        cmocka_unit_test(test_no_callbacks),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_hibernate),
        cmocka_unit_test(test_error_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
