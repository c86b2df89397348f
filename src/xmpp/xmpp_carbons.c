/* SPDX-License-Identifier: MIT */
/* Message Carbons (XEP-0280, urn:xmpp:carbons:2): a resource turns carbons
 * on or off with an <enable/>/<disable/> iq set to the server or its own
 * bare JID (§4, §5; the state lives in the session and goes with it); the
 * server lists the feature in its disco#info (§3). After a message is
 * routed (message_post), an eligible one (§6.1: type chat; type normal with
 * a body; or any type but groupchat and error that carries chat states
 * (XEP-0085) or receipts (XEP-0184)) is copied (§7, wrapped as
 * <sent|received><forwarded xmlns='urn:xmpp:forward:0'>, XEP-0297):
 * - a <sent> copy to the sender's other carbons-enabled resources (§7.1);
 * - a <received> copy to the recipient's carbons-enabled resources the
 *   message did not go to directly (§7.2: a message to a full JID, or to a
 *   bare JID that reached only the highest-priority resources).
 * A message with <private xmlns='urn:xmpp:carbons:2'/> (§8) or the XEP-0334
 * <no-copy/> hint is not copied. Security (§11): a client could send a
 * message that carries <sent/> or <received/> to make another user's client
 * believe it is a copy; the server refuses such a message outright with
 * not-acceptable (not stripped: a client that sends one is broken or
 * hostile, and a silent edit would hide that). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"
#include "core/log.h"

#include <stdint.h>
#include <string.h>

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_RECEIPTS "urn:xmpp:receipts"

/* s->mod[slot] is non-NULL while carbons are enabled (no allocation). */
#define ENABLED ((void *)(uintptr_t)1)

static bool enabled(const struct xmpp_session *s, int slot)
{
    return s->mod[slot] == ENABLED;
}

static int carbons_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                      const struct xmpp_jid *to, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");

    if (strcmp(q->ns, NS_CARBONS) != 0)
        return XMPP_MOD_PASS;
    /* §4: addressed to the server (or, as clients do, the own account) */
    if (to != NULL && to->local != NULL && strcmp(xmpp_jid_bare(a, to), s->bare) != 0) {
        xmpp__stanza_error(s, iq, "service-unavailable");
        return XMPP_MOD_HANDLED;
    }
    if (strcmp(type, "set") != 0 || (strcmp(q->name, "enable") && strcmp(q->name, "disable"))) {
        xmpp__stanza_error(s, iq, "bad-request");
        return XMPP_MOD_HANDLED;
    }
    s->mod[slot] = strcmp(q->name, "enable") == 0 ? ENABLED : NULL;
    xmpp__iq_result_empty(s, iq);
    return XMPP_MOD_HANDLED;
}

/* §11: a client may not hand us ready-made carbons. */
static int carbons_message_pre(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                               const char *to_bare, struct arena *a)
{
    (void)slot;
    (void)to_bare;
    (void)a;
    if (xmpp_el_child(msg, "sent", NS_CARBONS) == NULL &&
        xmpp_el_child(msg, "received", NS_CARBONS) == NULL)
        return XMPP_MOD_PASS;
    log_info("xmpp.carbon_forged", "from=%s", log_q(s->full));
    xmpp__stanza_error(s, msg, "not-acceptable");
    return XMPP_MOD_HANDLED;
}

/* §6.1 eligibility, §8 and XEP-0334 opt-outs. */
static bool eligible(const struct xmpp_el *msg)
{
    const char *type = xmpp_el_attr(msg, "type");

    if (type == NULL)
        type = "normal";
    if (xmpp_el_child(msg, "private", NS_CARBONS) || xmpp_el_child(msg, "no-copy", NS_HINTS))
        return false;
    if (strcmp(type, "groupchat") == 0 || strcmp(type, "error") == 0)
        return false;
    if (strcmp(type, "chat") == 0)
        return true;
    if (strcmp(type, "normal") == 0 && xmpp_el_child(msg, "body", XMPP_NS_CLIENT))
        return true;
    return xmpp_el_child(msg, NULL, NS_CHATSTATES) || xmpp_el_child(msg, NULL, NS_RECEIPTS);
}

static bool among(struct xmpp_route *rt, struct xmpp_route **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == rt)
            return true;
    return false;
}

/* The copy of msg as `kind` (sent/received) from bare to each of t[0..n). */
static void send_copies(struct xmpp_session **t, size_t n, const char *kind,
                        const struct xmpp_el *msg, const char *bare, struct arena *a)
{
    const char *type = xmpp_el_attr(msg, "type");
    struct xmpp_el *c, *w, *f;
    struct buf b;

    if (n == 0)
        return;
    c = xmpp_el_new(a, "message", XMPP_NS_CLIENT);
    xmpp_el_attr_set(a, c, "from", bare);
    xmpp_el_attr_set(a, c, "type", type ? type : "normal");
    w = xmpp_el_child_new(a, c, kind, NS_CARBONS);
    f = xmpp_el_child_new(a, w, "forwarded", NS_FORWARD);
    xmpp_el_child_add(f, xmpp_el_copy(a, msg));
    for (size_t i = 0; i < n; i++) {
        if (!xmpp__session_writable(t[i]))
            continue;
        xmpp_el_attr_set(a, c, "to", t[i]->full);
        buf_init(&b, 2 * XMPP_STANZA_MAX);
        if (xmpp_el_serialize(c, XMPP_NS_CLIENT, &b) == TD_OK)
            xmpp__send_stanza(t[i], b.data, b.len);
        buf_free(&b);
    }
}

/* The carbons-enabled resources of bare, except s and the routes in skip. */
static size_t interested(struct xmpp_session *s, int slot, const char *bare,
                         struct xmpp_route **skip, size_t nskip, struct xmpp_session **out)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    size_t n = xmpp__resources_of(s->srv, bare, false, &s->route, rts), k = 0;

    for (size_t i = 0; i < n; i++) {
        struct xmpp_session *o = xmpp__session_of(rts[i]);
        if (enabled(o, slot) && !among(rts[i], skip, nskip))
            out[k++] = o;
    }
    return k;
}

static void carbons_message_post(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                                 const char *to_bare, struct xmpp_route **to, size_t n,
                                 bool offline, struct arena *a)
{
    struct xmpp_session *t[XMPP_RESOURCES_MAX];
    size_t k;

    (void)offline;
    if (!eligible(msg))
        return;
    /* Both sets are collected before writing: a write may end a session. */
    if (strcmp(to_bare, s->bare) != 0) {
        k = interested(s, slot, s->bare, NULL, 0, t);
        send_copies(t, k, "sent", msg, s->bare, a);
    }
    if (n > 0) { /* stored offline: the copy comes with the offline delivery */
        k = interested(s, slot, to_bare, to, n, t);
        send_copies(t, k, "received", msg, to_bare, a);
    }
}

static const char *const carbons_server_features[] = {NS_CARBONS, NULL};

const struct xmpp_mod xmpp_mod_carbons = {
    .name = "carbons",
    .server_features = carbons_server_features,
    .iq = carbons_iq,
    .message_pre = carbons_message_pre,
    .message_post = carbons_message_post,
};
