/* SPDX-License-Identifier: MIT */
/* The table of online client sessions (RFC 6120 §7, RFC 6121 §8): one hash
 * table from bare JID to the list of that account's bound resources, each a
 * struct xmpp_route embedded in its session. The router only answers
 * "where": which session holds this full JID, which resources of a bare JID
 * are online, and which of them a message to the bare JID goes to (RFC 6121
 * §8.5.2.1.1: the available resources with the highest non-negative
 * priority). Delivery (serializing once, writing to each) is the caller's.
 * Loop thread only; no I/O. */
#ifndef TD_XMPP_ROUTER_H
#define TD_XMPP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct xmpp_router;
struct xmpp_router_node;

/* One bound resource; lives inside its session, which keeps full alive while
 * the route is in the router. */
struct xmpp_route {
    const char *full; /* prepared full JID "local@domain/resource" */
    size_t bare_len;  /* bytes of full before the '/' */
    int priority;     /* from the last available presence, -128..127 */
    bool available;   /* has sent available presence (RFC 6121 §4.2) */
    void *data;       /* the owner's */
    /* private */
    struct xmpp_route *_next;
    struct xmpp_router_node *_node;
};

struct xmpp_router *xmpp_router_new(void);
/** Free the table; routes still in it are dropped (not touched). NULL-safe. */
void xmpp_router_free(struct xmpp_router *r);
/** Add rt (full and bare_len set). TD_OK; TD_EEXIST if another route holds the
 *  same full JID: *conflict (may be NULL) gets it and rt is not added (remove
 *  the old one, then add again: RFC 6120 §7.7.2.2). TD_EINVAL for a full JID
 *  without resource. */
int xmpp_router_add(struct xmpp_router *r, struct xmpp_route *rt, struct xmpp_route **conflict);
/** Remove rt if it is in the table (idempotent). */
void xmpp_router_remove(struct xmpp_router *r, struct xmpp_route *rt);
/** The route of a full JID, or NULL. */
struct xmpp_route *xmpp_router_find(const struct xmpp_router *r, const char *full);
/** The first route of a bare JID (iterate with xmpp_route_next), or NULL. */
struct xmpp_route *xmpp_router_resources(const struct xmpp_router *r, const char *bare);
/** The next route of the same bare JID, or NULL. */
struct xmpp_route *xmpp_route_next(const struct xmpp_route *rt);
/** Fill out[0..cap) with the routes a message to bare goes to: the available
 *  ones sharing the highest priority, if that priority is >= 0. Returns how
 *  many (0 if none qualifies). */
size_t xmpp_router_best(const struct xmpp_router *r, const char *bare, struct xmpp_route **out,
                        size_t cap);
/** Routes in the table. */
size_t xmpp_router_count(const struct xmpp_router *r);

#endif
