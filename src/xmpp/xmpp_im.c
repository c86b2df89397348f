/* SPDX-License-Identifier: MIT */
/* Instant messaging and presence for client sessions (RFC 6121): rosters
 * and presence subscriptions (§2, §3) through xmpp_roster.h's Appendix A
 * state machine on store_roster.h's rows (an outbound subscription stanza
 * updates the sender's row, then, the contact being local, runs as inbound
 * on the contact's row, with roster pushes to resources that fetched the
 * roster); presence (§4) to own resources and to from/both contacts, an
 * initial presence answered with the presence of to/both contacts, pending
 * requests and (at priority >= 0) the offline messages (XEP-0160); directed
 * presence (§4.6); messages (§8.5) to a full JID, or the most available
 * resources of a bare JID, or stored for an account with none available.
 * Modules see messages before and after routing and presence after its
 * broadcast; blocking (XEP-0191, through xmpp__blocked) silences traffic in
 * both directions. Store calls are synchronous indexed queries on the loop
 * thread. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "xmpp/xmpp_roster.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void send_str(struct xmpp_session *s, const char *stanza)
{
    xmpp__send_stanza(s, stanza, strlen(stanza));
}

/* XEP-0191 §3.3: no presence, messages or iqs between a user and a JID the
 * user blocks, in either direction. */
static bool silenced(struct xmpp_c2s *srv, const char *a_bare, const char *b_bare)
{
    return xmpp__blocked(srv, a_bare, b_bare) || xmpp__blocked(srv, b_bare, a_bare);
}

/* Roster rows copied out of store_roster_list, so that delivery (which may
 * close sessions and query the store again) runs after the listing. */
struct contact {
    char *jid;
    int sub;
    bool pending_in;
    char *stanza;
};

struct contacts {
    struct contact *v;
    size_t n, cap;
};

static int contacts_cb(void *ud, const struct store_roster_item *it)
{
    struct contacts *c = ud;

    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = td_realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n].jid = td_strdup(it->jid);
    c->v[c->n].sub = it->sub;
    c->v[c->n].pending_in = it->pending_in;
    c->v[c->n].stanza = it->pending_in && it->pending_stanza ? td_strdup(it->pending_stanza)
                                                             : NULL;
    c->n++;
    return 0;
}

static void contacts_load(struct xmpp_c2s *srv, int64_t account_id, struct contacts *c)
{
    memset(c, 0, sizeof(*c));
    if (account_id != 0)
        (void)store_roster_list(srv->store, account_id, contacts_cb, c);
}

static void contacts_free(struct contacts *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].jid);
        free(c->v[i].stanza);
    }
    free(c->v);
    memset(c, 0, sizeof(*c));
}

/* bytes (a presence of s) to the available resources of every contact with
 * a subscription from the user (RFC 6121 §4.2.2, §4.4.2). */
static void broadcast_contacts(struct xmpp_session *s, const char *bytes, size_t len)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct contacts c;

    contacts_load(s->srv, s->account_id, &c);
    for (size_t i = 0; i < c.n; i++) {
        if (!xmpp_sub_contact_gets_presence(c.v[i].sub) || strcmp(c.v[i].jid, s->bare) == 0 ||
            silenced(s->srv, s->bare, c.v[i].jid))
            continue;
        size_t n = xmpp__resources_of(s->srv, c.v[i].jid, true, NULL, rts);
        xmpp__deliver_bytes(rts, n, bytes, len);
    }
    contacts_free(&c);
}

/* The presence of from_bare's available resources (their last available
 * presence, or unavailable when !available) to to_bare's available ones. */
static void presence_between(struct xmpp_c2s *srv, const char *from_bare, const char *to_bare,
                             bool available)
{
    struct xmpp_route *src[XMPP_RESOURCES_MAX], *dst[XMPP_RESOURCES_MAX];
    size_t ns = xmpp__resources_of(srv, from_bare, true, NULL, src);
    size_t nd = xmpp__resources_of(srv, to_bare, true, NULL, dst);
    struct buf b;

    if (available && silenced(srv, from_bare, to_bare))
        return;
    for (size_t i = 0; i < ns && nd > 0; i++) {
        struct xmpp_session *o = xmpp__session_of(src[i]);
        buf_init(&b, 0);
        if (available && o->presence) {
            buf_appends(&b, o->presence);
        } else if (!available) {
            buf_appends(&b, "<presence from='");
            xmpp__esc(&b, o->full);
            buf_appends(&b, "' type='unavailable'/>");
        }
        if (b.len > 0)
            xmpp__deliver_bytes(dst, nd, b.data, b.len);
        buf_free(&b);
    }
}

void xmpp__im_presence_between(struct xmpp_c2s *srv, const char *from_bare, const char *to_bare,
                               bool available)
{
    presence_between(srv, from_bare, to_bare, available);
}

/* RFC 6121 §2.1.6: push it (or its removal) to the interested resources of bare. */
static void roster_push(struct xmpp_c2s *srv, const char *bare, const struct store_roster_item *it,
                        bool remove)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_session *t[XMPP_RESOURCES_MAX];
    size_t n = xmpp__resources_of(srv, bare, false, NULL, rts);
    struct arena *a;
    struct xmpp_el *item;
    struct buf b;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        t[i] = xmpp__session_of(rts[i]);
    a = arena_new(0);
    item = xmpp_roster_item_el(a, it, remove);
    for (size_t i = 0; i < n; i++) {
        if (!t[i]->roster_requested || !xmpp__session_writable(t[i]))
            continue;
        struct xmpp_el *iq = xmpp_el_new(a, "iq", XMPP_NS_CLIENT);
        xmpp_el_attr_set(a, iq, "type", "set");
        xmpp_el_attr_set(a, iq, "id",
                         arena_printf(a, "push%llu", (unsigned long long)++t[i]->push_seq));
        xmpp_el_attr_set(a, iq, "to", t[i]->full);
        struct xmpp_el *q = xmpp_el_child_new(a, iq, "query", XMPP_NS_ROSTER);
        xmpp_el_child_add(q, xmpp_el_copy(a, item));
        buf_init(&b, 0);
        if (xmpp_el_serialize(iq, XMPP_NS_CLIENT, &b) == TD_OK)
            xmpp__send_stanza(t[i], b.data, b.len);
        buf_free(&b);
    }
    arena_free(a);
}

/* The row of jid in the account's roster, or a fresh one (*found false). */
static void row_load(struct xmpp_c2s *srv, int64_t account_id, const char *jid,
                     struct store_roster_item *it, bool *found)
{
    *found = store_roster_get(srv->store, account_id, jid, it) == TD_OK;
    if (!*found) {
        memset(it, 0, sizeof(*it));
        it->jid = td_strdup(jid);
    }
}

static struct xmpp_sub_state state_of(const struct store_roster_item *it)
{
    struct xmpp_sub_state st = {.sub = it->sub, .ask = it->ask, .pending_in = it->pending_in,
                                .approved = it->approved};
    return st;
}

static void state_set(struct store_roster_item *it, const struct xmpp_sub_state *st)
{
    it->sub = st->sub;
    it->ask = st->ask;
    it->pending_in = st->pending_in;
    it->approved = st->approved;
    if (!it->pending_in) {
        free(it->pending_stanza);
        it->pending_stanza = NULL;
    }
}

static struct xmpp_el *sub_presence(struct arena *a, const char *from, const char *to,
                                    enum xmpp_sub_type t)
{
    struct xmpp_el *p = xmpp_el_new(a, "presence", XMPP_NS_CLIENT);

    xmpp_el_attr_set(a, p, "from", from);
    xmpp_el_attr_set(a, p, "to", to);
    xmpp_el_attr_set(a, p, "type", xmpp_sub_type_name(t));
    return p;
}

/* A subscription stanza el of type t from contact (a bare JID) reaches the
 * local user user_bare (account user_id): RFC 6121 A.3. The row is updated
 * and pushed, el delivered to the available resources when the table says
 * so; a subscribe is kept as pending-in for later presences (§3.1.3). *res
 * (may be NULL) gets the outcome. */
static void sub_inbound(struct xmpp_c2s *srv, int64_t user_id, const char *user_bare,
                        const char *contact, enum xmpp_sub_type t, struct xmpp_el *el,
                        struct xmpp_sub_outcome *res)
{
    struct store_roster_item it;
    struct xmpp_sub_outcome o;
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_sub_state cur;
    bool found;
    struct buf b;
    int rc;

    row_load(srv, user_id, contact, &it, &found);
    cur = state_of(&it);
    xmpp_sub_inbound(&cur, t, &o);
    if (o.changed || (t == XMPP_SUB_SUBSCRIBE && o.forward)) {
        state_set(&it, &o.next);
        if (t == XMPP_SUB_SUBSCRIBE && o.next.pending_in) {
            free(it.pending_stanza);
            buf_init(&b, STORE_ROSTER_STANZA_MAX);
            it.pending_stanza = xmpp_el_serialize(el, XMPP_NS_CLIENT, &b) == TD_OK
                                    ? td_strdup(b.data) : NULL;
            buf_free(&b);
        }
        rc = store_roster_put(srv->store, user_id, &it);
        if (rc != TD_OK) {
            log_info("xmpp.roster_store_failed", "jid=%s contact=%s rc=%d", log_q(user_bare),
                     log_q(contact), rc);
            memset(&o, 0, sizeof(o)); /* nothing happened */
            o.next = cur;
        } else if (o.push && it.in_roster) {
            roster_push(srv, user_bare, &it, false);
        }
    }
    if (o.forward)
        xmpp__deliver_el(rts, xmpp__resources_of(srv, user_bare, true, NULL, rts), el);
    store_roster_item_clear(&it);
    if (res)
        *res = o;
}

/* The user of s sends a subscription stanza of type t to contact (a bare
 * JID on our domain or elsewhere): RFC 6121 A.2 on the user's row, then A.3
 * on the contact's when the contact is local. p is the client's stanza, or
 * NULL for one made here (roster removal, §2.5.2); push: push the user's
 * changed item (the removal pushes its own). */
static void sub_outbound(struct xmpp_session *s, struct xmpp_el *p, const char *contact,
                         enum xmpp_sub_type t, bool push, struct arena *a)
{
    struct xmpp_c2s *srv = s->srv;
    struct store_roster_item it;
    struct xmpp_sub_outcome o, in;
    struct xmpp_sub_state cur;
    const char *clocal = xmpp__local_of(srv, a, contact);
    struct xmpp_el *el;
    int64_t cid;
    bool found;
    int rc;

    if (s->account_id == 0) {
        if (p)
            xmpp__stanza_error(s, p, "internal-server-error");
        return;
    }
    row_load(srv, s->account_id, contact, &it, &found);
    cur = state_of(&it);
    xmpp_sub_outbound(&cur, t, &o);
    if (o.changed) {
        state_set(&it, &o.next);
        /* §3.1.2, §3.1.5, §3.4.2: asking or approving puts the contact in the roster */
        if (t == XMPP_SUB_SUBSCRIBE || t == XMPP_SUB_SUBSCRIBED)
            it.in_roster = true;
        rc = store_roster_put(srv->store, s->account_id, &it);
        if (rc != TD_OK) {
            if (p)
                xmpp__stanza_error(s, p, rc == TD_ELIMIT ? "not-allowed" : "internal-server-error");
            goto out;
        }
        if (push && o.push && it.in_roster)
            roster_push(srv, s->bare, &it, false);
    }
    if (!o.forward || clocal == NULL)
        goto out; /* nothing to route, or a remote contact (no s2s) */
    el = p ? p : sub_presence(a, s->bare, contact, t);
    xmpp_el_attr_set(a, el, "from", s->bare); /* §3.1.2: stamped with the bare JID */
    xmpp_el_attr_set(a, el, "to", contact);
    cid = xmpp__account_of(srv, clocal);
    if (cid == 0) {
        /* §3.1.3: no such account; a request is answered with unsubscribed */
        if (t == XMPP_SUB_SUBSCRIBE)
            sub_inbound(srv, s->account_id, s->bare, contact, XMPP_SUB_UNSUBSCRIBED,
                        sub_presence(a, contact, s->bare, XMPP_SUB_UNSUBSCRIBED), NULL);
        goto out;
    }
    sub_inbound(srv, cid, contact, s->bare, t, el, &in);
    if (in.auto_reply) {
        /* §3.1.3: already subscribed or pre-approved: answered for the contact */
        struct xmpp_sub_outcome back;
        sub_inbound(srv, s->account_id, s->bare, contact, XMPP_SUB_SUBSCRIBED,
                    sub_presence(a, contact, s->bare, XMPP_SUB_SUBSCRIBED), &back);
        if (back.forward || in.changed)
            presence_between(srv, contact, s->bare, true);
    }
    if (t == XMPP_SUB_SUBSCRIBED && in.forward)
        presence_between(srv, s->bare, contact, true); /* §3.1.5 */
    if (t == XMPP_SUB_UNSUBSCRIBED && (cur.sub & STORE_SUB_FROM))
        presence_between(srv, s->bare, contact, false); /* §3.2.2 */
    if (t == XMPP_SUB_UNSUBSCRIBE && in.forward)
        presence_between(srv, contact, s->bare, false); /* §3.3.3 */
out:
    store_roster_item_clear(&it);
}

struct roster_list {
    struct arena *a;
    struct xmpp_el *q;
};

static int roster_list_cb(void *ud, const struct store_roster_item *it)
{
    struct roster_list *l = ud;

    if (it->in_roster)
        xmpp_el_child_add(l->q, xmpp_roster_item_el(l->a, it, false));
    return 0;
}


/* jabber:iq:roster get and set from the user (RFC 6121 §2.2, §2.3, §2.5),
 * without roster versioning (§2.6: no 'ver' in results). */
void xmpp__im_iq_roster(struct xmpp_session *s, struct xmpp_el *iq, const char *type,
                      struct xmpp_el *q, struct arena *a)
{
    struct xmpp_roster_set set;
    struct store_roster_item it;
    const char *cond;
    bool found;
    struct buf b;
    int rc;

    if (s->account_id == 0) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    if (strcmp(type, "get") == 0) {
        struct roster_list l = {.a = a};
        struct xmpp_el *res = xmpp_el_new(a, "iq", XMPP_NS_CLIENT);
        xmpp_el_attr_set(a, res, "type", "result");
        xmpp_el_attr_set(a, res, "id", xmpp_el_attr(iq, "id"));
        xmpp_el_attr_set(a, res, "to", s->full);
        l.q = xmpp_el_child_new(a, res, "query", XMPP_NS_ROSTER);
        if (store_roster_list(s->srv->store, s->account_id, roster_list_cb, &l) != TD_OK) {
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
        s->roster_requested = true;
        buf_init(&b, 0);
        if (xmpp_el_serialize(res, XMPP_NS_CLIENT, &b) == TD_OK)
            xmpp__send_stanza(s, b.data, b.len);
        buf_free(&b);
        return;
    }
    if (xmpp_roster_set_parse(a, q, &set, &cond) != TD_OK) {
        xmpp__stanza_error(s, iq, cond);
        return;
    }
    row_load(s->srv, s->account_id, set.jid, &it, &found);
    if (set.remove) {
        /* §2.5.2: cancel both directions, then drop the item */
        bool unsub = (it.sub & STORE_SUB_TO) || it.ask;
        bool unsubd = (it.sub & STORE_SUB_FROM) || it.pending_in;
        if (!found || !it.in_roster) {
            store_roster_item_clear(&it);
            xmpp__stanza_error(s, iq, "item-not-found");
            return;
        }
        if (unsub)
            sub_outbound(s, NULL, set.jid, XMPP_SUB_UNSUBSCRIBE, false, a);
        if (unsubd)
            sub_outbound(s, NULL, set.jid, XMPP_SUB_UNSUBSCRIBED, false, a);
        if (store_roster_delete(s->srv->store, s->account_id, set.jid) != TD_OK) {
            store_roster_item_clear(&it);
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
        xmpp__iq_result_empty(s, iq);
        roster_push(s->srv, s->bare, &it, true);
        store_roster_item_clear(&it);
        return;
    }
    free(it.name);
    it.name = set.name ? td_strdup(set.name) : NULL;
    for (size_t i = 0; i < it.ngroups; i++)
        free(it.groups[i]);
    free(it.groups);
    it.groups = td_calloc(set.ngroups ? set.ngroups : 1, sizeof(char *));
    for (size_t i = 0; i < set.ngroups; i++)
        it.groups[i] = td_strdup(set.groups[i]);
    it.ngroups = set.ngroups;
    it.in_roster = true;
    rc = store_roster_put(s->srv->store, s->account_id, &it);
    if (rc != TD_OK) {
        store_roster_item_clear(&it);
        /* §2.3.3: a roster over the server's size limit is not-allowed */
        xmpp__stanza_error(s, iq, rc == TD_ELIMIT ? "not-allowed"
                            : rc == TD_EINVAL ? "not-acceptable" : "internal-server-error");
        return;
    }
    xmpp__iq_result_empty(s, iq);
    roster_push(s->srv, s->bare, &it, false);
    store_roster_item_clear(&it);
}

struct offline_batch {
    struct buf out;
    int64_t last;
};

#define OFFLINE_BATCH (1024 * 1024) /* bytes of offline messages sent per presence */

static int offline_cb(void *ud, int64_t id, const char *stanza, int64_t stamp)
{
    struct offline_batch *ob = ud;
    size_t n = strlen(stanza);

    (void)stamp;
    if (ob->out.len > 0 && ob->out.len + n > OFFLINE_BATCH)
        return 1; /* the rest waits for the next presence */
    /* NUL-separated: each goes out as a stanza of its own */
    if (buf_append(&ob->out, stanza, n + 1) != TD_OK)
        return 1;
    ob->last = id;
    return 0;
}

/* XEP-0160 §3: the stored messages to this (first available, non-negative
 * priority) resource, then deleted. */
static void offline_deliver(struct xmpp_session *s)
{
    struct offline_batch ob = {.last = 0};

    buf_init(&ob.out, 0);
    if (store_offline_list(s->srv->store, s->account_id, offline_cb, &ob) == TD_OK &&
        ob.last != 0) {
        for (size_t off = 0; off < ob.out.len && !s->ended;) {
            size_t n = strlen(ob.out.data + off);
            xmpp__send_stanza(s, ob.out.data + off, n);
            off += n + 1;
        }
        (void)store_offline_delete(s->srv->store, s->account_id, ob.last);
        log_info("xmpp.offline_delivered", "jid=%s bytes=%zu", log_q(s->full), ob.out.len);
    }
    buf_free(&ob.out);
}

/* Keep a chat or normal message with a body for the local user `local`,
 * stamped with XEP-0203 delay (unless it already carries one of ours: a
 * message that came from storage and goes back). TD_EINVAL: not a message
 * to keep; else the store's answer. Shared with stream management
 * (xmpp_sm.c), which keeps the unacknowledged messages of a session that
 * was never resumed (XEP-0198 §5). */
int xmpp__im_offline_keep(struct xmpp_c2s *srv, const char *local, struct xmpp_el *msg,
                          struct arena *a)
{
    const char *type = xmpp_el_attr(msg, "type");
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    struct xmpp_el *d;
    struct buf b;
    int64_t id;
    int rc;

    if (type == NULL)
        type = "normal";
    if ((strcmp(type, "chat") && strcmp(type, "normal")) ||
        xmpp_el_child(msg, "body", XMPP_NS_CLIENT) == NULL)
        return TD_EINVAL;
    id = xmpp__account_of(srv, local);
    if (id == 0)
        return TD_ENOTFOUND;
    d = xmpp_el_child(msg, "delay", XMPP_NS_DELAY);
    if (d == NULL || xmpp_el_attr(d, "from") == NULL ||
        strcmp(xmpp_el_attr(d, "from"), srv->domain) != 0) {
        if (gmtime_r(&now, &tm) == NULL ||
            strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
            return TD_EIO;
        d = xmpp_el_child_new(a, msg, "delay", XMPP_NS_DELAY);
        xmpp_el_attr_set(a, d, "from", srv->domain);
        xmpp_el_attr_set(a, d, "stamp", stamp);
    }
    buf_init(&b, STORE_OFFLINE_STANZA_MAX);
    rc = xmpp_el_serialize(msg, XMPP_NS_CLIENT, &b);
    if (rc == TD_OK)
        rc = store_offline_add(srv->store, id, b.data, store_now_ms());
    buf_free(&b);
    return rc;
}

/* Keep a chat or normal message with a body for an offline local user.
 * Headlines, errors and bodiless messages (chat states, receipts) are
 * dropped (XEP-0160 §3 and RFC 6121 §8.5.2.2.1 leave them to the server).
 * Storage full: service-unavailable (XEP-0160 §3). */
static bool offline_store(struct xmpp_session *s, struct xmpp_el *msg, const char *local,
                          const char *type, struct arena *a)
{
    int rc;

    if ((strcmp(type, "chat") && strcmp(type, "normal")) ||
        xmpp_el_child(msg, "body", XMPP_NS_CLIENT) == NULL)
        return false;
    rc = xmpp__im_offline_keep(s->srv, local, msg, a);
    if (rc == TD_ENOTFOUND)
        return false;
    if (rc == TD_ELIMIT || rc == TD_ETOOBIG || rc == TD_EINVAL) {
        xmpp__stanza_error(s, msg, "service-unavailable");
        return false;
    }
    if (rc != TD_OK) {
        xmpp__stanza_error(s, msg, "internal-server-error");
        return false;
    }
    log_info("xmpp.offline_stored", "from=%s to=%s", log_q(s->full), log_q(local));
    return true;
}

/* After the first available presence of s (RFC 6121 §4.2.2-§4.2.3): the
 * presence of contacts the user subscribes to (the probe of §4.3, answered
 * at once as every account is local), the pending subscription requests
 * (§3.1.3), then the offline messages if the priority is non-negative. */
static void initial_presence(struct xmpp_session *s, struct arena *a)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct contacts c;

    contacts_load(s->srv, s->account_id, &c);
    for (size_t i = 0; i < c.n && !s->ended; i++) {
        if (xmpp_sub_user_gets_presence(c.v[i].sub) && strcmp(c.v[i].jid, s->bare) != 0 &&
            !silenced(s->srv, s->bare, c.v[i].jid)) {
            size_t n = xmpp__resources_of(s->srv, c.v[i].jid, true, NULL, rts);
            for (size_t k = 0; k < n; k++) {
                struct xmpp_session *o = xmpp__session_of(rts[k]);
                if (o->presence)
                    send_str(s, o->presence);
            }
        }
        if (c.v[i].pending_in) {
            if (c.v[i].stanza) {
                send_str(s, c.v[i].stanza);
            } else {
                struct buf b;
                buf_init(&b, 0);
                if (xmpp_el_serialize(sub_presence(a, c.v[i].jid, s->bare, XMPP_SUB_SUBSCRIBE),
                                      XMPP_NS_CLIENT, &b) == TD_OK)
                    xmpp__send_stanza(s, b.data, b.len);
                buf_free(&b);
            }
        }
    }
    contacts_free(&c);
    if (s->route.priority >= 0 && !s->ended)
        offline_deliver(s);
}

/* Is traffic between the user of s and bare blocked? Answers the stanza
 * when the user is the one blocking (XEP-0191 §3.3); a stanza to someone
 * who blocks the user is dropped, a message or iq request answered with
 * service-unavailable, as if the user did not exist. */
static bool check_blocked(struct xmpp_session *s, struct xmpp_el *el, const char *bare)
{
    const char *type = xmpp_el_attr(el, "type");

    if (strcmp(bare, s->bare) == 0)
        return false;
    if (xmpp__blocked(s->srv, s->bare, bare)) {
        if (!type || strcmp(type, "error") != 0)
            xmpp__stanza_error_app(s, el, "not-acceptable", "cancel",
                                   "<blocked xmlns='urn:xmpp:blocking:errors'/>");
        return true;
    }
    if (xmpp__blocked(s->srv, bare, s->bare)) {
        if (strcmp(el->name, "presence") != 0)
            xmpp__stanza_error(s, el, "service-unavailable");
        return true;
    }
    return false;
}

bool xmpp__im_check_blocked(struct xmpp_session *s, struct xmpp_el *el, const char *bare)
{
    return check_blocked(s, el, bare);
}

/* RFC 6121 §8.5 (local users only: no server-to-server yet). Only when no
 * resource of the addressee is online does the store say whether the
 * account exists. Modules see the message before delivery (message_pre) and
 * where it went (message_post: carbons, archives). */
void xmpp__im_message(struct xmpp_session *s, struct xmpp_el *msg, const struct xmpp_jid *to,
                      const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(msg, "type");
    struct xmpp_route *best[XMPP_RESOURCES_MAX];
    const char *bare;
    bool offline = false;
    size_t n = 0;

    if (type == NULL)
        type = "normal";
    if (strcmp(type, "normal") && strcmp(type, "chat") && strcmp(type, "headline") &&
        strcmp(type, "groupchat") && strcmp(type, "error")) {
        xmpp__stanza_error(s, msg, "bad-request");
        return;
    }
    if (to == NULL) { /* RFC 6120 §8.1.1.1: to the sender's bare JID */
        bare = s->bare;
        xmpp_el_attr_set(a, msg, "to", s->bare);
    } else if (strcmp(to->domain, s->srv->domain) != 0) {
        xmpp__stanza_error(s, msg, "remote-server-not-found");
        return;
    } else if (to->local == NULL) {
        xmpp__stanza_error(s, msg, "service-unavailable"); /* the server takes no messages */
        return;
    } else {
        bare = xmpp_jid_bare(a, to);
        if (to->resource) {
            struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
            if (rt) {
                best[0] = rt;
                n = 1;
            }
            /* else RFC 6121 §8.5.3.2.1: as if sent to the bare JID */
        }
        if (n == 0 && xmpp_router_resources(s->srv->router, bare) == NULL &&
            xmpp__account_of(s->srv, to->local) == 0) {
            xmpp__stanza_error(s, msg, "service-unavailable"); /* RFC 6121 §8.5.2.2 */
            return;
        }
    }
    if (check_blocked(s, msg, bare))
        return;
    if (n == 0 && strcmp(type, "error") == 0 && to && to->resource)
        return; /* an error for a resource that went away */
    if (strcmp(type, "groupchat") == 0) {
        xmpp__stanza_error(s, msg, "service-unavailable");
        return;
    }
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i]->message_pre &&
            xmpp__mods[i]->message_pre(s, (int)i, msg, bare, a) == XMPP_MOD_HANDLED)
            return;
    if (n == 0)
        n = xmpp_router_best(s->srv->router, bare, best, XMPP_RESOURCES_MAX);
    if (n == 0) /* RFC 6121 §8.5.2.2.1, XEP-0160: keep it */
        offline = offline_store(s, msg, to ? to->local : s->local, type, a);
    else
        xmpp__deliver_el(best, n, msg);
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->message_post)
            xmpp__mods[i]->message_post(s, (int)i, msg, bare, best, n, offline, a);
}

static int parse_priority(struct xmpp_session *s, struct xmpp_el *p, struct arena *a)
{
    const char *t = xmpp_el_child_text(a, p, "priority", XMPP_NS_CLIENT);
    char *end;
    long v;

    (void)s;
    if (t == NULL)
        return 0;
    errno = 0;
    v = strtol(t, &end, 10);
    if (errno || end == t || *end || v < -128 || v > 127)
        return 0;
    return (int)v;
}

void xmpp__im_presence(struct xmpp_session *s, struct xmpp_el *p, const struct xmpp_jid *to,
                            const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(p, "type");
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    size_t n;

    if (type && strcmp(type, "unavailable") && strcmp(type, "subscribe") &&
        strcmp(type, "subscribed") && strcmp(type, "unsubscribe") &&
        strcmp(type, "unsubscribed") && strcmp(type, "probe") && strcmp(type, "error")) {
        xmpp__stanza_error(s, p, "bad-request");
        return;
    }
    enum xmpp_sub_type st;
    if (xmpp_sub_type_parse(type, &st) == TD_OK) {
        /* RFC 6121 §3: subscription requests and answers. */
        if (to == NULL || to->local == NULL)
            return;
        if (strcmp(to->domain, s->srv->domain) != 0) {
            xmpp__stanza_error(s, p, "remote-server-not-found"); /* no s2s yet */
            return;
        }
        const char *contact = xmpp_jid_bare(a, to);
        if (strcmp(contact, s->bare) != 0 && !check_blocked(s, p, contact))
            sub_outbound(s, p, contact, st, true, a);
        return;
    }
    if (to) {
        /* Directed presence (RFC 6121 §4.6) to a local user's resources. */
        if (strcmp(to->domain, s->srv->domain) != 0 || to->local == NULL)
            return;
        if (type && strcmp(type, "unavailable") != 0)
            return; /* subscriptions come with rosters */
        if (check_blocked(s, p, xmpp_jid_bare(a, to)))
            return;
        if (to->resource) {
            struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
            if (rt)
                xmpp__deliver_el(&rt, 1, p);
            return;
        }
        n = xmpp__resources_of(s->srv, xmpp_jid_bare(a, to), true, NULL, rts);
        xmpp__deliver_el(rts, n, p);
        return;
    }
    if (type && strcmp(type, "unavailable") != 0)
        return; /* subscriptions, probes: next increment */
    bool was_available = s->route.available;
    if (type == NULL) {
        s->route.available = true;
        s->route.priority = parse_priority(s, p, a);
    } else {
        s->route.available = false;
    }
    if (type == NULL) /* modules may add to it first (XEP-0153 photo hash) */
        for (size_t i = 0; i < xmpp__nmods; i++)
            if (xmpp__mods[i]->presence_pre)
                xmpp__mods[i]->presence_pre(s, (int)i, p, a);
    /* RFC 6121 §4.2.2, §4.4.2: to all available resources of the user,
     * including the sender for available presence. */
    n = xmpp__resources_of(s->srv, s->bare, true, type ? &s->route : NULL, rts);
    struct buf b;
    buf_init(&b, 2 * XMPP_STANZA_MAX);
    if (xmpp_el_serialize(p, XMPP_NS_CLIENT, &b) != TD_OK) {
        buf_free(&b);
        return;
    }
    xmpp__deliver_bytes(rts, n, b.data, b.len);
    if (type == NULL || was_available)
        broadcast_contacts(s, b.data, b.len); /* RFC 6121 §4.2.2, §4.4.2 */
    free(s->presence);
    s->presence = NULL;
    if (type == NULL) {
        s->presence = td_strndup(b.data, b.len);
        if (!was_available) {
            /* The new resource learns about its siblings. */
            n = xmpp__resources_of(s->srv, s->bare, true, &s->route, rts);
            for (size_t i = 0; i < n; i++) {
                struct xmpp_session *o = xmpp__session_of(rts[i]);
                if (o->presence)
                    send_str(s, o->presence);
            }
            initial_presence(s, a);
        }
    }
    buf_free(&b);
    for (size_t i = 0; i < xmpp__nmods && !s->ended; i++)
        if (xmpp__mods[i]->presence)
            xmpp__mods[i]->presence(s, (int)i, p, type == NULL && !was_available, a);
}

/* RFC 6121 §4.5.2: a session going away while available is unavailable to
 * the user's other resources and to the contacts. */
void xmpp__im_leave_presence(struct xmpp_session *s)
{
    struct xmpp_route *to[XMPP_RESOURCES_MAX];
    struct buf b;
    size_t n;

    if (!s->route.available)
        return;
    s->route.available = false;
    n = xmpp__resources_of(s->srv, s->bare, true, NULL, to);
    buf_init(&b, 0);
    buf_appends(&b, "<presence from='");
    xmpp__esc(&b, s->full);
    buf_appends(&b, "' type='unavailable'/>");
    xmpp__deliver_bytes(to, n, b.data, b.len);
    broadcast_contacts(s, b.data, b.len);
    buf_free(&b);
}


int xmpp__deliver_local(struct xmpp_c2s *srv, struct xmpp_el *el, struct arena *a)
{
    const char *to_s = xmpp_el_attr(el, "to"), *from_s = xmpp_el_attr(el, "from");
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_jid to, from;
    const char *bare, *type;
    size_t n = 0;

    if (to_s == NULL || from_s == NULL || xmpp_jid_parse(a, to_s, &to) != TD_OK ||
        xmpp_jid_parse(a, from_s, &from) != TD_OK || to.local == NULL ||
        strcmp(to.domain, srv->domain) != 0)
        return TD_EINVAL;
    bare = xmpp_jid_bare(a, &to);
    if (xmpp__blocked(srv, bare, xmpp_jid_bare(a, &from)))
        return TD_ENOTFOUND; /* XEP-0191 §3.3: as if the user did not exist */
    if (to.resource) {
        struct xmpp_route *rt = xmpp_router_find(srv->router, xmpp_jid_full(a, &to));
        if (rt) {
            xmpp__deliver_el(&rt, 1, el);
            return TD_OK;
        }
        if (strcmp(el->name, "message") != 0)
            return TD_ENOTFOUND;
    }
    if (strcmp(el->name, "presence") == 0) {
        n = xmpp__resources_of(srv, bare, true, NULL, rts);
    } else if (strcmp(el->name, "message") == 0) {
        n = xmpp_router_best(srv->router, bare, rts, XMPP_RESOURCES_MAX);
        if (n == 0) {
            type = xmpp_el_attr(el, "type");
            if (type && strcmp(type, "groupchat") == 0)
                return TD_ENOTFOUND; /* room traffic is not kept for the offline */
            return xmpp__im_offline_keep(srv, to.local, el, a) == TD_OK ? TD_OK : TD_ENOTFOUND;
        }
    }
    if (n == 0)
        return TD_ENOTFOUND;
    xmpp__deliver_el(rts, n, el);
    return TD_OK;
}
