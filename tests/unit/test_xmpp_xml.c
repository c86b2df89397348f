/* SPDX-License-Identifier: MIT */
/* Unit tests for src/xmpp/xmpp_xml.c: building trees, attribute and child
 * lookup, text joining, deep copy and equality, and the serializer
 * (escaping of hostile text and attribute values, namespace declarations
 * only where they change, the stream: prefix, RFC 7395 standalone
 * elements), checked by parsing its output again with xmpp_stream
 * (parse -> serialize -> parse gives an equal tree). */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define HEADER                                                                                     \
    "<stream:stream to='example.com' version='1.0' xmlns='jabber:client' "                         \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

struct one {
    struct xmpp_el *el;
    struct arena *a;
    int errors;
};

static void one_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct one *o = ud;

    if (o->el != NULL) {
        arena_free(a); /* keep only the first */
        return;
    }
    o->el = el;
    o->a = a;
}

static void one_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    struct one *o = ud;

    (void)cond;
    (void)text;
    o->errors++;
}

/* Parse xml (one stanza) inside a client stream; the caller frees o->a. */
static struct xmpp_el *parse_one(struct one *o, const char *xml)
{
    static const struct xmpp_stream_cbs cbs = {NULL, one_stanza, NULL, one_error};
    struct xmpp_stream *s = xmpp_stream_new(NULL, &cbs, o);

    memset(o, 0, sizeof(*o));
    assert_int_equal(xmpp_stream_feed(s, HEADER, strlen(HEADER)), TD_OK);
    assert_int_equal(xmpp_stream_feed(s, xml, strlen(xml)), TD_OK);
    xmpp_stream_free(s);
    assert_int_equal(o->errors, 0);
    assert_non_null(o->el);
    return o->el;
}

static char *ser(const struct xmpp_el *el, const char *parent_ns, struct buf *b)
{
    buf_reset(b);
    assert_int_equal(xmpp_el_serialize(el, parent_ns, b), TD_OK);
    return b->data;
}

static void test_build_and_lookup(void **state)
{
    struct arena *a = arena_new(0);
    struct xmpp_el *m, *body, *x, *c;
    struct buf b;
    size_t len;

    (void)state;
    buf_init(&b, 0);
    m = xmpp_el_new(a, "message", XMPP_NS_CLIENT);
    xmpp_el_attr_set(a, m, "to", "romeo@example.net");
    xmpp_el_attr_set(a, m, "type", "chat");
    xmpp_el_attr_set(a, m, "to", "juliet@example.com"); /* replaces */
    xmpp_el_attr_set_ns(a, m, XMPP_NS_XML, "lang", "en");
    body = xmpp_el_child_new(a, m, "body", NULL);
    assert_string_equal(body->ns, XMPP_NS_CLIENT); /* inherited */
    xmpp_el_text_add(a, body, "Hello, ", 7);
    xmpp_el_text_add(a, body, "", 0); /* adds nothing */
    xmpp_el_text_add(a, body, "world", 5);
    x = xmpp_el_new(a, "x", "jabber:x:oob");
    xmpp_el_child_add(m, x);
    xmpp_el_child_new(a, x, "url", NULL);
    xmpp_el_child_new(a, m, "body", "urn:other");

    assert_string_equal(xmpp_el_attr(m, "to"), "juliet@example.com");
    assert_string_equal(xmpp_el_attr(m, "type"), "chat");
    assert_null(xmpp_el_attr(m, "lang"));
    assert_string_equal(xmpp_el_attr_ns(m, XMPP_NS_XML, "lang"), "en");
    assert_string_equal(xmpp_el_attr_ns(m, "", "type"), "chat"); /* "" = plain */
    assert_null(xmpp_el_attr(m, "from"));
    assert_string_equal(xmpp_el_text(a, body, &len), "Hello, world");
    assert_int_equal(len, 12);
    assert_string_equal(xmpp_el_text(a, m, &len), "");
    assert_int_equal(len, 0);
    assert_ptr_equal(xmpp_el_child(m, "x", "jabber:x:oob"), x);
    assert_null(xmpp_el_child(m, "x", XMPP_NS_CLIENT));
    assert_ptr_equal(xmpp_el_child(m, NULL, "jabber:x:oob"), x);
    assert_ptr_equal(xmpp_el_child(m, NULL, NULL), body);
    c = xmpp_el_next(body, "body", NULL);
    assert_non_null(c);
    assert_string_equal(c->ns, "urn:other");
    assert_null(xmpp_el_next(c, NULL, NULL));
    assert_string_equal(xmpp_el_child_text(a, m, "body", XMPP_NS_CLIENT), "Hello, world");
    assert_null(xmpp_el_child_text(a, m, "subject", NULL));

    assert_string_equal(ser(m, XMPP_NS_CLIENT, &b),
                        "<message to='juliet@example.com' type='chat' xml:lang='en'>"
                        "<body>Hello, world</body><x xmlns='jabber:x:oob'><url/></x>"
                        "<body xmlns='urn:other'/></message>");
    /* Standalone (RFC 7395): the stanza declares its namespace. */
    assert_string_equal(ser(xmpp_el_child(m, "x", NULL), NULL, &b),
                        "<x xmlns='jabber:x:oob'><url/></x>");
    assert_string_equal(ser(body, NULL, &b), "<body xmlns='jabber:client'>Hello, world</body>");
    buf_free(&b);
    arena_free(a);
}

static void test_serialize_namespaces(void **state)
{
    struct arena *a = arena_new(0);
    struct xmpp_el *f, *tls, *err, *e;
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    /* Stream features: stream: prefix, bound by the stream header. */
    f = xmpp_el_new(a, "features", XMPP_NS_STREAMS);
    tls = xmpp_el_child_new(a, f, "starttls", "urn:ietf:params:xml:ns:xmpp-tls");
    xmpp_el_child_new(a, tls, "required", NULL);
    assert_string_equal(ser(f, XMPP_NS_CLIENT, &b),
                        "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
                        "<required/></starttls></stream:features>");
    assert_string_equal(ser(f, NULL, &b),
                        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"
                        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
                        "</starttls></stream:features>");
    /* A stream error with an unqualified child must undeclare the default. */
    err = xmpp_el_new(a, "error", XMPP_NS_STREAMS);
    xmpp_el_child_new(a, err, "not-well-formed", "urn:ietf:params:xml:ns:xmpp-streams");
    e = xmpp_el_child_new(a, err, "plain", "");
    assert_string_equal(ser(err, XMPP_NS_CLIENT, &b),
                        "<stream:error><not-well-formed "
                        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><plain xmlns=''/>"
                        "</stream:error>");
    assert_string_equal(ser(e, NULL, &b), "<plain/>");
    /* Namespaced attributes get generated prefixes; xmlns attributes are skipped. */
    e = xmpp_el_new(a, "item", "urn:a");
    xmpp_el_attr_set_ns(a, e, "urn:p", "x", "1");
    xmpp_el_attr_set(a, e, "xmlns", "urn:evil");
    xmpp_el_attr_set(a, e, "xmlns:q", "urn:evil");
    xmpp_el_attr_set_ns(a, e, "urn:q", "y", "2");
    xmpp_el_attr_set_ns(a, e, "urn:p", "z", "3");
    assert_string_equal(ser(e, "urn:a", &b),
                        "<item xmlns:ns0='urn:p' ns0:x='1' xmlns:ns3='urn:q' ns3:y='2' "
                        "ns0:z='3'/>");
    buf_free(&b);
    arena_free(a);
}

static void test_escaping(void **state)
{
    struct arena *a = arena_new(0);
    struct xmpp_el *m, *body;
    struct buf b;
    struct one o;
    const char hostile[] = "'/><evil x=\"&amp;\t\n\r]]>";
    const char text[] = "<script>alert('x')</script> & ]]> \"q\"\r\n\x01\x1f end";

    (void)state;
    buf_init(&b, 0);
    m = xmpp_el_new(a, "message", XMPP_NS_CLIENT);
    xmpp_el_attr_set(a, m, "id", hostile);
    body = xmpp_el_child_new(a, m, "body", NULL);
    xmpp_el_text_add(a, body, text, strlen(text));
    assert_string_equal(ser(m, XMPP_NS_CLIENT, &b),
                        "<message id='&apos;/&gt;&lt;evil x=&quot;&amp;amp;&#9;&#10;&#13;]]&gt;'>"
                        "<body>&lt;script&gt;alert('x')&lt;/script&gt; &amp; ]]&gt; \"q\"&#13;\n"
                        " end</body></message>");
    /* Parsing it back gives the same values (minus the dropped controls). */
    parse_one(&o, b.data);
    assert_string_equal(xmpp_el_attr(o.el, "id"), hostile);
    assert_string_equal(xmpp_el_child_text(o.a, o.el, "body", NULL),
                        "<script>alert('x')</script> & ]]> \"q\"\r\n end");
    arena_free(o.a);
    buf_free(&b);
    arena_free(a);
}

static void test_round_trip(void **state)
{
    static const char *const cases[] = {
        "<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' "
        "xml:lang='en'><body>Wherefore art thou, Romeo? &amp; &lt;3 &#x4E2D;\xe6\x96\x87</body>"
        "<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<iq type='result' id='r1'><query xmlns='jabber:iq:roster' ver='v2'>"
        "<item jid='a@b' name='A &quot;B&quot;' subscription='both'><group>Friends</group>"
        "</item></query></iq>",
        "<p:presence xmlns:p='jabber:client' xmlns:x='urn:x'><x:c x:node='n' hash='sha-1'/>"
        "<show>away</show>mixed<status xml:lang='de'>weg</status>text</p:presence>",
        "<message><body>  spaced\n\tlines\r\n  </body><x xmlns=''><y a='\t\n'/></x></message>",
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict "
        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
        "<iq><a><b><c><d><e><f>deep</f></e></d></c></b></a><![CDATA[<not a tag>]]></iq>",
    };
    struct buf b, b2;

    (void)state;
    buf_init(&b, 0);
    buf_init(&b2, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct one o1, o2;
        struct arena *ca = arena_new(0);
        struct xmpp_el *copy;

        parse_one(&o1, cases[i]);
        ser(o1.el, XMPP_NS_CLIENT, &b);
        parse_one(&o2, b.data);
        if (!xmpp_el_equal(o1.el, o2.el))
            fail_msg("case %zu: %s reparsed differently", i, b.data);
        /* Serializing again gives the same bytes. */
        ser(o2.el, XMPP_NS_CLIENT, &b2);
        assert_string_equal(b.data, b2.data);
        /* The copy outlives the original arena and is equal. */
        copy = xmpp_el_copy(ca, o1.el);
        arena_free(o1.a);
        assert_true(xmpp_el_equal(copy, o2.el));
        ser(copy, XMPP_NS_CLIENT, &b2);
        assert_string_equal(b.data, b2.data);
        arena_free(o2.a);
        arena_free(ca);
    }
    buf_free(&b);
    buf_free(&b2);
}

static void test_equal(void **state)
{
    struct one o1, o2;

    (void)state;
    parse_one(&o1, "<m a='1' b='2'><x>t</x></m>");
    parse_one(&o2, "<m b='2' a='1'><x>t</x></m>");
    assert_true(xmpp_el_equal(o1.el, o2.el)); /* attribute order does not matter */
    arena_free(o2.a);
    parse_one(&o2, "<m b='2' a='1'><x>u</x></m>");
    assert_false(xmpp_el_equal(o1.el, o2.el));
    arena_free(o2.a);
    parse_one(&o2, "<m a='1' b='3'><x>t</x></m>");
    assert_false(xmpp_el_equal(o1.el, o2.el));
    arena_free(o2.a);
    parse_one(&o2, "<m a='1' b='2' c='3'><x>t</x></m>");
    assert_false(xmpp_el_equal(o1.el, o2.el));
    arena_free(o2.a);
    parse_one(&o2, "<m a='1' b='2'><x xmlns='urn:x'>t</x></m>");
    assert_false(xmpp_el_equal(o1.el, o2.el));
    arena_free(o2.a);
    parse_one(&o2, "<m a='1' b='2'><x>t</x><y/></m>");
    assert_false(xmpp_el_equal(o1.el, o2.el));
    assert_false(xmpp_el_equal(o2.el, o1.el));
    arena_free(o2.a);
    arena_free(o1.a);
}

static void test_serialize_ceiling(void **state)
{
    struct arena *a = arena_new(0);
    struct xmpp_el *m = xmpp_el_new(a, "message", XMPP_NS_CLIENT);
    struct buf b;

    (void)state;
    xmpp_el_text_add(a, xmpp_el_child_new(a, m, "body", NULL), "0123456789", 10);
    buf_init(&b, 20);
    assert_int_equal(xmpp_el_serialize(m, XMPP_NS_CLIENT, &b), TD_ETOOBIG);
    assert_true(b.len <= 20);
    buf_free(&b);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_lookup),
        cmocka_unit_test(test_serialize_namespaces),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_serialize_ceiling),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
