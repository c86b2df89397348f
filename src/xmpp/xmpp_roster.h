/* SPDX-License-Identifier: MIT */
/* Rosters and presence subscriptions (RFC 6121 §2, §3), the parts that need
 * no session: the subscription state machine of RFC 6121 Appendix A as two
 * pure functions (outbound: a stanza the user sends, A.2; inbound: one the
 * user's server receives for the user, A.3) over the state none/to/from/both
 * plus pending-out (ask), pending-in and pre-approval (§3.4); parsing and
 * validating a roster set item (§2.3.3, §2.5: name and group limits of
 * store_roster.h, duplicate or empty groups, subscription='remove'); and
 * building the <item/> of a roster result or push (§2.1.2; version-less,
 * no 'ver'). Which contacts get the user's presence (from/both) and whose
 * presence reaches the user (to/both, §4.2-§4.4) are the two predicates below.
 * Delivery, pushes and storage are xmpp_c2s.c's. No I/O, no globals. */
#ifndef TD_XMPP_ROSTER_H
#define TD_XMPP_ROSTER_H

#include "store/store_roster.h"

#include <stdbool.h>
#include <stddef.h>

struct arena;
struct xmpp_el;

#define XMPP_NS_ROSTER "jabber:iq:roster"

enum xmpp_sub_type {
    XMPP_SUB_SUBSCRIBE,
    XMPP_SUB_SUBSCRIBED,
    XMPP_SUB_UNSUBSCRIBE,
    XMPP_SUB_UNSUBSCRIBED,
};

/* One side's view of a contact. */
struct xmpp_sub_state {
    int sub;         /* enum store_sub */
    bool ask;        /* pending out */
    bool pending_in; /* pending in */
    bool approved;   /* pre-approved */
};

struct xmpp_sub_outcome {
    struct xmpp_sub_state next;
    bool changed;    /* any field of the state changed (store it) */
    bool push;       /* a field a roster item shows changed (sub, ask, approved): push */
    bool forward;    /* outbound: route to the contact; inbound: deliver to the user */
    bool auto_reply; /* inbound subscribe: answer 'subscribed' for the user (already
                        from/both, or pre-approved) and do not deliver */
};

/** The presence type name → *out. TD_OK, or TD_EINVAL for anything else
 *  (including NULL, available, unavailable, probe, error). */
int xmpp_sub_type_parse(const char *type, enum xmpp_sub_type *out);
/** "subscribe", ... for t. */
const char *xmpp_sub_type_name(enum xmpp_sub_type t);
/** "none", "to", "from", "both" for a store_sub value. */
const char *xmpp_sub_name(int sub);

/** The user sends a presence of type t to the contact whose state is cur. */
void xmpp_sub_outbound(const struct xmpp_sub_state *cur, enum xmpp_sub_type t,
                       struct xmpp_sub_outcome *out);
/** The user's server receives a presence of type t from the contact. */
void xmpp_sub_inbound(const struct xmpp_sub_state *cur, enum xmpp_sub_type t,
                      struct xmpp_sub_outcome *out);

/** The contact gets the user's presence broadcasts (§4.2.2, §4.4.2). */
static inline bool xmpp_sub_contact_gets_presence(int sub)
{
    return (sub & STORE_SUB_FROM) != 0;
}
/** The user gets the contact's presence (is probed for it, §4.3). */
static inline bool xmpp_sub_user_gets_presence(int sub)
{
    return (sub & STORE_SUB_TO) != 0;
}

/* A parsed roster set item (strings in the arena). */
struct xmpp_roster_set {
    const char *jid;    /* prepared bare JID */
    const char *name;   /* NULL = none (an empty name counts as none) */
    const char **groups;
    size_t ngroups;
    bool remove;        /* subscription='remove' */
};

/** Parse the <query/> of a roster set (RFC 6121 §2.3.3, §2.5.2): exactly one
 *  <item/> with a valid bare JID. TD_OK with *out filled, else TD_EINVAL and
 *  *cond the stanza error condition: bad-request (not one item, no jid,
 *  duplicate group, a full JID), jid-malformed, not-acceptable (empty group,
 *  name or group over its limit, too many groups). */
int xmpp_roster_set_parse(struct arena *a, const struct xmpp_el *query,
                          struct xmpp_roster_set *out, const char **cond);
/** The <item/> (in XMPP_NS_ROSTER) describing it: jid, name, subscription,
 *  ask='subscribe' for pending out, approved='true', groups. With remove, only
 *  jid and subscription='remove'. Allocated in a. */
struct xmpp_el *xmpp_roster_item_el(struct arena *a, const struct store_roster_item *it,
                                    bool remove);

#endif
