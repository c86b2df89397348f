/* SPDX-License-Identifier: MIT */
/* Unit tests for the I/O-free part of XEP-0352 client state indication
 * (xmpp/xmpp_csi.h): which stanzas wait while the client is inactive, and
 * the held queue (the latest presence and chat state per sender, in
 * arrival order, the cap). Stanzas are read back with xmpp__stanza_parse,
 * as the module does with what the core would have written. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/err.h"
#include "xmpp/xmpp_c2s_int.h"
#include "xmpp/xmpp_csi.h"

static enum xmpp_csi_class classify(const char *xml, const char **key_out, char *key_buf)
{
    struct arena *a = NULL;
    struct xmpp_el *el = xmpp__stanza_parse(xml, strlen(xml), &a);
    const char *key = NULL;
    enum xmpp_csi_class c;

    assert_non_null(el);
    c = xmpp_csi_classify(el, &key);
    if (key_out) {
        snprintf(key_buf, 128, "%s", key ? key : "(null)");
        *key_out = key_buf;
    }
    arena_free(a);
    return c;
}

static void test_classify(void **state)
{
    char kb[128];
    const char *key;
    (void)state;
    assert_int_equal(classify("<presence from='b@x/r'><show>away</show></presence>", &key, kb),
                     XMPP_CSI_PRESENCE);
    assert_string_equal(key, "b@x/r");
    assert_int_equal(classify("<presence from='b@x/r' type='unavailable'/>", NULL, kb),
                     XMPP_CSI_PRESENCE);
    assert_int_equal(classify("<presence from='b@x' type='subscribe'/>", NULL, kb),
                     XMPP_CSI_URGENT);
    assert_int_equal(classify("<presence from='b@x' type='subscribed'/>", NULL, kb),
                     XMPP_CSI_URGENT);
    assert_int_equal(classify("<presence from='b@x/r' type='error'/>", NULL, kb),
                     XMPP_CSI_URGENT);
    assert_int_equal(classify("<message from='b@x/r' type='chat'><body>hi</body></message>",
                              NULL, kb), XMPP_CSI_URGENT);
    assert_int_equal(classify("<message from='b@x/r' type='chat'><composing xmlns='"
                              XMPP_NS_CHATSTATES "'/><thread>t</thread></message>", &key, kb),
                     XMPP_CSI_CHATSTATE);
    assert_string_equal(key, "b@x/r");
    assert_int_equal(classify("<message from='b@x/r' type='chat'><active xmlns='"
                              XMPP_NS_CHATSTATES "'/><body>hi</body></message>", NULL, kb),
                     XMPP_CSI_URGENT);
    /* a receipt is more than a chat state */
    assert_int_equal(classify("<message from='b@x/r'><received xmlns='urn:xmpp:receipts' "
                              "id='1'/></message>", NULL, kb), XMPP_CSI_URGENT);
    assert_int_equal(classify("<message from='b@x/r' type='error'><paused xmlns='"
                              XMPP_NS_CHATSTATES "'/></message>", NULL, kb), XMPP_CSI_URGENT);
    assert_int_equal(classify("<iq from='b@x/r' type='get' id='1'><ping xmlns='urn:xmpp:ping'/>"
                              "</iq>", NULL, kb), XMPP_CSI_URGENT);
    /* no sender: nothing to key on */
    assert_int_equal(classify("<presence/>", NULL, kb), XMPP_CSI_URGENT);
}

static void test_parse_rejects_garbage(void **state)
{
    struct arena *a = (struct arena *)1;
    (void)state;
    assert_null(xmpp__stanza_parse("<message", 8, &a));
    assert_null(a);
    assert_null(xmpp__stanza_parse("text", 4, &a));
    assert_null(a);
}

static void test_hold_latest_per_sender(void **state)
{
    struct xmpp_csi_queue q, out;
    (void)state;
    memset(&q, 0, sizeof(q));
    assert_false(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, "b@x/r", "<p1/>", 5, 10, 1000));
    assert_false(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, "c@x/r", "<c1/>", 5, 10, 1000));
    assert_false(xmpp_csi_queue_hold(&q, XMPP_CSI_CHATSTATE, "b@x/r", "<s1/>", 5, 10, 1000));
    for (int i = 2; i <= 5; i++) {
        char b[8];
        snprintf(b, sizeof(b), "<p%d/>", i);
        assert_false(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, "b@x/r", b, 5, 10, 1000));
    }
    assert_int_equal(q.n, 3);
    assert_int_equal(q.bytes, 15);
    /* the replaced presence went last */
    assert_string_equal(q.v[0].data, "<c1/>");
    assert_string_equal(q.v[1].data, "<s1/>");
    assert_string_equal(q.v[2].data, "<p5/>");
    xmpp_csi_queue_take(&q, &out);
    assert_int_equal(q.n, 0);
    assert_int_equal(out.n, 3);
    xmpp_csi_queue_clear(&out);
    xmpp_csi_queue_clear(&q);
}

static void test_hold_caps(void **state)
{
    struct xmpp_csi_queue q;
    char key[16];
    (void)state;
    memset(&q, 0, sizeof(q));
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof(key), "u%d@x/r", i);
        assert_false(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, key, "<p/>", 4, 3, 1000));
    }
    assert_true(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, "u9@x/r", "<p/>", 4, 3, 1000));
    xmpp_csi_queue_clear(&q);
    assert_true(xmpp_csi_queue_hold(&q, XMPP_CSI_PRESENCE, "u@x/r", "<presence/>", 11, 3, 10));
    xmpp_csi_queue_clear(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test(test_parse_rejects_garbage),
        cmocka_unit_test(test_hold_latest_per_sender),
        cmocka_unit_test(test_hold_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
