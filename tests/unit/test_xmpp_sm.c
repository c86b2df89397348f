/* SPDX-License-Identifier: MIT */
/* Unit tests for the I/O-free part of XEP-0198 stream management
 * (xmpp/xmpp_sm.h): counting and keeping sent stanzas, trimming by the
 * client's 'h' modulo 2^32 (§4), 'h' beyond the send count refused
 * (handled-count-too-high), the count and byte caps, and parsing 'h'. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "xmpp/xmpp_sm.h"

static void push_n(struct xmpp_sm_queue *q, int n, int from)
{
    char b[32];
    for (int i = 0; i < n; i++) {
        int len = snprintf(b, sizeof(b), "<m%d/>", from + i);
        assert_int_equal(xmpp_sm_queue_push(q, b, (size_t)len, 100, 100000), TD_OK);
    }
}

static void test_push_ack_order(void **state)
{
    struct xmpp_sm_queue q;
    (void)state;
    memset(&q, 0, sizeof(q));
    push_n(&q, 40, 1); /* past the first growth of the ring */
    assert_int_equal(q.n, 40);
    assert_int_equal(q.sent, 40);
    assert_int_equal(xmpp_sm_queue_ack(&q, 0), TD_OK); /* nothing new */
    assert_int_equal(xmpp_sm_queue_ack(&q, 25), TD_OK);
    assert_int_equal(q.n, 15);
    assert_string_equal(xmpp_sm_queue_at(&q, 0)->data, "<m26/>");
    push_n(&q, 30, 41); /* wraps inside the ring, then grows it */
    assert_int_equal(q.n, 45);
    for (size_t i = 0; i < q.n; i++) {
        char b[32];
        snprintf(b, sizeof(b), "<m%zu/>", 26 + i);
        assert_string_equal(xmpp_sm_queue_at(&q, i)->data, b);
    }
    assert_int_equal(xmpp_sm_queue_ack(&q, 70), TD_OK);
    assert_int_equal(q.n, 0);
    assert_int_equal(q.bytes, 0);
    xmpp_sm_queue_clear(&q);
}

static void test_ack_too_high_and_backwards(void **state)
{
    struct xmpp_sm_queue q;
    (void)state;
    memset(&q, 0, sizeof(q));
    push_n(&q, 3, 1);
    assert_int_equal(xmpp_sm_queue_ack(&q, 4), TD_EPROTO);
    assert_int_equal(q.n, 3); /* unchanged */
    assert_int_equal(xmpp_sm_queue_ack(&q, 2), TD_OK);
    /* going backwards is 2^32 - 1 stanzas ahead: also too high */
    assert_int_equal(xmpp_sm_queue_ack(&q, 1), TD_EPROTO);
    assert_int_equal(q.n, 1);
    xmpp_sm_queue_clear(&q);
}

static void test_wraparound(void **state)
{
    struct xmpp_sm_queue q;
    (void)state;
    memset(&q, 0, sizeof(q));
    q.sent = q.acked = UINT32_MAX - 1; /* as after 2^32 - 2 acknowledged stanzas */
    push_n(&q, 4, 1);
    assert_int_equal(q.sent, 2);
    assert_int_equal(xmpp_sm_queue_ack(&q, UINT32_MAX), TD_OK);
    assert_int_equal(q.n, 3);
    assert_int_equal(xmpp_sm_queue_ack(&q, 1), TD_OK);
    assert_int_equal(q.n, 1);
    assert_string_equal(xmpp_sm_queue_at(&q, 0)->data, "<m4/>");
    assert_int_equal(xmpp_sm_queue_ack(&q, 3), TD_EPROTO);
    xmpp_sm_queue_clear(&q);
}

static void test_caps(void **state)
{
    struct xmpp_sm_queue q;
    (void)state;
    memset(&q, 0, sizeof(q));
    assert_int_equal(xmpp_sm_queue_push(&q, "<a/>", 4, 2, 100), TD_OK);
    assert_int_equal(xmpp_sm_queue_push(&q, "<b/>", 4, 2, 100), TD_OK);
    assert_int_equal(xmpp_sm_queue_push(&q, "<c/>", 4, 2, 100), TD_ELIMIT);
    assert_int_equal(q.sent, 2); /* a refused stanza is not counted */
    assert_int_equal(xmpp_sm_queue_ack(&q, 2), TD_OK);
    assert_int_equal(xmpp_sm_queue_push(&q, "<c/>", 4, 2, 100), TD_OK);
    assert_int_equal(xmpp_sm_queue_push(&q, "<dddd/>", 7, 10, 10), TD_ELIMIT); /* bytes */
    xmpp_sm_queue_clear(&q);
}

static void test_take(void **state)
{
    struct xmpp_sm_queue q, out;
    (void)state;
    memset(&q, 0, sizeof(q));
    push_n(&q, 3, 1);
    xmpp_sm_queue_take(&q, &out);
    assert_int_equal(q.n, 0);
    assert_int_equal(q.sent, 3);
    assert_int_equal(q.acked, 3);
    assert_int_equal(out.n, 3);
    assert_string_equal(xmpp_sm_queue_at(&out, 2)->data, "<m3/>");
    xmpp_sm_queue_clear(&out);
    xmpp_sm_queue_clear(&q);
}

static void test_parse_h(void **state)
{
    uint32_t h = 7;
    (void)state;
    assert_int_equal(xmpp_sm_parse_h("0", &h), TD_OK);
    assert_int_equal(h, 0);
    assert_int_equal(xmpp_sm_parse_h("4294967295", &h), TD_OK);
    assert_int_equal(h, UINT32_MAX);
    assert_int_equal(xmpp_sm_parse_h("4294967296", &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h("-1", &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h(" 1", &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h("1x", &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h("", &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h(NULL, &h), TD_EINVAL);
    assert_int_equal(xmpp_sm_parse_h("00000000000001", &h), TD_EINVAL); /* too long */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_ack_order),
        cmocka_unit_test(test_ack_too_high_and_backwards),
        cmocka_unit_test(test_wraparound),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_take),
        cmocka_unit_test(test_parse_h),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
