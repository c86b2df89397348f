/* SPDX-License-Identifier: MIT */
/* Roster items and the subscription state machine: see xmpp_roster.h. The
 * tables of RFC 6121 Appendix A.2 (outbound) and A.3 (inbound) come down to
 * a few rules on the bits to/from, ask and pending-in, written out below
 * case by case; tests/unit/test_xmpp_roster.c checks all nine states of
 * each table. Where the RFC leaves a choice: an outbound subscribe,
 * unsubscribe and unsubscribed are always routed (the contact's server
 * decides, §3.1.2, §3.2.2, §3.3.2); an outbound subscribed is routed only
 * when it answers a pending request, else it is a pre-approval (§3.4.2); an
 * inbound subscribe that is already pending is delivered again (the stored
 * copy is replaced). */
#include "xmpp/xmpp_roster.h"

#include "core/arena.h"
#include "core/err.h"
#include "xmpp/xmpp_jid.h"
#include "xmpp/xmpp_xml.h"

#include <string.h>

int xmpp_sub_type_parse(const char *type, enum xmpp_sub_type *out)
{
    static const char *const names[] = {"subscribe", "subscribed", "unsubscribe",
                                        "unsubscribed"};

    if (type == NULL)
        return TD_EINVAL;
    for (size_t i = 0; i < TD_ARRAY_LEN(names); i++) {
        if (strcmp(type, names[i]) == 0) {
            *out = (enum xmpp_sub_type)i;
            return TD_OK;
        }
    }
    return TD_EINVAL;
}

const char *xmpp_sub_type_name(enum xmpp_sub_type t)
{
    switch (t) {
    case XMPP_SUB_SUBSCRIBE: return "subscribe";
    case XMPP_SUB_SUBSCRIBED: return "subscribed";
    case XMPP_SUB_UNSUBSCRIBE: return "unsubscribe";
    case XMPP_SUB_UNSUBSCRIBED: return "unsubscribed";
    }
    return "subscribe";
}

const char *xmpp_sub_name(int sub)
{
    switch (sub & STORE_SUB_BOTH) {
    case STORE_SUB_TO: return "to";
    case STORE_SUB_FROM: return "from";
    case STORE_SUB_BOTH: return "both";
    default: return "none";
    }
}

static void finish(const struct xmpp_sub_state *cur, struct xmpp_sub_outcome *out)
{
    const struct xmpp_sub_state *n = &out->next;

    out->push = n->sub != cur->sub || n->ask != cur->ask || n->approved != cur->approved;
    out->changed = out->push || n->pending_in != cur->pending_in;
}

void xmpp_sub_outbound(const struct xmpp_sub_state *cur, enum xmpp_sub_type t,
                       struct xmpp_sub_outcome *out)
{
    struct xmpp_sub_state *n = &out->next;

    memset(out, 0, sizeof(*out));
    *n = *cur;
    switch (t) {
    case XMPP_SUB_SUBSCRIBE: /* A.2.1: ask unless already subscribed to */
        if (!(cur->sub & STORE_SUB_TO))
            n->ask = true;
        out->forward = true;
        break;
    case XMPP_SUB_SUBSCRIBED: /* A.2.2: approve a pending request, else pre-approve */
        if (cur->pending_in) {
            n->sub |= STORE_SUB_FROM;
            n->pending_in = false;
            n->approved = false;
            out->forward = true;
        } else if (!(cur->sub & STORE_SUB_FROM)) {
            n->approved = true;
        }
        break;
    case XMPP_SUB_UNSUBSCRIBE: /* A.2.3: cancel our subscription or request */
        n->sub &= ~STORE_SUB_TO;
        n->ask = false;
        out->forward = true;
        break;
    case XMPP_SUB_UNSUBSCRIBED: /* A.2.4: cancel theirs, deny or drop a pre-approval */
        n->sub &= ~STORE_SUB_FROM;
        n->pending_in = false;
        n->approved = false;
        out->forward = true;
        break;
    }
    finish(cur, out);
}

void xmpp_sub_inbound(const struct xmpp_sub_state *cur, enum xmpp_sub_type t,
                      struct xmpp_sub_outcome *out)
{
    struct xmpp_sub_state *n = &out->next;

    memset(out, 0, sizeof(*out));
    *n = *cur;
    switch (t) {
    case XMPP_SUB_SUBSCRIBE: /* A.3.1 */
        if (cur->sub & STORE_SUB_FROM) {
            out->auto_reply = true;
        } else if (cur->approved) {
            n->sub |= STORE_SUB_FROM;
            n->approved = false;
            out->auto_reply = true;
        } else {
            n->pending_in = true;
            out->forward = true;
        }
        break;
    case XMPP_SUB_SUBSCRIBED: /* A.3.2: only answers our pending request */
        if (cur->ask) {
            n->ask = false;
            n->sub |= STORE_SUB_TO;
            out->forward = true;
        }
        break;
    case XMPP_SUB_UNSUBSCRIBE: /* A.3.3: the contact cancels its subscription or request */
        if (cur->pending_in || (cur->sub & STORE_SUB_FROM)) {
            n->pending_in = false;
            n->sub &= ~STORE_SUB_FROM;
            out->forward = true;
        }
        break;
    case XMPP_SUB_UNSUBSCRIBED: /* A.3.4: the contact cancels or denies ours */
        if (cur->ask || (cur->sub & STORE_SUB_TO)) {
            n->ask = false;
            n->sub &= ~STORE_SUB_TO;
            out->forward = true;
        }
        break;
    }
    finish(cur, out);
}

int xmpp_roster_set_parse(struct arena *a, const struct xmpp_el *query,
                          struct xmpp_roster_set *out, const char **cond)
{
    struct xmpp_el *item = xmpp_el_child(query, NULL, NULL);
    struct xmpp_jid j;
    const char *jid, *sub, *name;
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    *cond = "bad-request";
    /* §2.3.3: exactly one item, in the roster namespace. */
    if (item == NULL || xmpp_el_next(item, NULL, NULL) != NULL || strcmp(item->name, "item") ||
        strcmp(item->ns, XMPP_NS_ROSTER))
        return TD_EINVAL;
    jid = xmpp_el_attr(item, "jid");
    if (jid == NULL)
        return TD_EINVAL;
    if (xmpp_jid_parse(a, jid, &j) != TD_OK) {
        *cond = "jid-malformed";
        return TD_EINVAL;
    }
    if (j.resource != NULL)
        return TD_EINVAL;
    out->jid = xmpp_jid_bare(a, &j);
    if (strlen(out->jid) > STORE_ROSTER_JID_MAX) {
        *cond = "not-acceptable";
        return TD_EINVAL;
    }
    sub = xmpp_el_attr(item, "subscription");
    out->remove = sub != NULL && strcmp(sub, "remove") == 0;
    if (out->remove) {
        *cond = NULL;
        return TD_OK; /* §2.5.2: the rest does not matter */
    }
    name = xmpp_el_attr(item, "name");
    if (name && strlen(name) > STORE_ROSTER_NAME_MAX) {
        *cond = "not-acceptable";
        return TD_EINVAL;
    }
    out->name = name && name[0] ? name : NULL;
    for (struct xmpp_el *g = xmpp_el_child(item, "group", XMPP_NS_ROSTER); g;
         g = xmpp_el_next(g, "group", XMPP_NS_ROSTER))
        n++;
    if (n > STORE_ROSTER_GROUPS_MAX) {
        *cond = "not-acceptable";
        return TD_EINVAL;
    }
    out->groups = arena_calloc(a, (n ? n : 1) * sizeof(char *));
    for (struct xmpp_el *g = xmpp_el_child(item, "group", XMPP_NS_ROSTER); g;
         g = xmpp_el_next(g, "group", XMPP_NS_ROSTER)) {
        size_t len;
        const char *t = xmpp_el_text(a, g, &len);
        if (len == 0 || len > STORE_ROSTER_GROUP_MAX || strlen(t) != len) {
            *cond = "not-acceptable"; /* §2.3.3: empty group */
            return TD_EINVAL;
        }
        for (size_t i = 0; i < out->ngroups; i++) {
            if (strcmp(out->groups[i], t) == 0) {
                *cond = "bad-request"; /* §2.3.3: duplicate group */
                return TD_EINVAL;
            }
        }
        out->groups[out->ngroups++] = t;
    }
    *cond = NULL;
    return TD_OK;
}

struct xmpp_el *xmpp_roster_item_el(struct arena *a, const struct store_roster_item *it,
                                    bool remove)
{
    struct xmpp_el *item = xmpp_el_new(a, "item", XMPP_NS_ROSTER);

    xmpp_el_attr_set(a, item, "jid", it->jid);
    if (remove) {
        xmpp_el_attr_set(a, item, "subscription", "remove");
        return item;
    }
    if (it->name && it->name[0])
        xmpp_el_attr_set(a, item, "name", it->name);
    xmpp_el_attr_set(a, item, "subscription", xmpp_sub_name(it->sub));
    if (it->ask)
        xmpp_el_attr_set(a, item, "ask", "subscribe");
    if (it->approved)
        xmpp_el_attr_set(a, item, "approved", "true");
    for (size_t i = 0; i < it->ngroups; i++) {
        struct xmpp_el *g = xmpp_el_child_new(a, item, "group", NULL);
        xmpp_el_text_add(a, g, it->groups[i], strlen(it->groups[i]));
    }
    return item;
}
