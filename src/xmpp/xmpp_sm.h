/* SPDX-License-Identifier: MIT */
/* Stream Management (XEP-0198), the I/O-free part: the queue of stanzas
 * sent to the client and not yet acknowledged, with the send counter and
 * the last acknowledged 'h' (both modulo 2^32, §4), and the parsing of 'h'.
 * The session module is xmpp_sm.c. */
#ifndef TD_XMPP_SM_H
#define TD_XMPP_SM_H

#include <stddef.h>
#include <stdint.h>

#define XMPP_NS_SM "urn:xmpp:sm:3"

struct xmpp_sm_item {
    char *data; /* one serialized stanza */
    size_t len;
};

/* A ring of unacknowledged stanzas: item i (0 = oldest) has sequence
 * number acked + i + 1; sent == acked + n (mod 2^32). Zeroed = empty. */
struct xmpp_sm_queue {
    struct xmpp_sm_item *v;
    size_t cap, head, n;
    size_t bytes;   /* data bytes held */
    uint32_t sent;  /* stanzas counted since <enabled/> */
    uint32_t acked; /* the client's last 'h' */
};

/** Count a stanza sent and keep a copy. TD_ELIMIT (neither counted nor
 *  kept) when that would hold more than max_items stanzas or max_bytes. */
int xmpp_sm_queue_push(struct xmpp_sm_queue *q, const char *data, size_t len, size_t max_items,
                       size_t max_bytes);
/** The client handled every stanza up to h: drop those. TD_EPROTO (and no
 *  change) when h acknowledges more than was sent (§4 handled-count-too-high). */
int xmpp_sm_queue_ack(struct xmpp_sm_queue *q, uint32_t h);
/** Item i (0 = oldest unacknowledged), i < q->n. */
const struct xmpp_sm_item *xmpp_sm_queue_at(const struct xmpp_sm_queue *q, size_t i);
/** Move the items out into a fresh queue *out (q keeps its counters, no items). */
void xmpp_sm_queue_take(struct xmpp_sm_queue *q, struct xmpp_sm_queue *out);
/** Free the items and storage; the counters are kept. */
void xmpp_sm_queue_clear(struct xmpp_sm_queue *q);
/** Parse an 'h' (xs:unsignedInt, decimal without sign or spaces). TD_EINVAL if bad. */
int xmpp_sm_parse_h(const char *s, uint32_t *h);

#endif
