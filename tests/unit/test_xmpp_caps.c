/* SPDX-License-Identifier: MIT */
/* Unit tests for xmpp/xmpp_caps: the XEP-0115 verification string and hash
 * against the XEP's own examples (§5.2 simple, §5.3 with an XEP-0128 form),
 * and the §5.4 rules that make a ver untrustworthy (duplicates, a second
 * FORM_TYPE value) or a form ignorable (FORM_TYPE not hidden). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "xmpp/xmpp_caps.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#define HEADER                                                                              \
    "<stream:stream to='x' version='1.0' xmlns='jabber:client' "                            \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

struct one {
    struct xmpp_el *el;
    struct arena *a;
};

static void one_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct one *o = ud;
    if (o->el != NULL) {
        arena_free(a);
        return;
    }
    o->el = el;
    o->a = a;
}

/* The <query/> of an iq; the caller frees o->a. */
static struct xmpp_el *query_of(struct one *o, const char *iq)
{
    static const struct xmpp_stream_cbs cbs = {NULL, one_stanza, NULL, NULL};
    struct xmpp_stream *s = xmpp_stream_new(NULL, &cbs, o);

    memset(o, 0, sizeof(*o));
    assert_int_equal(xmpp_stream_feed(s, HEADER, strlen(HEADER)), TD_OK);
    assert_int_equal(xmpp_stream_feed(s, iq, strlen(iq)), TD_OK);
    xmpp_stream_free(s);
    assert_non_null(o->el);
    return xmpp_el_child(o->el, "query", NULL);
}

/* XEP-0115 §5.2: the simple example, from the structures directly. */
static void test_simple_example(void **state)
{
    struct xmpp_caps_identity id = {"client", "pc", NULL, "Exodus 0.9.1"};
    const char *features[] = {
        "http://jabber.org/protocol/muc", "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items", "http://jabber.org/protocol/caps",
    };
    struct xmpp_caps_info in = {.identities = &id, .nidentities = 1, .features = features,
                                .nfeatures = 4};
    struct buf s, v;

    (void)state;
    buf_init(&s, 0);
    buf_init(&v, 0);
    assert_int_equal(xmpp_caps_ver_string(&in, &s), TD_OK);
    assert_int_equal(s.len, strlen("client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<"
                                   "http://jabber.org/protocol/disco#info<"
                                   "http://jabber.org/protocol/disco#items<"
                                   "http://jabber.org/protocol/muc<"));
    assert_memory_equal(s.data, "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<", 56);
    assert_int_equal(xmpp_caps_hash("sha-1", s.data, s.len, &v), TD_OK);
    assert_int_equal(v.len, strlen("QgayPKawpkPSDYmwT/WM94uAlu0="));
    assert_memory_equal(v.data, "QgayPKawpkPSDYmwT/WM94uAlu0=", v.len);
    buf_reset(&v);
    assert_int_equal(xmpp_caps_hash("md5", s.data, s.len, &v), TD_EINVAL);
    buf_free(&s);
    buf_free(&v);
}

/* XEP-0115 §5.3: the complex example (two identities with xml:lang, a form). */
static const char complex_iq[] =
    "<iq type='result' id='1'><query xmlns='http://jabber.org/protocol/disco#info' "
    "node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>"
    "<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>"
    "<identity xml:lang='el' category='client' name='&#936; 0.11' type='pc'/>"
    "<feature var='http://jabber.org/protocol/caps'/>"
    "<feature var='http://jabber.org/protocol/disco#info'/>"
    "<feature var='http://jabber.org/protocol/disco#items'/>"
    "<feature var='http://jabber.org/protocol/muc'/>"
    "<x xmlns='jabber:x:data' type='result'>"
    "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>"
    "<field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>"
    "<field var='os'><value>Mac</value></field>"
    "<field var='os_version'><value>10.5.1</value></field>"
    "<field var='software'><value>Psi</value></field>"
    "<field var='software_version'><value>0.11</value></field>"
    "</x></query></iq>";

static void test_complex_example(void **state)
{
    struct one o;
    struct xmpp_el *q = query_of(&o, complex_iq);
    struct buf v;

    (void)state;
    buf_init(&v, 0);
    assert_int_equal(xmpp_caps_ver_of_query(o.a, q, "sha-1", &v), TD_OK);
    assert_int_equal(v.len, strlen("q07IKJEyjvHSyhy//CH0CxmKi8w="));
    assert_memory_equal(v.data, "q07IKJEyjvHSyhy//CH0CxmKi8w=", v.len);
    buf_free(&v);
    arena_free(o.a);
}

static int ver_of(const char *iq, struct buf *v)
{
    struct one o;
    struct xmpp_el *q = query_of(&o, iq);
    int rc;

    buf_reset(v);
    rc = xmpp_caps_ver_of_query(o.a, q, "sha-1", v);
    arena_free(o.a);
    return rc;
}

#define Q(body) "<iq type='result' id='1'><query xmlns='http://jabber.org/protocol/disco#info'>" \
                body "</query></iq>"
#define ID "<identity category='client' type='pc' name='Exodus 0.9.1'/>"
#define FEATS                                                                                  \
    "<feature var='http://jabber.org/protocol/caps'/>"                                         \
    "<feature var='http://jabber.org/protocol/disco#info'/>"                                   \
    "<feature var='http://jabber.org/protocol/disco#items'/>"                                  \
    "<feature var='http://jabber.org/protocol/muc'/>"

/* §5.4 step 3.3-3.6. */
static void test_ill_formed(void **state)
{
    struct buf v;

    (void)state;
    buf_init(&v, 0);
    assert_int_equal(ver_of(Q(ID FEATS), &v), TD_OK);
    assert_memory_equal(v.data, "QgayPKawpkPSDYmwT/WM94uAlu0=", v.len);
    /* order in the answer does not matter */
    assert_int_equal(ver_of(Q("<feature var='http://jabber.org/protocol/muc'/>" ID
                              "<feature var='http://jabber.org/protocol/disco#items'/>"
                              "<feature var='http://jabber.org/protocol/caps'/>"
                              "<feature var='http://jabber.org/protocol/disco#info'/>"), &v),
                     TD_OK);
    assert_memory_equal(v.data, "QgayPKawpkPSDYmwT/WM94uAlu0=", v.len);
    assert_int_equal(ver_of(Q(ID ID FEATS), &v), TD_EINVAL);
    assert_int_equal(ver_of(Q(ID FEATS "<feature var='http://jabber.org/protocol/muc'/>"), &v),
                     TD_EINVAL);
    assert_int_equal(ver_of(Q("<identity type='pc'/>" FEATS), &v), TD_EINVAL);
    assert_int_equal(ver_of(Q(ID "<feature/>"), &v), TD_EINVAL);
#define FORM(type, vals)                                                                       \
    "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='" type "'>" vals      \
    "</field><field var='a'><value>b</value></field></x>"
    /* two forms with the same FORM_TYPE, or two FORM_TYPE values: ill-formed */
    assert_int_equal(ver_of(Q(ID FEATS FORM("hidden", "<value>urn:x</value>")
                              FORM("hidden", "<value>urn:x</value>")), &v), TD_EINVAL);
    assert_int_equal(ver_of(Q(ID FEATS FORM("hidden", "<value>urn:x</value><value>urn:y</value>")),
                            &v), TD_EINVAL);
    /* a FORM_TYPE that is not hidden: the form is ignored */
    assert_int_equal(ver_of(Q(ID FEATS FORM("text-single", "<value>urn:x</value>")), &v), TD_OK);
    assert_memory_equal(v.data, "QgayPKawpkPSDYmwT/WM94uAlu0=", v.len);
    /* a hidden one counts */
    assert_int_equal(ver_of(Q(ID FEATS FORM("hidden", "<value>urn:x</value>")), &v), TD_OK);
    assert_memory_not_equal(v.data, "QgayPKawpkPSDYmwT/WM94uAlu0=", v.len);
    buf_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_example),
        cmocka_unit_test(test_complex_example),
        cmocka_unit_test(test_ill_formed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
