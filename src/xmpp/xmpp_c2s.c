/* SPDX-License-Identifier: MIT */
/* XMPP client sessions: see xmpp_c2s.h for the RFC sections covered. One
 * struct session per TCP connection (struct conn first), driven by the
 * sans-I/O parser of xmpp_stream.h. A stream restart (after STARTTLS or SASL
 * success, RFC 6120 §4.3.3) is requested from inside a stanza callback with
 * xmpp_stream_stop() and done after the feed returns (restart_pending); the
 * pre-authentication parser has tight limits and is replaced by a roomier
 * one after SASL success. Conn callbacks may run synchronously inside
 * conn_write/conn_close (a peer over its output limit is closed at once), so
 * delivery first collects its targets, then writes, and a session leaves the
 * router (and tells its other resources it is unavailable) exactly once, in
 * leave(). PLAIN runs argon2 on the thread pool; the pending job is detached
 * from the session when the connection goes away first. Rosters and
 * subscriptions (RFC 6121 §2, §3) use xmpp_roster.h's state machine and
 * store_roster.h's rows: an outbound subscription stanza updates the
 * sender's row, then, the contact being local, runs as inbound on the
 * contact's row, with roster pushes to resources that fetched the roster.
 * Presence goes to own resources and to from/both contacts; an initial
 * presence gets the presence of to/both contacts, pending requests and (at
 * priority >= 0) the offline messages (XEP-0160), which a chat/normal message
 * to a user with no available resource becomes. Store calls are synchronous
 * indexed queries on the loop thread. */
#include "xmpp/xmpp_c2s.h"

#include "auth/auth_password.h"
#include "auth/auth_sasl.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "net/conn.h"
#include "net/tls.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "store/store_scram.h"
#include "xmpp/xmpp_jid.h"
#include "xmpp/xmpp_roster.h"
#include "xmpp/xmpp_router.h"
#include "xmpp/xmpp_stream.h"
#include "xmpp/xmpp_xml.h"

#include <openssl/rand.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_PING "urn:xmpp:ping"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_SASL_CB "urn:xmpp:sasl-cb:0" /* XEP-0440 */
#define NS_DELAY "urn:xmpp:delay"        /* XEP-0203 */

#define NEGOTIATION_MS (30 * 1000)       /* TLS + SASL + bind must finish in this */
#define IDLE_MS (15 * 60 * 1000)         /* a bound stream silent this long is closed */
#define PREAUTH_STANZA_MAX (16 * 1024)   /* before SASL success */
#define STANZA_MAX (256 * 1024)          /* after */
#define OUT_HIGH_WATER (256 * 1024)
#define OUT_MAX (2 * 1024 * 1024)        /* a reader this far behind is dropped */
#define SASL_TRIES 5                     /* failures before the stream ends (RFC 6120 §6.4.5) */
#define RESOURCES_MAX 16                 /* bound resources per account */
#define RESOURCE_RAND_BYTES 8

struct xmpp_c2s {
    uv_loop_t *loop;
    struct listener *l;
    struct xmpp_router *router;
    struct store *store;
    struct tls_ctx *tls;
    char *domain;
    bool allow_plaintext;
};

struct plain_job;

struct session {
    struct conn conn; /* first: conn.c frees the whole block */
    struct xmpp_c2s *srv;
    struct xmpp_stream *xs;
    struct auth_sasl *sasl;
    struct plain_job *plain;    /* PLAIN check on the thread pool */
    struct xmpp_route route;    /* in srv->router once bound */
    char *local;                /* authenticated localpart (prepared) */
    char *bare;                 /* local@domain */
    char *full;                 /* bound full JID */
    char *presence;             /* last available presence, serialized (own resources) */
    int64_t account_id;         /* the account's row, looked up at bind */
    uint64_t push_seq;          /* ids of roster pushes */
    bool roster_requested;      /* an interested resource (RFC 6121 §2.1.6) */
    char lang[36];              /* xml:lang of the client's header */
    int sasl_failures;
    bool header_sent;           /* our header for the current stream */
    bool restart_pending;       /* reset the parser after this feed */
    bool starttls_pending;      /* ... and switch to TLS first */
    bool plus_offered;          /* -PLUS mechanisms were in the features */
    bool authed;
    bool bound;
    bool ended;                 /* stream closed or failed: ignore input */
    bool left;                  /* leave() has run */
};

struct plain_job {
    struct session *s; /* NULL once the session is gone */
};

static void process_pending(struct session *s);
static void iq_result_open(struct buf *b, const struct xmpp_el *iq, const char *from);
static void idle_timeout(struct conn *c);

/* ---- output helpers ---- */

/* Append s with the five XML specials escaped (attribute values and text). */
static void esc(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_appends(b, "&amp;"); break;
        case '<': buf_appends(b, "&lt;"); break;
        case '>': buf_appends(b, "&gt;"); break;
        case '\'': buf_appends(b, "&apos;"); break;
        case '"': buf_appends(b, "&quot;"); break;
        default: buf_putc(b, *s); break;
        }
    }
}

static void send_buf(struct session *s, struct buf *b)
{
    if (b->len > 0 && !conn_is_closing(&s->conn))
        (void)conn_write(&s->conn, b->data, b->len);
}

static void send_str(struct session *s, const char *str)
{
    if (!conn_is_closing(&s->conn))
        (void)conn_write(&s->conn, str, strlen(str));
}

static void send_header(struct session *s)
{
    uint8_t rnd[16];
    struct buf b;

    buf_init(&b, 0);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        memset(rnd, 0, sizeof(rnd));
    buf_appends(&b, "<?xml version='1.0'?><stream:stream xmlns='" XMPP_NS_CLIENT
                    "' xmlns:stream='" XMPP_NS_STREAMS "' id='");
    codec_hex_encode(&b, rnd, sizeof(rnd));
    buf_appends(&b, "' from='");
    esc(&b, s->srv->domain);
    buf_appends(&b, "' version='1.0' xml:lang='");
    esc(&b, s->lang[0] ? s->lang : "en");
    buf_appends(&b, "'>");
    send_buf(s, &b);
    buf_free(&b);
    s->header_sent = true;
}

/* Leave the router once: tell the other resources we went away. */
static void leave(struct session *s);

/* RFC 6120 §4.9: the error, the closing tag, then close. */
static void stream_error(struct session *s, const char *cond, const char *why)
{
    char b[256];

    if (s->ended)
        return;
    log_info("xmpp.stream_error", "conn=%llu peer=%s cond=%s why=%s",
             (unsigned long long)s->conn.id, s->conn.peer, cond, log_q(why ? why : ""));
    if (!s->header_sent)
        send_header(s);
    snprintf(b, sizeof(b),
             "<stream:error><%s xmlns='" NS_STREAM_ERR "'/></stream:error></stream:stream>", cond);
    send_str(s, b);
    s->ended = true;
    xmpp_stream_stop(s->xs);
    leave(s);
    conn_close(&s->conn);
}

static void end_stream(struct session *s)
{
    if (s->ended)
        return;
    send_str(s, "</stream:stream>");
    s->ended = true;
    xmpp_stream_stop(s->xs);
    leave(s);
    conn_close(&s->conn);
}

/* ---- stanza errors (RFC 6120 §8.3) ---- */

static const char *error_type_of(const char *cond)
{
    if (strcmp(cond, "bad-request") == 0 || strcmp(cond, "jid-malformed") == 0 ||
        strcmp(cond, "not-acceptable") == 0)
        return "modify";
    if (strcmp(cond, "resource-constraint") == 0)
        return "wait";
    if (strcmp(cond, "not-authorized") == 0 || strcmp(cond, "forbidden") == 0)
        return "auth";
    return "cancel";
}

/* Answer el with an error of condition cond, unless el is an error itself. */
static void stanza_error(struct session *s, const struct xmpp_el *el, const char *cond)
{
    const char *type = xmpp_el_attr(el, "type");
    const char *id = xmpp_el_attr(el, "id");
    const char *to = xmpp_el_attr(el, "to");
    struct buf b;

    if (type && strcmp(type, "error") == 0)
        return;
    buf_init(&b, 0);
    buf_printf(&b, "<%s type='error'", el->name);
    if (id) {
        buf_appends(&b, " id='");
        esc(&b, id);
        buf_putc(&b, '\'');
    }
    buf_appends(&b, " from='");
    esc(&b, to ? to : s->srv->domain);
    buf_appends(&b, "'");
    if (s->full) {
        buf_appends(&b, " to='");
        esc(&b, s->full);
        buf_putc(&b, '\'');
    }
    buf_printf(&b, "><error type='%s'><%s xmlns='" NS_STANZAS "'/></error></%s>",
               error_type_of(cond), cond, el->name);
    send_buf(s, &b);
    buf_free(&b);
}

/* ---- features ---- */

static bool tls_on(const struct session *s)
{
    return conn_is_tls(&s->conn);
}

static bool tls_required(const struct session *s)
{
    return !tls_on(s) && !s->srv->allow_plaintext;
}

/* Channel binding of this TLS connection: tls-exporter (RFC 9266) on TLS 1.3,
 * else tls-server-end-point (RFC 5929). false without TLS or data. */
static bool channel_binding(struct session *s, const char **type, uint8_t *out, size_t *len)
{
    if (!tls_on(s))
        return false;
    *len = TLS_CB_MAX;
    if (tls_channel_binding(s->conn.tls, "tls-exporter", out, len) == TD_OK) {
        *type = "tls-exporter";
        return true;
    }
    *len = TLS_CB_MAX;
    if (tls_channel_binding(s->conn.tls, "tls-server-end-point", out, len) == TD_OK) {
        *type = "tls-server-end-point";
        return true;
    }
    return false;
}

static bool mech_allowed(struct session *s, enum auth_sasl_mech m)
{
    const char *t;
    uint8_t cb[TLS_CB_MAX];
    size_t n;

    if (tls_required(s))
        return false;
    switch (m) {
    case AUTH_SASL_SCRAM_SHA1_PLUS:
    case AUTH_SASL_SCRAM_SHA256_PLUS:
        return channel_binding(s, &t, cb, &n);
    case AUTH_SASL_PLAIN:
        return tls_on(s) || s->srv->allow_plaintext;
    default:
        return true;
    }
}

static void send_features(struct session *s)
{
    static const enum auth_sasl_mech order[] = {
        AUTH_SASL_SCRAM_SHA256_PLUS, AUTH_SASL_SCRAM_SHA256, AUTH_SASL_SCRAM_SHA1_PLUS,
        AUTH_SASL_SCRAM_SHA1, AUTH_SASL_PLAIN,
    };
    struct buf b;

    buf_init(&b, 0);
    buf_appends(&b, "<stream:features>");
    if (s->authed) {
        buf_appends(&b, "<bind xmlns='" NS_BIND "'/>"
                        "<session xmlns='" NS_SESSION "'><optional/></session>");
    } else {
        if (!tls_on(s) && s->srv->tls) {
            buf_appends(&b, "<starttls xmlns='" NS_TLS "'>");
            if (tls_required(s))
                buf_appends(&b, "<required/>");
            buf_appends(&b, "</starttls>");
        }
        if (!tls_required(s)) {
            const char *cbt = NULL;
            uint8_t cb[TLS_CB_MAX];
            size_t n;
            s->plus_offered = false;
            buf_appends(&b, "<mechanisms xmlns='" NS_SASL "'>");
            for (size_t i = 0; i < TD_ARRAY_LEN(order); i++) {
                if (!mech_allowed(s, order[i]))
                    continue;
                if (order[i] == AUTH_SASL_SCRAM_SHA256_PLUS ||
                    order[i] == AUTH_SASL_SCRAM_SHA1_PLUS)
                    s->plus_offered = true;
                buf_printf(&b, "<mechanism>%s</mechanism>", auth_sasl_mech_name(order[i]));
            }
            buf_appends(&b, "</mechanisms>");
            if (s->plus_offered && channel_binding(s, &cbt, cb, &n))
                buf_printf(&b,
                           "<sasl-channel-binding xmlns='" NS_SASL_CB
                           "'><channel-binding type='%s'/></sasl-channel-binding>",
                           cbt);
        }
    }
    buf_appends(&b, "</stream:features>");
    send_buf(s, &b);
    buf_free(&b);
}

/* ---- routing and delivery ---- */

static struct session *session_of(struct xmpp_route *rt)
{
    return rt->data;
}

/* Write the same bytes to each target; targets were collected beforehand
 * because a write may close (and unroute) a slow reader synchronously. */
static void deliver_bytes(struct xmpp_route **to, size_t n, const char *bytes, size_t len)
{
    struct session *t[RESOURCES_MAX];

    if (n > RESOURCES_MAX)
        n = RESOURCES_MAX;
    for (size_t i = 0; i < n; i++)
        t[i] = session_of(to[i]);
    for (size_t i = 0; i < n; i++)
        if (!t[i]->ended && !conn_is_closing(&t[i]->conn))
            (void)conn_write(&t[i]->conn, bytes, len);
}

/* Serialize el once and deliver it. */
static void deliver_el(struct xmpp_route **to, size_t n, const struct xmpp_el *el)
{
    struct buf b;

    if (n == 0)
        return;
    buf_init(&b, 2 * STANZA_MAX);
    if (xmpp_el_serialize(el, XMPP_NS_CLIENT, &b) == TD_OK)
        deliver_bytes(to, n, b.data, b.len);
    buf_free(&b);
}

/* Routes of bare (optionally only the available ones), except skip. */
static size_t resources_of(struct xmpp_c2s *srv, const char *bare, bool available_only,
                           const struct xmpp_route *skip, struct xmpp_route **out)
{
    size_t n = 0;
    for (struct xmpp_route *rt = xmpp_router_resources(srv->router, bare);
         rt && n < RESOURCES_MAX; rt = xmpp_route_next(rt))
        if (rt != skip && (!available_only || rt->available))
            out[n++] = rt;
    return n;
}

static void broadcast_contacts(struct session *s, const char *bytes, size_t len);

static void leave(struct session *s)
{
    struct xmpp_route *to[RESOURCES_MAX];
    size_t n;
    char b[2200];

    if (s->left)
        return;
    s->left = true;
    if (!s->bound)
        return;
    xmpp_router_remove(s->srv->router, &s->route);
    if (s->route.available) {
        s->route.available = false;
        n = resources_of(s->srv, s->bare, true, NULL, to);
        struct buf e;
        buf_init(&e, 0);
        esc(&e, s->full);
        int len = snprintf(b, sizeof(b), "<presence from='%s' type='unavailable'/>", e.data);
        buf_free(&e);
        if (len > 0 && (size_t)len < sizeof(b)) {
            deliver_bytes(to, n, b, (size_t)len);
            broadcast_contacts(s, b, (size_t)len); /* RFC 6121 §4.5.2 */
        }
    }
    log_info("xmpp.session_ended", "conn=%llu jid=%s", (unsigned long long)s->conn.id,
             log_q(s->full));
}

/* Is local an existing, enabled account? */
static bool user_exists(struct xmpp_c2s *srv, const char *local)
{
    struct account a;
    bool ok = false;

    if (store_account_get_by_name(srv->store, local, &a) == TD_OK) {
        ok = !a.disabled;
        store_account_clear(&a);
    }
    return ok;
}

/* ---- rosters, subscriptions and offline messages (RFC 6121 §2-§4, XEP-0160) ---- */

/* The account id of an existing, enabled local user, or 0. */
static int64_t account_of(struct xmpp_c2s *srv, const char *local)
{
    struct account acc;
    int64_t id = 0;

    if (local && store_account_get_by_name(srv->store, local, &acc) == TD_OK) {
        if (!acc.disabled)
            id = acc.id;
        store_account_clear(&acc);
    }
    return id;
}

/* The localpart of a bare JID on our domain (in a), or NULL if it is not one. */
static const char *local_of(struct xmpp_c2s *srv, struct arena *a, const char *bare)
{
    struct xmpp_jid j;

    if (xmpp_jid_parse(a, bare, &j) != TD_OK || j.local == NULL || j.resource ||
        strcmp(j.domain, srv->domain) != 0)
        return NULL;
    return j.local;
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
static void broadcast_contacts(struct session *s, const char *bytes, size_t len)
{
    struct xmpp_route *rts[RESOURCES_MAX];
    struct contacts c;

    contacts_load(s->srv, s->account_id, &c);
    for (size_t i = 0; i < c.n; i++) {
        if (!xmpp_sub_contact_gets_presence(c.v[i].sub) || strcmp(c.v[i].jid, s->bare) == 0)
            continue;
        size_t n = resources_of(s->srv, c.v[i].jid, true, NULL, rts);
        deliver_bytes(rts, n, bytes, len);
    }
    contacts_free(&c);
}

/* The presence of from_bare's available resources (their last available
 * presence, or unavailable when !available) to to_bare's available ones. */
static void presence_between(struct xmpp_c2s *srv, const char *from_bare, const char *to_bare,
                             bool available)
{
    struct xmpp_route *src[RESOURCES_MAX], *dst[RESOURCES_MAX];
    size_t ns = resources_of(srv, from_bare, true, NULL, src);
    size_t nd = resources_of(srv, to_bare, true, NULL, dst);
    struct buf b;

    for (size_t i = 0; i < ns && nd > 0; i++) {
        struct session *o = session_of(src[i]);
        buf_init(&b, 0);
        if (available && o->presence) {
            buf_appends(&b, o->presence);
        } else if (!available) {
            buf_appends(&b, "<presence from='");
            esc(&b, o->full);
            buf_appends(&b, "' type='unavailable'/>");
        }
        if (b.len > 0)
            deliver_bytes(dst, nd, b.data, b.len);
        buf_free(&b);
    }
}

/* RFC 6121 §2.1.6: push it (or its removal) to the interested resources of bare. */
static void roster_push(struct xmpp_c2s *srv, const char *bare, const struct store_roster_item *it,
                        bool remove)
{
    struct xmpp_route *rts[RESOURCES_MAX];
    struct session *t[RESOURCES_MAX];
    size_t n = resources_of(srv, bare, false, NULL, rts);
    struct arena *a;
    struct xmpp_el *item;
    struct buf b;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        t[i] = session_of(rts[i]);
    a = arena_new(0);
    item = xmpp_roster_item_el(a, it, remove);
    for (size_t i = 0; i < n; i++) {
        if (!t[i]->roster_requested || t[i]->ended || conn_is_closing(&t[i]->conn))
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
            (void)conn_write(&t[i]->conn, b.data, b.len);
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
    struct xmpp_route *rts[RESOURCES_MAX];
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
        deliver_el(rts, resources_of(srv, user_bare, true, NULL, rts), el);
    store_roster_item_clear(&it);
    if (res)
        *res = o;
}

/* The user of s sends a subscription stanza of type t to contact (a bare
 * JID on our domain or elsewhere): RFC 6121 A.2 on the user's row, then A.3
 * on the contact's when the contact is local. p is the client's stanza, or
 * NULL for one made here (roster removal, §2.5.2); push: push the user's
 * changed item (the removal pushes its own). */
static void sub_outbound(struct session *s, struct xmpp_el *p, const char *contact,
                         enum xmpp_sub_type t, bool push, struct arena *a)
{
    struct xmpp_c2s *srv = s->srv;
    struct store_roster_item it;
    struct xmpp_sub_outcome o, in;
    struct xmpp_sub_state cur;
    const char *clocal = local_of(srv, a, contact);
    struct xmpp_el *el;
    int64_t cid;
    bool found;
    int rc;

    if (s->account_id == 0) {
        if (p)
            stanza_error(s, p, "internal-server-error");
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
                stanza_error(s, p, rc == TD_ELIMIT ? "not-allowed" : "internal-server-error");
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
    cid = account_of(srv, clocal);
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

static void iq_result_empty(struct session *s, const struct xmpp_el *iq)
{
    struct buf b;

    buf_init(&b, 0);
    iq_result_open(&b, iq, NULL);
    buf_appends(&b, "/>");
    send_buf(s, &b);
    buf_free(&b);
}

/* jabber:iq:roster get and set from the user (RFC 6121 §2.2, §2.3, §2.5),
 * without roster versioning (§2.6: no 'ver' in results). */
static void roster_iq(struct session *s, struct xmpp_el *iq, const char *type,
                      struct xmpp_el *q, struct arena *a)
{
    struct xmpp_roster_set set;
    struct store_roster_item it;
    const char *cond;
    bool found;
    struct buf b;
    int rc;

    if (s->account_id == 0) {
        stanza_error(s, iq, "internal-server-error");
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
            stanza_error(s, iq, "internal-server-error");
            return;
        }
        s->roster_requested = true;
        buf_init(&b, 0);
        if (xmpp_el_serialize(res, XMPP_NS_CLIENT, &b) == TD_OK)
            send_buf(s, &b);
        buf_free(&b);
        return;
    }
    if (xmpp_roster_set_parse(a, q, &set, &cond) != TD_OK) {
        stanza_error(s, iq, cond);
        return;
    }
    row_load(s->srv, s->account_id, set.jid, &it, &found);
    if (set.remove) {
        /* §2.5.2: cancel both directions, then drop the item */
        bool unsub = (it.sub & STORE_SUB_TO) || it.ask;
        bool unsubd = (it.sub & STORE_SUB_FROM) || it.pending_in;
        if (!found || !it.in_roster) {
            store_roster_item_clear(&it);
            stanza_error(s, iq, "item-not-found");
            return;
        }
        if (unsub)
            sub_outbound(s, NULL, set.jid, XMPP_SUB_UNSUBSCRIBE, false, a);
        if (unsubd)
            sub_outbound(s, NULL, set.jid, XMPP_SUB_UNSUBSCRIBED, false, a);
        if (store_roster_delete(s->srv->store, s->account_id, set.jid) != TD_OK) {
            store_roster_item_clear(&it);
            stanza_error(s, iq, "internal-server-error");
            return;
        }
        iq_result_empty(s, iq);
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
        stanza_error(s, iq, rc == TD_ELIMIT ? "not-allowed"
                            : rc == TD_EINVAL ? "not-acceptable" : "internal-server-error");
        return;
    }
    iq_result_empty(s, iq);
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
    if (buf_append(&ob->out, stanza, n) != TD_OK)
        return 1;
    ob->last = id;
    return 0;
}

/* XEP-0160 §3: the stored messages to this (first available, non-negative
 * priority) resource, then deleted. */
static void offline_deliver(struct session *s)
{
    struct offline_batch ob = {.last = 0};

    buf_init(&ob.out, 0);
    if (store_offline_list(s->srv->store, s->account_id, offline_cb, &ob) == TD_OK &&
        ob.last != 0) {
        send_buf(s, &ob.out);
        (void)store_offline_delete(s->srv->store, s->account_id, ob.last);
        log_info("xmpp.offline_delivered", "jid=%s bytes=%zu", log_q(s->full), ob.out.len);
    }
    buf_free(&ob.out);
}

/* Keep a chat or normal message with a body for an offline local user,
 * stamped with XEP-0203 delay. Headlines, errors and bodiless messages (chat
 * states, receipts) are dropped (XEP-0160 §3 and RFC 6121 §8.5.2.2.1 leave
 * them to the server). Storage full: service-unavailable (XEP-0160 §3). */
static void offline_store(struct session *s, struct xmpp_el *msg, const char *local,
                          const char *type, struct arena *a)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    struct xmpp_el *d;
    struct buf b;
    int64_t id;
    int rc;

    if ((strcmp(type, "chat") && strcmp(type, "normal")) ||
        xmpp_el_child(msg, "body", XMPP_NS_CLIENT) == NULL)
        return;
    id = account_of(s->srv, local);
    if (id == 0)
        return;
    if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return;
    d = xmpp_el_child_new(a, msg, "delay", NS_DELAY);
    xmpp_el_attr_set(a, d, "from", s->srv->domain);
    xmpp_el_attr_set(a, d, "stamp", stamp);
    buf_init(&b, STORE_OFFLINE_STANZA_MAX);
    rc = xmpp_el_serialize(msg, XMPP_NS_CLIENT, &b);
    if (rc == TD_OK)
        rc = store_offline_add(s->srv->store, id, b.data, store_now_ms());
    buf_free(&b);
    if (rc == TD_ELIMIT || rc == TD_ETOOBIG || rc == TD_EINVAL)
        stanza_error(s, msg, "service-unavailable");
    else if (rc != TD_OK)
        stanza_error(s, msg, "internal-server-error");
    else
        log_info("xmpp.offline_stored", "from=%s to=%s", log_q(s->full), log_q(local));
}

/* After the first available presence of s (RFC 6121 §4.2.2-§4.2.3): the
 * presence of contacts the user subscribes to (the probe of §4.3, answered
 * at once as every account is local), the pending subscription requests
 * (§3.1.3), then the offline messages if the priority is non-negative. */
static void initial_presence(struct session *s, struct arena *a)
{
    struct xmpp_route *rts[RESOURCES_MAX];
    struct contacts c;

    contacts_load(s->srv, s->account_id, &c);
    for (size_t i = 0; i < c.n && !s->ended; i++) {
        if (xmpp_sub_user_gets_presence(c.v[i].sub) && strcmp(c.v[i].jid, s->bare) != 0) {
            size_t n = resources_of(s->srv, c.v[i].jid, true, NULL, rts);
            for (size_t k = 0; k < n; k++) {
                struct session *o = session_of(rts[k]);
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
                    send_buf(s, &b);
                buf_free(&b);
            }
        }
    }
    contacts_free(&c);
    if (s->route.priority >= 0 && !s->ended)
        offline_deliver(s);
}

/* ---- SASL ---- */

static int get_scram(void *ud, const char *authcid, enum auth_scram_hash h,
                     struct auth_scram_cred *out)
{
    struct session *s = ud;
    char *cred = NULL;
    int rc;

    rc = store_scram_get(s->srv->store, authcid, auth_scram_hash_name(h), &cred, NULL);
    if (rc == TD_OK) {
        rc = auth_scram_cred_parse(cred, out) == TD_OK ? TD_OK : TD_ENOTFOUND;
        free(cred);
    }
    return rc == TD_ENOTFOUND || rc == TD_OK ? rc : TD_EIO;
}

static void sasl_result(struct session *s, int rc, struct buf *out, bool done,
                        const char *condition);

static void plain_checked(void *ud, bool ok, const char *hash_unused)
{
    struct plain_job *job = ud;
    struct session *s = job->s;
    struct buf out;
    bool done = false;
    const char *cond = NULL;
    int rc;

    (void)hash_unused;
    free(job);
    if (s == NULL)
        return; /* the connection went away meanwhile */
    s->plain = NULL;
    conn_resume_read(&s->conn);
    if (s->ended || s->sasl == NULL)
        return;
    auth_sasl_plain_result(s->sasl, ok);
    buf_init(&out, 0);
    rc = auth_sasl_step(s->sasl, NULL, 0, &out, &done, &cond);
    sasl_result(s, rc, &out, done, cond);
    buf_free(&out);
    process_pending(s);
}

static int check_plain(void *ud, const char *authcid, const char *password, size_t len)
{
    struct session *s = ud;
    struct account a;
    struct plain_job *job;
    int rc;

    job = td_calloc(1, sizeof(*job));
    job->s = s;
    if (store_account_get_by_name(s->srv->store, authcid, &a) == TD_OK && !a.disabled &&
        a.password_hash)
        rc = auth_password_verify_async(s->srv->loop, a.password_hash, password, len,
                                        plain_checked, job);
    else
        rc = auth_password_dummy_async(s->srv->loop, password, len, plain_checked, job);
    store_account_clear(&a);
    if (rc != TD_OK) {
        free(job);
        return rc == TD_EINVAL ? TD_EDENIED : TD_EIO;
    }
    s->plain = job;
    conn_pause_read(&s->conn);
    return TD_EAGAIN;
}

/* The authzid may be the authcid or its bare JID. */
static int check_authzid(void *ud, const char *authcid, const char *authzid)
{
    struct session *s = ud;
    size_t n = strlen(authcid);

    if (strcasecmp(authcid, authzid) == 0)
        return TD_OK;
    if (strncasecmp(authzid, authcid, n) == 0 && authzid[n] == '@' &&
        strcasecmp(authzid + n + 1, s->srv->domain) == 0)
        return TD_OK;
    return TD_EDENIED;
}

static const struct auth_sasl_cbs sasl_cbs = {
    .get_scram = get_scram,
    .check_plain = check_plain,
    .check_authzid = check_authzid,
};

static void sasl_failure(struct session *s, const char *cond)
{
    char b[160];

    snprintf(b, sizeof(b), "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    send_str(s, b);
    auth_sasl_free(s->sasl);
    s->sasl = NULL;
    if (++s->sasl_failures >= SASL_TRIES)
        stream_error(s, "policy-violation", "too many SASL failures");
}

static void sasl_result(struct session *s, int rc, struct buf *out, bool done,
                        const char *condition)
{
    struct buf b;

    if (rc == TD_EAGAIN)
        return;
    if (rc != TD_OK) {
        log_info("xmpp.auth_failed", "conn=%llu peer=%s cond=%s", (unsigned long long)s->conn.id,
                 s->conn.peer, condition ? condition : "?");
        sasl_failure(s, condition ? condition : "temporary-auth-failure");
        return;
    }
    buf_init(&b, 0);
    if (!done) {
        buf_appends(&b, "<challenge xmlns='" NS_SASL "'>");
        codec_b64_encode(&b, out->data, out->len);
        buf_appends(&b, "</challenge>");
        send_buf(s, &b);
        buf_free(&b);
        return;
    }
    struct arena *a = arena_new(0);
    const char *local = xmpp_jid_local_prep(a, auth_sasl_authcid(s->sasl));
    if (local == NULL) { /* cannot happen for a stored account name */
        arena_free(a);
        buf_free(&b);
        sasl_failure(s, "not-authorized");
        return;
    }
    if (out->len) {
        buf_appends(&b, "<success xmlns='" NS_SASL "'>");
        codec_b64_encode(&b, out->data, out->len);
        buf_appends(&b, "</success>");
    } else {
        buf_appends(&b, "<success xmlns='" NS_SASL "'/>");
    }
    send_buf(s, &b);
    buf_free(&b);
    s->local = td_strdup(local);
    arena_free(a);
    size_t bl = strlen(s->local) + strlen(s->srv->domain) + 2;
    s->bare = td_malloc(bl);
    snprintf(s->bare, bl, "%s@%s", s->local, s->srv->domain);
    s->authed = true;
    auth_sasl_free(s->sasl);
    s->sasl = NULL;
    log_info("xmpp.authenticated", "conn=%llu peer=%s user=%s", (unsigned long long)s->conn.id,
             s->conn.peer, log_q(s->local));
    xmpp_stream_stop(s->xs);
    s->restart_pending = true;
}

static void handle_sasl(struct session *s, struct xmpp_el *el, struct arena *a)
{
    uint8_t msg[AUTH_SASL_MSG_MAX];
    size_t msg_len = 0;
    const char *text;
    size_t text_len;
    struct buf out;
    bool done = false;
    const char *cond = NULL;
    int rc;

    if (s->authed) {
        stream_error(s, "policy-violation", "SASL after authentication");
        return;
    }
    if (s->plain) {
        stream_error(s, "policy-violation", "SASL while a check is pending");
        return;
    }
    if (strcmp(el->name, "abort") == 0) {
        sasl_failure(s, "aborted");
        return;
    }
    if (strcmp(el->name, "auth") == 0) {
        enum auth_sasl_mech m;
        const char *mech = xmpp_el_attr(el, "mechanism");
        if (tls_required(s)) {
            sasl_failure(s, "encryption-required");
            return;
        }
        if (mech == NULL || auth_sasl_mech_parse(mech, &m) != TD_OK || !mech_allowed(s, m)) {
            sasl_failure(s, "invalid-mechanism");
            return;
        }
        const char *cbt = NULL;
        uint8_t cb[TLS_CB_MAX];
        size_t cbn = 0;
        if (!channel_binding(s, &cbt, cb, &cbn)) {
            cbt = NULL;
            cbn = 0;
        }
        auth_sasl_free(s->sasl);
        s->sasl = auth_sasl_new(m, &sasl_cbs, s, cbt, cb, cbn, s->plus_offered);
    } else if (strcmp(el->name, "response") != 0 || s->sasl == NULL) {
        sasl_failure(s, "malformed-request");
        return;
    }
    text = xmpp_el_text(a, el, &text_len);
    if (text_len == 1 && text[0] == '=') /* RFC 6120 §6.4.2: empty response */
        text_len = 0;
    if (text_len > 0 && codec_b64_decode(text, text_len, msg, sizeof(msg), &msg_len) != TD_OK) {
        sasl_failure(s, text_len > 4 * (sizeof(msg) / 3 + 1) ? "malformed-request"
                                                             : "incorrect-encoding");
        return;
    }
    buf_init(&out, 0);
    rc = auth_sasl_step(s->sasl, (const char *)msg, msg_len, &out, &done, &cond);
    sasl_result(s, rc, &out, done, cond);
    buf_free(&out);
    memset(msg, 0, sizeof(msg));
}

/* ---- bind (RFC 6120 §7) ---- */

static void iq_result_open(struct buf *b, const struct xmpp_el *iq, const char *from)
{
    const char *id = xmpp_el_attr(iq, "id");
    buf_appends(b, "<iq type='result'");
    if (id) {
        buf_appends(b, " id='");
        esc(b, id);
        buf_putc(b, '\'');
    }
    if (from) {
        buf_appends(b, " from='");
        esc(b, from);
        buf_putc(b, '\'');
    }
}

static void handle_bind(struct session *s, struct xmpp_el *iq, struct xmpp_el *bind,
                        struct arena *a)
{
    const char *res = xmpp_el_child_text(a, bind, "resource", NS_BIND);
    struct xmpp_jid j;
    struct xmpp_route *old = NULL;
    struct xmpp_route *mine[RESOURCES_MAX];
    const char *full;
    struct buf b;

    if (res == NULL || res[0] == '\0') {
        uint8_t rnd[RESOURCE_RAND_BYTES];
        struct buf r;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            stanza_error(s, iq, "internal-server-error");
            return;
        }
        buf_init(&r, 0);
        buf_appends(&r, "tandem-");
        codec_hex_encode(&r, rnd, sizeof(rnd));
        res = arena_strdup(a, r.data);
        buf_free(&r);
    }
    if (xmpp_jid_parse(a, arena_printf(a, "%s/%s", s->bare, res), &j) != TD_OK ||
        j.resource == NULL) {
        stanza_error(s, iq, "bad-request");
        return;
    }
    full = xmpp_jid_full(a, &j);
    if (resources_of(s->srv, s->bare, false, NULL, mine) >= RESOURCES_MAX &&
        xmpp_router_find(s->srv->router, full) == NULL) {
        stanza_error(s, iq, "resource-constraint");
        return;
    }
    s->full = td_strdup(full);
    s->route.full = s->full;
    s->route.bare_len = strlen(s->bare);
    s->route.data = s;
    if (xmpp_router_add(s->srv->router, &s->route, &old) == TD_EEXIST) {
        /* RFC 6120 §7.7.2.2: the new session wins, the old one is ended. */
        struct session *o = session_of(old);
        log_info("xmpp.resource_conflict", "jid=%s old=%llu new=%llu", log_q(full),
                 (unsigned long long)o->conn.id, (unsigned long long)s->conn.id);
        stream_error(o, "conflict", "resource replaced");
        xmpp_router_remove(s->srv->router, old); /* if leave() did not run yet */
        if (xmpp_router_add(s->srv->router, &s->route, NULL) != TD_OK) {
            free(s->full);
            s->full = NULL;
            stanza_error(s, iq, "conflict");
            return;
        }
    }
    s->bound = true;
    s->account_id = account_of(s->srv, s->local);
    conn_timer_set(&s->conn, IDLE_MS, idle_timeout);
    buf_init(&b, 0);
    iq_result_open(&b, iq, NULL);
    buf_appends(&b, "><bind xmlns='" NS_BIND "'><jid>");
    esc(&b, s->full);
    buf_appends(&b, "</jid></bind></iq>");
    send_buf(s, &b);
    buf_free(&b);
    log_info("xmpp.bound", "conn=%llu jid=%s", (unsigned long long)s->conn.id, log_q(s->full));
}

/* ---- stanzas after bind ---- */

static bool is_server(const struct session *s, const struct xmpp_jid *to)
{
    return to->local == NULL && to->resource == NULL && strcmp(to->domain, s->srv->domain) == 0;
}

static void handle_iq_server(struct session *s, struct xmpp_el *iq, const char *type,
                             const char *from)
{
    struct xmpp_el *q = xmpp_el_child(iq, NULL, NULL);
    struct buf b;

    if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0)
        return; /* answers to nothing we asked */
    buf_init(&b, 0);
    if (strcmp(type, "get") == 0 && strcmp(q->name, "ping") == 0 &&
        strcmp(q->ns, NS_PING) == 0) {
        iq_result_open(&b, iq, from);
        buf_appends(&b, "/>");
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, NS_DISCO_INFO) == 0 && from == NULL) {
        if (xmpp_el_attr(q, "node")) {
            stanza_error(s, iq, "item-not-found");
            buf_free(&b);
            return;
        }
        iq_result_open(&b, iq, s->srv->domain);
        buf_appends(&b, "><query xmlns='" NS_DISCO_INFO "'>"
                        "<identity category='server' type='im' name='Tandem'/>"
                        "<feature var='" NS_DISCO_INFO "'/>"
                        "<feature var='" NS_PING "'/>"
                        "<feature var='msgoffline'/>"
                        "</query></iq>");
    } else {
        stanza_error(s, iq, "service-unavailable");
        buf_free(&b);
        return;
    }
    send_buf(s, &b);
    buf_free(&b);
}

static void handle_iq(struct session *s, struct xmpp_el *iq, const struct xmpp_jid *to,
                      const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    bool request;
    struct xmpp_el *first;

    if (type == NULL || (strcmp(type, "get") && strcmp(type, "set") && strcmp(type, "result") &&
                         strcmp(type, "error"))) {
        stanza_error(s, iq, "bad-request");
        return;
    }
    request = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
    first = xmpp_el_child(iq, NULL, NULL);
    /* RFC 6120 §8.2.3: an id always; get/set carry exactly one child. */
    if (xmpp_el_attr(iq, "id") == NULL ||
        (request && (first == NULL || xmpp_el_next(first, NULL, NULL) != NULL))) {
        stanza_error(s, iq, "bad-request");
        return;
    }
    /* RFC 6121 §2.1.5: the roster, addressed to no one or the own bare JID */
    if (request && strcmp(first->name, "query") == 0 && strcmp(first->ns, XMPP_NS_ROSTER) == 0 &&
        (to == NULL || (to->resource == NULL && strcmp(to_s, s->bare) == 0))) {
        roster_iq(s, iq, type, first, a);
        return;
    }
    if (to == NULL || is_server(s, to)) {
        handle_iq_server(s, iq, type, NULL);
        return;
    }
    if (strcmp(to->domain, s->srv->domain) != 0) {
        if (request)
            stanza_error(s, iq, "remote-server-not-found");
        return;
    }
    if (to->resource && to->local) {
        struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
        if (rt) {
            deliver_el(&rt, 1, iq);
            return;
        }
        if (request)
            stanza_error(s, iq, "service-unavailable");
        return;
    }
    if (to->local && to->resource == NULL) {
        /* RFC 6121 §8.5.1: the server answers for the account. Ping to our
         * own bare JID is answered; the rest is not supported yet. */
        if (request && strcmp(to_s, s->bare) == 0 && strcmp(first->name, "ping") == 0 &&
            strcmp(first->ns, NS_PING) == 0) {
            handle_iq_server(s, iq, type, s->bare);
            return;
        }
        if (request)
            stanza_error(s, iq, "service-unavailable");
        return;
    }
    if (request)
        stanza_error(s, iq, "service-unavailable");
}

static void handle_message(struct session *s, struct xmpp_el *msg, const struct xmpp_jid *to,
                           const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(msg, "type");
    struct xmpp_route *best[RESOURCES_MAX];
    const char *bare;
    size_t n;

    if (type == NULL)
        type = "normal";
    if (strcmp(type, "normal") && strcmp(type, "chat") && strcmp(type, "headline") &&
        strcmp(type, "groupchat") && strcmp(type, "error")) {
        stanza_error(s, msg, "bad-request");
        return;
    }
    if (to == NULL) { /* RFC 6120 §8.1.1.1: to the sender's bare JID */
        bare = s->bare;
        xmpp_el_attr_set(a, msg, "to", s->bare);
    } else if (strcmp(to->domain, s->srv->domain) != 0) {
        stanza_error(s, msg, "remote-server-not-found");
        return;
    } else if (to->local == NULL) {
        stanza_error(s, msg, "service-unavailable"); /* the server takes no messages */
        return;
    } else {
        if (to->resource) {
            struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
            if (rt) {
                deliver_el(&rt, 1, msg);
                return;
            }
            /* RFC 6121 §8.5.3.2.1: as if sent to the bare JID */
        }
        bare = xmpp_jid_bare(a, to);
        if (!user_exists(s->srv, to->local)) {
            stanza_error(s, msg, "service-unavailable"); /* RFC 6121 §8.5.2.2 */
            return;
        }
    }
    if (strcmp(type, "error") == 0 && to && to->resource)
        return; /* an error for a resource that went away */
    if (strcmp(type, "groupchat") == 0) {
        stanza_error(s, msg, "service-unavailable");
        return;
    }
    n = xmpp_router_best(s->srv->router, bare, best, RESOURCES_MAX);
    if (n == 0) { /* RFC 6121 §8.5.2.2.1, XEP-0160: keep it */
        offline_store(s, msg, to ? to->local : s->local, type, a);
        return;
    }
    deliver_el(best, n, msg);
}

static int parse_priority(struct session *s, struct xmpp_el *p, struct arena *a)
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

static void handle_presence(struct session *s, struct xmpp_el *p, const struct xmpp_jid *to,
                            const char *to_s, struct arena *a)
{
    const char *type = xmpp_el_attr(p, "type");
    struct xmpp_route *rts[RESOURCES_MAX];
    size_t n;

    if (type && strcmp(type, "unavailable") && strcmp(type, "subscribe") &&
        strcmp(type, "subscribed") && strcmp(type, "unsubscribe") &&
        strcmp(type, "unsubscribed") && strcmp(type, "probe") && strcmp(type, "error")) {
        stanza_error(s, p, "bad-request");
        return;
    }
    enum xmpp_sub_type st;
    if (xmpp_sub_type_parse(type, &st) == TD_OK) {
        /* RFC 6121 §3: subscription requests and answers. */
        if (to == NULL || to->local == NULL)
            return;
        if (strcmp(to->domain, s->srv->domain) != 0) {
            stanza_error(s, p, "remote-server-not-found"); /* no s2s yet */
            return;
        }
        const char *contact = xmpp_jid_bare(a, to);
        if (strcmp(contact, s->bare) != 0)
            sub_outbound(s, p, contact, st, true, a);
        return;
    }
    if (to) {
        /* Directed presence (RFC 6121 §4.6) to a local user's resources. */
        if (strcmp(to->domain, s->srv->domain) != 0 || to->local == NULL)
            return;
        if (type && strcmp(type, "unavailable") != 0)
            return; /* subscriptions come with rosters */
        if (to->resource) {
            struct xmpp_route *rt = xmpp_router_find(s->srv->router, to_s);
            if (rt)
                deliver_el(&rt, 1, p);
            return;
        }
        n = resources_of(s->srv, xmpp_jid_bare(a, to), true, NULL, rts);
        deliver_el(rts, n, p);
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
    /* RFC 6121 §4.2.2, §4.4.2: to all available resources of the user,
     * including the sender for available presence. */
    n = resources_of(s->srv, s->bare, true, type ? &s->route : NULL, rts);
    struct buf b;
    buf_init(&b, 2 * STANZA_MAX);
    if (xmpp_el_serialize(p, XMPP_NS_CLIENT, &b) != TD_OK) {
        buf_free(&b);
        return;
    }
    deliver_bytes(rts, n, b.data, b.len);
    if (type == NULL || was_available)
        broadcast_contacts(s, b.data, b.len); /* RFC 6121 §4.2.2, §4.4.2 */
    free(s->presence);
    s->presence = NULL;
    if (type == NULL) {
        s->presence = td_strndup(b.data, b.len);
        if (!was_available) {
            /* The new resource learns about its siblings. */
            n = resources_of(s->srv, s->bare, true, &s->route, rts);
            for (size_t i = 0; i < n; i++) {
                struct session *o = session_of(rts[i]);
                if (o->presence)
                    send_str(s, o->presence);
            }
            initial_presence(s, a);
        }
    }
    buf_free(&b);
}

static void handle_stanza(struct session *s, struct xmpp_el *el, struct arena *a)
{
    const char *to_attr = xmpp_el_attr(el, "to");
    struct xmpp_jid to;
    const char *to_s = NULL;

    /* RFC 6120 §8.1.2.1: the server stamps the sender's full JID. */
    xmpp_el_attr_set(a, el, "from", s->full);
    if (to_attr) {
        if (xmpp_jid_parse(a, to_attr, &to) != TD_OK) {
            stanza_error(s, el, "jid-malformed");
            return;
        }
        to_s = xmpp_jid_full(a, &to);
        xmpp_el_attr_set(a, el, "to", to_s);
    }
    if (strcmp(el->name, "iq") == 0)
        handle_iq(s, el, to_attr ? &to : NULL, to_s, a);
    else if (strcmp(el->name, "message") == 0)
        handle_message(s, el, to_attr ? &to : NULL, to_s, a);
    else
        handle_presence(s, el, to_attr ? &to : NULL, to_s, a);
}

/* ---- parser callbacks ---- */

static void on_stream_open(void *ud, const struct xmpp_el *h)
{
    struct session *s = ud;
    const char *to = xmpp_el_attr(h, "to");
    const char *ver = xmpp_el_attr(h, "version");
    const char *lang = xmpp_el_attr_ns(h, XMPP_NS_XML, "lang");

    s->lang[0] = '\0';
    if (lang && strlen(lang) < sizeof(s->lang) && strspn(lang, "abcdefghijklmnopqrstuvwxyz"
                                                              "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                              "0123456789-") == strlen(lang))
        snprintf(s->lang, sizeof(s->lang), "%s", lang);
    if (to && strcasecmp(to, s->srv->domain) != 0) {
        stream_error(s, "host-unknown", to);
        return;
    }
    /* RFC 6120 §4.7.5: no version or a major version other than 1. */
    if (ver == NULL || strncmp(ver, "1.", 2) != 0) {
        stream_error(s, "unsupported-version", ver ? ver : "none");
        return;
    }
    send_header(s);
    send_features(s);
}

static void on_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct session *s = ud;

    if (s->ended)
        goto out;
    if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
        if (tls_on(s) || s->srv->tls == NULL || s->authed) {
            send_str(s, "<failure xmlns='" NS_TLS "'/></stream:stream>");
            s->ended = true;
            xmpp_stream_stop(s->xs);
            conn_close(&s->conn);
            goto out;
        }
        send_str(s, "<proceed xmlns='" NS_TLS "'/>");
        xmpp_stream_stop(s->xs);
        s->restart_pending = true;
        s->starttls_pending = true;
        goto out;
    }
    if (strcmp(el->ns, NS_SASL) == 0) {
        handle_sasl(s, el, a);
        goto out;
    }
    if (!s->authed) {
        stream_error(s, "not-authorized", el->name);
        goto out;
    }
    if (strcmp(el->ns, XMPP_NS_CLIENT) != 0 ||
        (strcmp(el->name, "iq") && strcmp(el->name, "message") && strcmp(el->name, "presence"))) {
        stream_error(s, "unsupported-stanza-type", el->name);
        goto out;
    }
    if (!s->bound) {
        struct xmpp_el *c = xmpp_el_child(el, NULL, NULL);
        const char *type = xmpp_el_attr(el, "type");
        if (strcmp(el->name, "iq") != 0 || c == NULL || type == NULL ||
            strcmp(type, "set") != 0) {
            stream_error(s, "not-authorized", "stanza before bind");
            goto out;
        }
        if (strcmp(c->name, "bind") == 0 && strcmp(c->ns, NS_BIND) == 0)
            handle_bind(s, el, c, a);
        else
            stanza_error(s, el, "not-authorized");
        goto out;
    }
    {
        struct xmpp_el *c = xmpp_el_child(el, NULL, NULL);
        if (strcmp(el->name, "iq") == 0 && c && strcmp(c->ns, NS_SESSION) == 0) {
            struct buf b; /* RFC 3921 session establishment: a no-op now */
            buf_init(&b, 0);
            iq_result_open(&b, el, NULL);
            buf_appends(&b, "/>");
            send_buf(s, &b);
            buf_free(&b);
            goto out;
        }
        if (strcmp(el->name, "iq") == 0 && c && strcmp(c->ns, NS_BIND) == 0) {
            stanza_error(s, el, "not-allowed"); /* one resource per stream */
            goto out;
        }
    }
    handle_stanza(s, el, a);
out:
    arena_free(a);
}

static void on_stream_close(void *ud)
{
    end_stream(ud);
}

static void on_stream_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    stream_error(ud, xmpp_stream_error_name(cond), text);
}

static const struct xmpp_stream_cbs stream_cbs = {
    .on_open = on_stream_open,
    .on_stanza = on_stanza,
    .on_close = on_stream_close,
    .on_error = on_stream_error,
};

/* Tight limits before authentication, roomier ones after. */
static struct xmpp_stream *new_parser(bool authed, struct session *s)
{
    struct xmpp_stream_limits lim = {0};

    lim.max_stanza_bytes = authed ? STANZA_MAX : PREAUTH_STANZA_MAX;
    lim.max_tag_bytes = authed ? 16 * 1024 : 8 * 1024;
    lim.max_depth = authed ? 32 : 8;
    return xmpp_stream_new(&lim, &stream_cbs, s);
}

/* ---- conn callbacks ---- */

static void negotiation_timeout(struct conn *c)
{
    struct session *s = (struct session *)c;
    if (!s->bound)
        stream_error(s, "connection-timeout", "negotiation took too long");
}

static void idle_timeout(struct conn *c)
{
    stream_error((struct session *)c, "connection-timeout", "idle");
}

static int c2s_open(struct conn *c)
{
    struct session *s = (struct session *)c;

    s->srv = listener_data(c->listener);
    s->xs = new_parser(false, s);
    conn_timer_set(c, NEGOTIATION_MS, negotiation_timeout);
    return 0;
}

/* After a feed (or an asynchronous SASL answer): restart the stream if asked. */
static void process_pending(struct session *s)
{
    if (!s->restart_pending || s->ended)
        return;
    s->restart_pending = false;
    if (s->starttls_pending) {
        s->starttls_pending = false;
        if (conn_start_tls(&s->conn, s->srv->tls) != TD_OK) {
            s->ended = true;
            conn_close(&s->conn);
            return;
        }
    }
    s->header_sent = false;
    if (s->authed) {
        /* Roomier limits once authenticated. */
        xmpp_stream_free(s->xs);
        s->xs = new_parser(true, s);
    } else {
        xmpp_stream_reset(s->xs);
    }
}

static void c2s_data(struct conn *c, const char *data, size_t len)
{
    struct session *s = (struct session *)c;

    if (s->ended)
        return;
    if (s->bound)
        conn_timer_set(c, IDLE_MS, idle_timeout);
    (void)xmpp_stream_feed(s->xs, data, len);
    process_pending(s);
}

static void c2s_eof(struct conn *c)
{
    struct session *s = (struct session *)c;
    s->ended = true;
    leave(s);
    conn_close(c);
}

static void c2s_close(struct conn *c)
{
    struct session *s = (struct session *)c;

    s->ended = true;
    leave(s);
    if (s->plain) {
        s->plain->s = NULL; /* the job frees itself */
        s->plain = NULL;
    }
}

static void c2s_free(struct conn *c)
{
    struct session *s = (struct session *)c;

    xmpp_stream_free(s->xs);
    auth_sasl_free(s->sasl);
    free(s->local);
    free(s->bare);
    free(s->full);
    free(s->presence);
}

static const struct conn_ops c2s_ops = {
    .on_open = c2s_open,
    .on_data = c2s_data,
    .on_eof = c2s_eof,
    .on_close = c2s_close,
    .on_free = c2s_free,
};

/* ---- server ---- */

int xmpp_c2s_start(uv_loop_t *loop, const struct xmpp_c2s_opts *o, struct xmpp_c2s **out,
                   char **err)
{
    struct xmpp_c2s *srv;
    struct listener_opts lo = {0};
    int rc;

    *out = NULL;
    if (o->tls == NULL && !o->allow_plaintext) {
        *err = td_strdup("xmpp: STARTTLS needs a TLS context (or allow_plaintext)");
        return TD_EINVAL;
    }
    srv = td_calloc(1, sizeof(*srv));
    srv->loop = loop;
    srv->store = o->store;
    srv->tls = o->tls;
    srv->allow_plaintext = o->allow_plaintext;
    srv->domain = td_strdup(o->domain);
    srv->router = xmpp_router_new();
    lo.host = o->host;
    lo.port = o->port;
    lo.session_size = sizeof(struct session);
    lo.ops = &c2s_ops;
    lo.max_conns = o->max_conns;
    lo.max_conns_per_ip = o->max_conns_per_ip;
    lo.out_high_water = OUT_HIGH_WATER;
    lo.out_max = OUT_MAX;
    lo.data = srv;
    lo.name = "xmpp";
    rc = listener_start(loop, &lo, &srv->l, err);
    if (rc != TD_OK) {
        xmpp_router_free(srv->router);
        free(srv->domain);
        free(srv);
        return rc;
    }
    *out = srv;
    return TD_OK;
}

int xmpp_c2s_port(const struct xmpp_c2s *s)
{
    return listener_port(s->l);
}

struct listener *xmpp_c2s_listener(const struct xmpp_c2s *s)
{
    return s->l;
}

size_t xmpp_c2s_session_count(const struct xmpp_c2s *s)
{
    return xmpp_router_count(s->router);
}

static void shutdown_one(struct conn *c, void *ud)
{
    (void)ud;
    stream_error((struct session *)c, "system-shutdown", "server stopping");
}

void xmpp_c2s_shutdown(struct xmpp_c2s *s)
{
    listener_stop(s->l);
    listener_foreach(s->l, shutdown_one, NULL);
}

void xmpp_c2s_close(struct xmpp_c2s *s)
{
    if (s == NULL || s->l == NULL)
        return;
    listener_free(s->l);
    s->l = NULL;
}

void xmpp_c2s_free(struct xmpp_c2s *s)
{
    if (s == NULL)
        return;
    xmpp_c2s_close(s);
    xmpp_router_free(s->router);
    free(s->domain);
    free(s);
}
