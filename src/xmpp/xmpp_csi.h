/* SPDX-License-Identifier: MIT */
/* Client State Indication (XEP-0352), the I/O-free part: which outbound
 * stanzas can wait while the client is inactive, and the queue that holds
 * them (only the latest presence and chat state per sender). The session
 * module (xmpp_csi.c) decides when to hold and when to flush; the policy is
 * described there. */
#ifndef TD_XMPP_CSI_H
#define TD_XMPP_CSI_H

#include <stdbool.h>
#include <stddef.h>

struct xmpp_el;

#define XMPP_NS_CSI "urn:xmpp:csi:0"
#define XMPP_NS_CHATSTATES "http://jabber.org/protocol/chatstates" /* XEP-0085 */

enum xmpp_csi_class {
    XMPP_CSI_URGENT = 0,    /* deliver now (after flushing what is held) */
    XMPP_CSI_PRESENCE = 1,  /* available/unavailable presence: the latest per sender */
    XMPP_CSI_CHATSTATE = 2, /* a bodiless chat state notification: the latest per sender */
};

/** The class of an outbound stanza; *key (may be NULL) gets its from
 *  attribute (pointing into el) for the held classes. */
enum xmpp_csi_class xmpp_csi_classify(const struct xmpp_el *el, const char **key);

struct xmpp_csi_item {
    enum xmpp_csi_class cls;
    char *key;  /* the sender's full JID */
    char *data; /* the serialized stanza */
    size_t len;
};

/* Held stanzas in arrival order; a newer one of the same class and key
 * replaces the older (which leaves its place: the new one goes last). */
struct xmpp_csi_queue {
    struct xmpp_csi_item *v;
    size_t n, cap;
    size_t bytes; /* data bytes held */
};

/** Hold a copy of data. Returns true when the queue now holds more than
 *  max_items stanzas or max_bytes bytes (the caller flushes it). */
bool xmpp_csi_queue_hold(struct xmpp_csi_queue *q, enum xmpp_csi_class cls, const char *key,
                         const char *data, size_t len, size_t max_items, size_t max_bytes);
/** Move everything out of q into out (q is empty after); out is then
 *  written in order and freed with xmpp_csi_queue_clear. */
void xmpp_csi_queue_take(struct xmpp_csi_queue *q, struct xmpp_csi_queue *out);
/** Drop everything held and free the storage. */
void xmpp_csi_queue_clear(struct xmpp_csi_queue *q);

#endif
