/* SPDX-License-Identifier: MIT */
/* Personal Eventing Protocol (XEP-0163): a pubsub service (XEP-0060) at
 * every account's bare JID, in the subset clients use for avatars
 * (XEP-0084), nicknames (XEP-0172) and any other node name:
 *
 * - publish (XEP-0060 §7.1) by the owner, auto-creating the node (XEP-0163
 *   §3), with publish-options (§7.1.5): pubsub#access_model presence (the
 *   default, XEP-0163 §4.1), open or whitelist (owner only),
 *   pubsub#max_items 1 (default) to STORE_PEP_MAX_ITEMS or "max", and
 *   pubsub#persist_items (items are always kept); other fields are ignored.
 *   On an existing node an option that differs is conflict +
 *   precondition-not-met (§7.1.5), which clients answer by reconfiguring
 *   (owner configure, §8.2) or by publishing without options;
 * - create (§8.1) with the same options, retract (§7.2, notify='true'
 *   notifies), items (§6.5: all, the newest max_items, or by id) for the
 *   owner and anyone the access model lets in (presence: a contact with a
 *   subscription from the owner, else not-authorized +
 *   presence-subscription-required, §6.5.9.2; whitelist: not-allowed +
 *   closed-node); owner delete (§8.4) and configure get/set (§8.2) for
 *   access_model and max_items;
 * - notifications (XEP-0163 §4.3) as headline messages to the owner's
 *   available resources and those of contacts with a subscription from the
 *   owner, filtered by the +notify features in each resource's entity
 *   capabilities (XEP-0163 §4.3.2, filtered notifications); the last
 *   published item of each node goes to a resource when its capabilities
 *   become known after an available presence (XEP-0163 §4.3.3).
 *
 * Capabilities: a presence with <c hash ver node/> (XEP-0115) is looked up
 * in a server-wide cache by hash and ver; on a miss the server asks the
 * resource for disco#info at node#ver (one query per resource in flight),
 * computes the ver of the answer (xmpp_caps.h) and trusts and caches the
 * features only if it matches (§5.4). Legacy caps without hash and
 * unsupported hashes are not trusted: that resource gets no notifications.
 *
 * Not done: explicit subscriptions (subscribe, §6.1: feature-not-implemented
 * as PEP subscriptions are implicit), the last item on a new presence
 * subscription (it is sent at the contact's next available presence),
 * collection nodes, item expiry. Limits: STORE_PEP_NODES_MAX nodes,
 * STORE_PEP_MAX_ITEMS items per node, STORE_PEP_PAYLOAD_MAX per payload and
 * STORE_PEP_BYTES_MAX per account (store_xmpp.h). */
#include "xmpp/xmpp_c2s_int.h"
#include "xmpp/xmpp_caps.h"

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "store/store_xmpp.h"

#include <openssl/rand.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS_PUBSUB "http://jabber.org/protocol/pubsub"
#define NS_PUBSUB_OWNER "http://jabber.org/protocol/pubsub#owner"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_PUBSUB_ERRORS "http://jabber.org/protocol/pubsub#errors"
#define NS_DATA "jabber:x:data"
#define FORM_PUBLISH_OPTIONS NS_PUBSUB "#publish-options"
#define FORM_NODE_CONFIG NS_PUBSUB "#node_config"

#define CAPS_CACHE_MAX 512  /* distinct (hash, ver) kept */
#define NOTIFY_MAX 256      /* +notify features kept per ver */
#define ITEMS_BY_ID_MAX 100 /* <item id/> asked in one items request */
#define BUCKETS 128

struct caps_entry {
    struct caps_entry *next;
    char *key; /* "hash ver" */
    char **notify;
    size_t n;
};

struct pep_srv {
    struct caps_entry *b[BUCKETS];
    size_t count;
    uint64_t seq; /* ids of queries and notifications */
};

struct pep_sess {
    char *key;       /* the trusted "hash ver" of this resource, or NULL */
    char **notify;   /* its +notify node names */
    size_t n;
    char pending_id[32]; /* the disco#info asked for, "" if none */
    char *pending_key;
};

/* ---- caps cache ---- */

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **strv_copy(char *const *v, size_t n)
{
    char **out = td_calloc(n ? n : 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = td_strdup(v[i]);
    return out;
}

static void cache_clear(struct pep_srv *ps)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        while (ps->b[i]) {
            struct caps_entry *e = ps->b[i];
            ps->b[i] = e->next;
            strv_free(e->notify, e->n);
            free(e->key);
            free(e);
        }
    }
    ps->count = 0;
}

static struct caps_entry *cache_find(struct pep_srv *ps, const char *key)
{
    for (struct caps_entry *e = ps->b[hash_str(key) % BUCKETS]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void cache_add(struct pep_srv *ps, const char *key, char **notify, size_t n)
{
    unsigned h = hash_str(key) % BUCKETS;
    struct caps_entry *e;

    if (cache_find(ps, key))
        return;
    if (ps->count >= CAPS_CACHE_MAX)
        cache_clear(ps); /* sessions keep their own copies */
    e = td_calloc(1, sizeof(*e));
    e->key = td_strdup(key);
    e->notify = strv_copy(notify, n);
    e->n = n;
    e->next = ps->b[h];
    ps->b[h] = e;
    ps->count++;
}

static struct pep_sess *sess_of(struct xmpp_session *s, int slot)
{
    if (s->mod[slot] == NULL)
        s->mod[slot] = td_calloc(1, sizeof(struct pep_sess));
    return s->mod[slot];
}

static bool wants(const struct xmpp_session *s, int slot, const char *node)
{
    const struct pep_sess *ps = s->mod[slot];

    if (ps == NULL || ps->key == NULL)
        return false;
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->notify[i], node) == 0)
            return true;
    return false;
}

/* ---- output ---- */

static const char *error_type(const char *cond)
{
    if (strcmp(cond, "bad-request") == 0 || strcmp(cond, "not-acceptable") == 0 ||
        strcmp(cond, "jid-malformed") == 0)
        return "modify";
    if (strcmp(cond, "not-authorized") == 0 || strcmp(cond, "forbidden") == 0)
        return "auth";
    if (strcmp(cond, "resource-constraint") == 0)
        return "wait";
    return "cancel";
}

/* A stanza error with a pubsub#errors condition (XEP-0060 §7.1.3 etc.). */
static void pubsub_error(struct xmpp_session *s, const struct xmpp_el *iq, const char *cond,
                         const char *app, const char *feature)
{
    const char *id = xmpp_el_attr(iq, "id");
    const char *to = xmpp_el_attr(iq, "to");
    struct buf b;

    if (app == NULL) {
        xmpp__stanza_error(s, iq, cond);
        return;
    }
    buf_init(&b, 0);
    buf_appends(&b, "<iq type='error' id='");
    xmpp__esc(&b, id ? id : "");
    buf_appends(&b, "' from='");
    xmpp__esc(&b, to ? to : s->bare);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, s->full);
    buf_printf(&b, "'><error type='%s'><%s xmlns='" XMPP_NS_STANZAS "'/><%s xmlns='"
                   NS_PUBSUB_ERRORS "'", error_type(cond), cond, app);
    if (feature)
        buf_printf(&b, " feature='%s'", feature);
    buf_appends(&b, "/></error></iq>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

/* An event message body (after the opening tag) into b. */
static void event_items(struct buf *b, const char *node, const char *item_id,
                        const char *payload, bool retract)
{
    buf_appends(b, "<event xmlns='" NS_PUBSUB_EVENT "'><items node='");
    xmpp__esc(b, node);
    buf_appends(b, "'>");
    buf_appends(b, retract ? "<retract id='" : "<item id='");
    xmpp__esc(b, item_id);
    if (retract) {
        buf_appends(b, "'/>");
    } else {
        buf_appends(b, "'>");
        buf_appends(b, payload); /* stored serialized with its xmlns */
        buf_appends(b, "</item>");
    }
    buf_appends(b, "</items></event>");
}

/* The event (body as from event_items) from owner to session t. */
static void send_event(struct xmpp_c2s *srv, int slot, struct xmpp_session *t, const char *owner,
                       const char *body, size_t body_len)
{
    struct pep_srv *ps = srv->mod[slot];
    struct buf b;

    if (!xmpp__session_writable(t))
        return;
    buf_init(&b, 0);
    buf_appends(&b, "<message type='headline' from='");
    xmpp__esc(&b, owner);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, t->full);
    buf_printf(&b, "' id='pep%llu'>", (unsigned long long)++ps->seq);
    buf_append(&b, body, body_len);
    buf_appends(&b, "</message>");
    xmpp__send_stanza(t, b.data, b.len);
    buf_free(&b);
}

struct bares {
    char **v;
    size_t n, cap;
};

static void bares_add(struct bares *l, const char *jid)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = td_realloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = td_strdup(jid);
}

struct roster_pick {
    struct bares *out;
    int bit; /* STORE_SUB_FROM or STORE_SUB_TO */
};

static int roster_pick_cb(void *ud, const struct store_roster_item *it)
{
    struct roster_pick *p = ud;

    if (it->sub & p->bit)
        bares_add(p->out, it->jid);
    return 0;
}

/* The roster contacts of account_id whose subscription has bit. */
static void contacts_with(struct xmpp_c2s *srv, int64_t account_id, int bit, struct bares *out)
{
    struct roster_pick p = {.out = out, .bit = bit};

    memset(out, 0, sizeof(*out));
    (void)store_roster_list(srv->store, account_id, roster_pick_cb, &p);
}

/* §4.3: a notification of node (body) from owner to the owner's available
 * resources and, unless access is whitelist, the available resources of
 * contacts with a subscription from the owner, all filtered by +notify. */
static void notify_all(struct xmpp_session *s, int slot, const char *node, int access,
                       const char *body, size_t len)
{
    struct xmpp_c2s *srv = s->srv;
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_session *t[XMPP_RESOURCES_MAX];
    struct bares c = {0};
    size_t n;

    if (access != STORE_PEP_WHITELIST)
        contacts_with(srv, s->account_id, STORE_SUB_FROM, &c);
    bares_add(&c, s->bare);
    for (size_t k = 0; k < c.n; k++) {
        if (strcmp(c.v[k], s->bare) != 0 &&
            (xmpp__blocked(srv, s->bare, c.v[k]) || xmpp__blocked(srv, c.v[k], s->bare)))
            continue;
        n = xmpp__resources_of(srv, c.v[k], true, NULL, rts);
        for (size_t i = 0; i < n; i++)
            t[i] = xmpp__session_of(rts[i]);
        for (size_t i = 0; i < n; i++)
            if (wants(t[i], slot, node))
                send_event(srv, slot, t[i], s->bare, body, len);
    }
    strv_free(c.v, c.n);
}

/* ---- last items when a resource's caps become known (§4.3.3) ---- */

struct last_ctx {
    struct xmpp_c2s *srv;
    int slot;
    struct xmpp_session *t;
    const char *owner;
    int64_t owner_id;
    bool own;
    struct bares nodes;
};

static int last_node_cb(void *ud, const struct store_pep_node *n)
{
    struct last_ctx *lc = ud;

    if ((lc->own || n->access != STORE_PEP_WHITELIST) && wants(lc->t, lc->slot, n->node))
        bares_add(&lc->nodes, n->node);
    return 0;
}

struct one_item {
    char *id;
    char *payload;
};

static int one_item_cb(void *ud, const char *id, const char *payload, int64_t at)
{
    struct one_item *it = ud;

    (void)at;
    it->id = td_strdup(id);
    it->payload = td_strdup(payload);
    return 1;
}

static void send_last_of(struct xmpp_c2s *srv, int slot, struct xmpp_session *t,
                         const char *owner, bool own)
{
    struct last_ctx lc = {.srv = srv, .slot = slot, .t = t, .owner = owner, .own = own};
    struct buf b;

    lc.owner_id = own ? t->account_id : 0;
    if (!own) {
        const char *at = strchr(owner, '@');
        char local[XMPP_JID_PART_MAX + 1];
        size_t n = at ? (size_t)(at - owner) : 0;
        if (at == NULL || n == 0 || n > XMPP_JID_PART_MAX || strcmp(at + 1, srv->domain) != 0)
            return;
        memcpy(local, owner, n);
        local[n] = '\0';
        lc.owner_id = xmpp__account_of(srv, local);
    }
    if (lc.owner_id == 0)
        return;
    (void)store_pep_node_list(srv->store, lc.owner_id, last_node_cb, &lc);
    for (size_t i = 0; i < lc.nodes.n && !t->ended; i++) {
        struct one_item it = {0};
        if (store_pep_items_latest(srv->store, lc.owner_id, lc.nodes.v[i], 1, one_item_cb, &it) ==
                TD_OK &&
            it.id) {
            buf_init(&b, 0);
            event_items(&b, lc.nodes.v[i], it.id, it.payload, false);
            send_event(srv, slot, t, owner, b.data, b.len);
            buf_free(&b);
        }
        free(it.id);
        free(it.payload);
    }
    strv_free(lc.nodes.v, lc.nodes.n);
}

/* The resource t now has trusted caps: the last items it is interested in,
 * of its own account and of the contacts it has a subscription to. */
static void send_last_items(struct xmpp_c2s *srv, int slot, struct xmpp_session *t)
{
    struct bares c;

    send_last_of(srv, slot, t, t->bare, true);
    contacts_with(srv, t->account_id, STORE_SUB_TO, &c);
    for (size_t i = 0; i < c.n && !t->ended; i++)
        if (strcmp(c.v[i], t->bare) != 0 && !xmpp__blocked(srv, t->bare, c.v[i]) &&
            !xmpp__blocked(srv, c.v[i], t->bare))
            send_last_of(srv, slot, t, c.v[i], false);
    strv_free(c.v, c.n);
}

static void sess_trust(struct pep_sess *ps, const char *key, char *const *notify, size_t n)
{
    free(ps->key);
    strv_free(ps->notify, ps->n);
    ps->key = td_strdup(key);
    ps->notify = strv_copy(notify, n);
    ps->n = n;
}

/* XEP-0115 §5.4 on an available presence of s: cached, or asked. */
static void pep_presence(struct xmpp_session *s, int slot, struct xmpp_el *p, bool initial,
                         struct arena *a)
{
    struct pep_srv *srv_state = s->srv->mod[slot];
    struct xmpp_el *c;
    const char *hash, *ver, *node, *key;
    struct pep_sess *ps;
    struct caps_entry *e;
    struct buf b;

    if (xmpp_el_attr(p, "type") != NULL || xmpp_el_attr(p, "to") != NULL)
        return;
    c = xmpp_el_child(p, "c", XMPP_NS_CAPS);
    hash = c ? xmpp_el_attr(c, "hash") : NULL;
    ver = c ? xmpp_el_attr(c, "ver") : NULL;
    node = c ? xmpp_el_attr(c, "node") : NULL;
    ps = sess_of(s, slot);
    if (hash == NULL || ver == NULL || node == NULL || strlen(ver) > XMPP_CAPS_VER_MAX ||
        strlen(node) > STORE_PEP_NODE_NAME_MAX ||
        (strcmp(hash, "sha-1") != 0 && strcmp(hash, "sha-256") != 0))
        return; /* no caps we can verify: no notifications (§5.4) */
    key = arena_printf(a, "%s %s", hash, ver);
    if (ps->key && strcmp(ps->key, key) == 0) {
        if (initial)
            send_last_items(s->srv, slot, s);
        return;
    }
    e = cache_find(srv_state, key);
    if (e) {
        sess_trust(ps, key, e->notify, e->n);
        send_last_items(s->srv, slot, s);
        return;
    }
    if (ps->pending_key && strcmp(ps->pending_key, key) == 0)
        return; /* already asked */
    free(ps->pending_key);
    ps->pending_key = td_strdup(key);
    snprintf(ps->pending_id, sizeof(ps->pending_id), "pepcaps%llu",
             (unsigned long long)++srv_state->seq);
    buf_init(&b, 0);
    buf_appends(&b, "<iq type='get' from='");
    xmpp__esc(&b, s->srv->domain);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, s->full);
    buf_printf(&b, "' id='%s'><query xmlns='" XMPP_NS_DISCO_INFO "' node='", ps->pending_id);
    xmpp__esc(&b, node);
    buf_putc(&b, '#');
    xmpp__esc(&b, ver);
    buf_appends(&b, "'/></iq>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

/* The answer to our disco#info: verified (§5.4), cached, trusted. */
static int pep_iq_response(struct xmpp_session *s, int slot, struct xmpp_el *iq,
                           struct arena *a)
{
    struct pep_srv *srv_state = s->srv->mod[slot];
    struct pep_sess *ps = s->mod[slot];
    const char *id = xmpp_el_attr(iq, "id");
    const char *type = xmpp_el_attr(iq, "type");
    struct xmpp_el *q;
    char *notify[NOTIFY_MAX];
    size_t n = 0;
    const char *sp;
    char hash[16];
    struct buf v;
    int rc;

    if (ps == NULL || ps->pending_id[0] == '\0' || id == NULL || strcmp(id, ps->pending_id) != 0)
        return XMPP_MOD_PASS;
    ps->pending_id[0] = '\0';
    q = xmpp_el_child(iq, "query", XMPP_NS_DISCO_INFO);
    sp = strchr(ps->pending_key, ' ');
    if (strcmp(type, "result") != 0 || q == NULL || sp == NULL ||
        (size_t)(sp - ps->pending_key) >= sizeof(hash))
        goto out;
    memcpy(hash, ps->pending_key, (size_t)(sp - ps->pending_key));
    hash[sp - ps->pending_key] = '\0';
    buf_init(&v, 0);
    rc = xmpp_caps_ver_of_query(a, q, hash, &v);
    if (rc != TD_OK || strcmp(v.data ? v.data : "", sp + 1) != 0) {
        log_info("xmpp.caps_mismatch", "jid=%s claimed=%s", log_q(s->full), log_q(sp + 1));
        buf_free(&v);
        goto out;
    }
    buf_free(&v);
    for (struct xmpp_el *f = xmpp_el_child(q, "feature", XMPP_NS_DISCO_INFO);
         f && n < NOTIFY_MAX; f = xmpp_el_next(f, "feature", XMPP_NS_DISCO_INFO)) {
        const char *var = xmpp_el_attr(f, "var");
        size_t len = var ? strlen(var) : 0;
        if (len > 7 && strcmp(var + len - 7, "+notify") == 0)
            notify[n++] = arena_strndup(a, var, len - 7);
    }
    cache_add(srv_state, ps->pending_key, notify, n);
    sess_trust(ps, ps->pending_key, notify, n);
    free(ps->pending_key);
    ps->pending_key = NULL;
    send_last_items(s->srv, slot, s);
    return XMPP_MOD_HANDLED;
out:
    free(ps->pending_key);
    ps->pending_key = NULL;
    return XMPP_MOD_HANDLED;
}

/* ---- node options (publish-options, create/configure forms) ---- */

struct opts {
    int access;    /* -1: not given */
    int max_items; /* 0: not given */
};

/* Read a data form's fields into o; a condition and app condition on error. */
static const char *opts_parse(struct arena *a, const struct xmpp_el *x, const char *form_type,
                              struct opts *o, const char **app)
{
    o->access = -1;
    o->max_items = 0;
    *app = NULL;
    if (x == NULL)
        return NULL;
    for (struct xmpp_el *f = xmpp_el_child(x, "field", NS_DATA); f;
         f = xmpp_el_next(f, "field", NS_DATA)) {
        const char *var = xmpp_el_attr(f, "var");
        const char *val = xmpp_el_child_text(a, f, "value", NS_DATA);
        if (var == NULL)
            continue;
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (val == NULL || (strcmp(val, form_type) != 0 &&
                                strcmp(val, FORM_NODE_CONFIG) != 0))
                return "bad-request";
        } else if (strcmp(var, "pubsub#access_model") == 0 && val) {
            if (strcmp(val, "presence") == 0)
                o->access = STORE_PEP_PRESENCE;
            else if (strcmp(val, "open") == 0)
                o->access = STORE_PEP_OPEN;
            else if (strcmp(val, "whitelist") == 0)
                o->access = STORE_PEP_WHITELIST;
            else {
                *app = "unsupported-access-model";
                return "not-acceptable";
            }
        } else if (strcmp(var, "pubsub#max_items") == 0 && val) {
            char *end;
            long v;
            if (strcmp(val, "max") == 0) {
                o->max_items = STORE_PEP_MAX_ITEMS;
                continue;
            }
            errno = 0;
            v = strtol(val, &end, 10);
            if (errno || end == val || *end || v < 1)
                return "bad-request";
            if (v > STORE_PEP_MAX_ITEMS)
                return "not-acceptable"; /* more than the server keeps */
            o->max_items = (int)v;
        }
        /* pubsub#persist_items and the rest: items are always kept, the
         * other options have one fixed behaviour */
    }
    return NULL;
}

static const char *access_name(int access)
{
    return access == STORE_PEP_OPEN ? "open" : access == STORE_PEP_WHITELIST ? "whitelist"
                                                                             : "presence";
}

/* ---- owner requests ---- */

static bool bad_node(const char *node)
{
    return node == NULL || node[0] == '\0' || strlen(node) > STORE_PEP_NODE_NAME_MAX;
}

static void result_empty_from(struct xmpp_session *s, struct xmpp_el *iq)
{
    struct buf b;
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, NULL);
    buf_appends(&b, "/>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

static void publish(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *ps_el,
                    struct xmpp_el *pub, struct arena *a)
{
    const char *node = xmpp_el_attr(pub, "node");
    struct xmpp_el *item = xmpp_el_child(pub, "item", NS_PUBSUB);
    struct xmpp_el *po = xmpp_el_child(ps_el, "publish-options", NS_PUBSUB);
    struct xmpp_el *payload = NULL;
    struct store_pep_node cur;
    const char *cond, *app, *id;
    struct opts o;
    struct buf b;
    size_t npayload = 0;
    int rc;

    if (bad_node(node)) {
        pubsub_error(s, iq, "bad-request", "nodeid-required", NULL);
        return;
    }
    if (item == NULL || xmpp_el_next(item, "item", NS_PUBSUB) != NULL) {
        pubsub_error(s, iq, "bad-request", item ? "invalid-payload" : "item-required", NULL);
        return;
    }
    for (struct xmpp_el *c = xmpp_el_child(item, NULL, NULL); c; c = xmpp_el_next(c, NULL, NULL))
        if (npayload++ == 0)
            payload = c;
    if (payload == NULL) {
        pubsub_error(s, iq, "bad-request", "payload-required", NULL);
        return;
    }
    if (npayload > 1 || payload->ns[0] == '\0') {
        pubsub_error(s, iq, "bad-request", "invalid-payload", NULL);
        return;
    }
    id = xmpp_el_attr(item, "id");
    if (id == NULL || id[0] == '\0') {
        uint8_t rnd[8];
        struct buf r;
        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
        buf_init(&r, 0);
        codec_hex_encode(&r, rnd, sizeof(rnd));
        id = arena_strdup(a, r.data);
        buf_free(&r);
    } else if (strlen(id) > STORE_PEP_ITEM_ID_MAX) {
        xmpp__stanza_error(s, iq, "not-acceptable");
        return;
    }
    cond = opts_parse(a, po ? xmpp_el_child(po, "x", NS_DATA) : NULL, FORM_PUBLISH_OPTIONS, &o,
                      &app);
    if (cond) {
        pubsub_error(s, iq, cond, app, NULL);
        return;
    }
    buf_init(&b, STORE_PEP_PAYLOAD_MAX);
    if (xmpp_el_serialize(payload, NULL, &b) != TD_OK) {
        buf_free(&b);
        pubsub_error(s, iq, "not-acceptable", "payload-too-big", NULL);
        return;
    }
    rc = store_pep_node_get(s->srv->store, s->account_id, node, &cur);
    if (rc == TD_OK && ((o.access >= 0 && o.access != cur.access) ||
                        (o.max_items > 0 && o.max_items != cur.max_items))) {
        buf_free(&b);
        pubsub_error(s, iq, "conflict", "precondition-not-met", NULL); /* §7.1.5 */
        return;
    }
    if (rc == TD_ENOTFOUND) { /* XEP-0163 §3: auto-create */
        cur.node = node;
        cur.access = o.access >= 0 ? o.access : STORE_PEP_PRESENCE;
        cur.max_items = o.max_items > 0 ? o.max_items : 1;
        rc = store_pep_node_put(s->srv->store, s->account_id, &cur);
        if (rc == TD_ELIMIT) {
            buf_free(&b);
            pubsub_error(s, iq, "not-allowed", "max-nodes-exceeded", NULL);
            return;
        }
    }
    if (rc == TD_OK)
        rc = store_pep_item_publish(s->srv->store, s->account_id, node, id, b.data,
                                    store_now_ms());
    if (rc != TD_OK) {
        buf_free(&b);
        if (rc == TD_ELIMIT)
            xmpp__stanza_error(s, iq, "resource-constraint"); /* the account's bytes */
        else
            xmpp__stanza_error(s, iq, rc == TD_EINVAL ? "not-acceptable" : "internal-server-error");
        return;
    }
    {
        struct buf r;
        buf_init(&r, 0);
        xmpp__iq_result_open(&r, iq, NULL);
        buf_appends(&r, "><pubsub xmlns='" NS_PUBSUB "'><publish node='");
        xmpp__esc(&r, node);
        buf_appends(&r, "'><item id='");
        xmpp__esc(&r, id);
        buf_appends(&r, "'/></publish></pubsub></iq>");
        xmpp__send_stanza(s, r.data, r.len);
        buf_free(&r);
    }
    {
        struct buf ev;
        buf_init(&ev, 0);
        event_items(&ev, node, id, b.data, false);
        notify_all(s, slot, node, cur.access, ev.data, ev.len);
        buf_free(&ev);
    }
    buf_free(&b);
}

static void create(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *ps_el,
                   struct xmpp_el *cr, struct arena *a)
{
    const char *node = xmpp_el_attr(cr, "node");
    struct xmpp_el *cfg = xmpp_el_child(ps_el, "configure", NS_PUBSUB);
    struct store_pep_node cur;
    const char *cond, *app;
    struct opts o;
    int rc;

    if (bad_node(node)) {
        pubsub_error(s, iq, "not-acceptable", "nodeid-required", NULL); /* no instant nodes */
        return;
    }
    cond = opts_parse(a, cfg ? xmpp_el_child(cfg, "x", NS_DATA) : NULL, FORM_NODE_CONFIG, &o,
                      &app);
    if (cond) {
        pubsub_error(s, iq, cond, app, NULL);
        return;
    }
    if (store_pep_node_get(s->srv->store, s->account_id, node, &cur) == TD_OK) {
        xmpp__stanza_error(s, iq, "conflict"); /* §8.1.3 */
        return;
    }
    cur.node = node;
    cur.access = o.access >= 0 ? o.access : STORE_PEP_PRESENCE;
    cur.max_items = o.max_items > 0 ? o.max_items : 1;
    rc = store_pep_node_put(s->srv->store, s->account_id, &cur);
    if (rc == TD_ELIMIT)
        pubsub_error(s, iq, "not-allowed", "max-nodes-exceeded", NULL);
    else if (rc != TD_OK)
        xmpp__stanza_error(s, iq, "internal-server-error");
    else
        result_empty_from(s, iq);
}

static void retract(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *rt)
{
    const char *node = xmpp_el_attr(rt, "node");
    const char *notify = xmpp_el_attr(rt, "notify");
    struct xmpp_el *item = xmpp_el_child(rt, "item", NS_PUBSUB);
    const char *id = item ? xmpp_el_attr(item, "id") : NULL;
    struct store_pep_node cur;
    int rc;

    if (bad_node(node)) {
        pubsub_error(s, iq, "bad-request", "nodeid-required", NULL);
        return;
    }
    if (id == NULL) {
        pubsub_error(s, iq, "bad-request", "item-required", NULL);
        return;
    }
    if (store_pep_node_get(s->srv->store, s->account_id, node, &cur) != TD_OK) {
        xmpp__stanza_error(s, iq, "item-not-found");
        return;
    }
    rc = store_pep_item_retract(s->srv->store, s->account_id, node, id);
    if (rc != TD_OK) {
        xmpp__stanza_error(s, iq, rc == TD_ENOTFOUND ? "item-not-found" : "internal-server-error");
        return;
    }
    result_empty_from(s, iq);
    if (notify && (strcmp(notify, "true") == 0 || strcmp(notify, "1") == 0)) {
        struct buf ev;
        buf_init(&ev, 0);
        event_items(&ev, node, id, NULL, true);
        notify_all(s, slot, node, cur.access, ev.data, ev.len);
        buf_free(&ev);
    }
}

/* ---- items (§6.5) ---- */

struct items_out {
    struct buf *b;
    int n;
};

static int items_out_cb(void *ud, const char *id, const char *payload, int64_t at)
{
    struct items_out *io = ud;

    (void)at;
    buf_appends(io->b, "<item id='");
    xmpp__esc(io->b, id);
    buf_appends(io->b, "'>");
    buf_appends(io->b, payload);
    buf_appends(io->b, "</item>");
    io->n++;
    return 0;
}

/* May requester (a bare JID) read owner's node with this access model? */
static const char *access_denied(struct xmpp_c2s *srv, int64_t owner_id, const char *requester,
                                 bool own, int access, const char **app)
{
    struct store_roster_item it;
    bool ok;

    *app = NULL;
    if (own || access == STORE_PEP_OPEN)
        return NULL;
    if (access == STORE_PEP_WHITELIST) {
        *app = "closed-node";
        return "not-allowed";
    }
    ok = store_roster_get(srv->store, owner_id, requester, &it) == TD_OK &&
         (it.sub & STORE_SUB_FROM);
    store_roster_item_clear(&it);
    if (ok)
        return NULL;
    *app = "presence-subscription-required"; /* XEP-0060 §6.5.9.2 */
    return "not-authorized";
}

static void items(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *req,
                  int64_t owner_id, const char *owner, bool own, struct arena *a)
{
    const char *node = xmpp_el_attr(req, "node");
    const char *max_s = xmpp_el_attr(req, "max_items");
    struct store_pep_node cur;
    const char *cond, *app;
    struct items_out io;
    struct buf b;
    long max = STORE_PEP_MAX_ITEMS;
    size_t nids = 0;
    int rc = TD_OK;

    if (bad_node(node)) {
        pubsub_error(s, iq, "bad-request", "nodeid-required", NULL);
        return;
    }
    if (max_s) {
        char *end;
        errno = 0;
        max = strtol(max_s, &end, 10);
        if (errno || end == max_s || *end || max < 1) {
            xmpp__stanza_error(s, iq, "bad-request");
            return;
        }
        if (max > STORE_PEP_MAX_ITEMS)
            max = STORE_PEP_MAX_ITEMS;
    }
    for (struct xmpp_el *it = xmpp_el_child(req, "item", NS_PUBSUB); it;
         it = xmpp_el_next(it, "item", NS_PUBSUB))
        if (++nids > ITEMS_BY_ID_MAX || xmpp_el_attr(it, "id") == NULL) {
            xmpp__stanza_error(s, iq, "bad-request");
            return;
        }
    if (store_pep_node_get(s->srv->store, owner_id, node, &cur) != TD_OK) {
        xmpp__stanza_error(s, iq, "item-not-found");
        return;
    }
    cond = access_denied(s->srv, owner_id, s->bare, own, cur.access, &app);
    if (cond) {
        pubsub_error(s, iq, cond, app, NULL);
        return;
    }
    (void)a;
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, own ? NULL : owner);
    buf_appends(&b, "><pubsub xmlns='" NS_PUBSUB "'><items node='");
    xmpp__esc(&b, node);
    buf_appends(&b, "'>");
    io.b = &b;
    io.n = 0;
    if (nids > 0) {
        for (struct xmpp_el *it = xmpp_el_child(req, "item", NS_PUBSUB); it && rc == TD_OK;
             it = xmpp_el_next(it, "item", NS_PUBSUB)) {
            rc = store_pep_item_get(s->srv->store, owner_id, node, xmpp_el_attr(it, "id"),
                                    items_out_cb, &io);
            if (rc == TD_ENOTFOUND)
                rc = TD_OK; /* §6.5.8: the ones that exist */
        }
    } else {
        rc = store_pep_items_latest(s->srv->store, owner_id, node, (int)max, items_out_cb, &io);
    }
    buf_appends(&b, "</items></pubsub></iq>");
    if (rc == TD_OK)
        xmpp__send_stanza(s, b.data, b.len);
    else
        xmpp__stanza_error(s, iq, "internal-server-error");
    buf_free(&b);
}

/* ---- owner namespace (§8.2 configure, §8.4 delete) ---- */

static void owner_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                     bool get, struct arena *a)
{
    struct xmpp_el *op = xmpp_el_child(q, NULL, NS_PUBSUB_OWNER);
    const char *node = op ? xmpp_el_attr(op, "node") : NULL;
    struct store_pep_node cur;
    struct buf b;

    if (op == NULL) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    if (strcmp(op->name, "delete") != 0 && strcmp(op->name, "configure") != 0) {
        pubsub_error(s, iq, "feature-not-implemented", "unsupported", "config-node");
        return;
    }
    if (bad_node(node)) {
        pubsub_error(s, iq, "bad-request", "nodeid-required", NULL);
        return;
    }
    if (store_pep_node_get(s->srv->store, s->account_id, node, &cur) != TD_OK) {
        xmpp__stanza_error(s, iq, "item-not-found");
        return;
    }
    if (strcmp(op->name, "delete") == 0 && !get) {
        int access = cur.access;
        if (store_pep_node_delete(s->srv->store, s->account_id, node) != TD_OK) {
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
        result_empty_from(s, iq);
        buf_init(&b, 0);
        buf_appends(&b, "<event xmlns='" NS_PUBSUB_EVENT "'><delete node='");
        xmpp__esc(&b, node);
        buf_appends(&b, "'/></event>");
        notify_all(s, slot, node, access, b.data, b.len);
        buf_free(&b);
        return;
    }
    if (strcmp(op->name, "configure") != 0) {
        xmpp__stanza_error(s, iq, "bad-request");
        return;
    }
    if (get) {
        buf_init(&b, 0);
        xmpp__iq_result_open(&b, iq, NULL);
        buf_appends(&b, "><pubsub xmlns='" NS_PUBSUB_OWNER "'><configure node='");
        xmpp__esc(&b, node);
        buf_printf(&b, "'><x xmlns='" NS_DATA "' type='form'>"
                       "<field var='FORM_TYPE' type='hidden'><value>" FORM_NODE_CONFIG
                       "</value></field>"
                       "<field var='pubsub#access_model' type='list-single'>"
                       "<option><value>presence</value></option>"
                       "<option><value>open</value></option>"
                       "<option><value>whitelist</value></option>"
                       "<value>%s</value></field>"
                       "<field var='pubsub#max_items' type='text-single'><value>%d</value>"
                       "</field>"
                       "<field var='pubsub#persist_items' type='boolean'><value>1</value></field>"
                       "</x></configure></pubsub></iq>",
                   access_name(cur.access), cur.max_items);
        xmpp__send_stanza(s, b.data, b.len);
        buf_free(&b);
        return;
    }
    {
        struct xmpp_el *x = xmpp_el_child(op, "x", NS_DATA);
        const char *type = x ? xmpp_el_attr(x, "type") : NULL;
        const char *cond, *app;
        struct opts o;
        if (x == NULL) {
            xmpp__stanza_error(s, iq, "bad-request");
            return;
        }
        if (type && strcmp(type, "cancel") == 0) {
            result_empty_from(s, iq);
            return;
        }
        cond = opts_parse(a, x, FORM_NODE_CONFIG, &o, &app);
        if (cond) {
            pubsub_error(s, iq, cond, app, NULL);
            return;
        }
        if (o.access >= 0)
            cur.access = o.access;
        if (o.max_items > 0)
            cur.max_items = o.max_items;
        if (store_pep_node_put(s->srv->store, s->account_id, &cur) != TD_OK)
            xmpp__stanza_error(s, iq, "internal-server-error");
        else
            result_empty_from(s, iq);
    }
}

/* ---- dispatch ---- */

static int pep_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                  const struct xmpp_jid *to, struct arena *a)
{
    bool get = strcmp(xmpp_el_attr(iq, "type"), "get") == 0;
    const char *bare = NULL;
    struct xmpp_el *op;
    bool own;
    int64_t owner_id;

    if (strcmp(q->name, "pubsub") != 0 ||
        (strcmp(q->ns, NS_PUBSUB) != 0 && strcmp(q->ns, NS_PUBSUB_OWNER) != 0))
        return XMPP_MOD_PASS;
    if (to != NULL && (to->local == NULL || to->resource))
        return XMPP_MOD_PASS; /* no pubsub service at the domain */
    if (to)
        bare = xmpp_jid_bare(a, to);
    own = bare == NULL || strcmp(bare, s->bare) == 0;
    if (s->account_id == 0) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return XMPP_MOD_HANDLED;
    }
    if (strcmp(q->ns, NS_PUBSUB_OWNER) == 0) {
        if (!own)
            xmpp__stanza_error(s, iq, "forbidden");
        else
            owner_iq(s, slot, iq, q, get, a);
        return XMPP_MOD_HANDLED;
    }
    op = xmpp_el_child(q, NULL, NS_PUBSUB);
    if (op == NULL) {
        xmpp__stanza_error(s, iq, "bad-request");
        return XMPP_MOD_HANDLED;
    }
    if (get && strcmp(op->name, "items") == 0) {
        if (own) {
            owner_id = s->account_id;
        } else {
            if (xmpp__im_check_blocked(s, iq, bare))
                return XMPP_MOD_HANDLED;
            owner_id = xmpp__account_of(s->srv, to->local);
            if (owner_id == 0) {
                xmpp__stanza_error(s, iq, "service-unavailable");
                return XMPP_MOD_HANDLED;
            }
        }
        items(s, iq, op, owner_id, own ? s->bare : bare, own, a);
        return XMPP_MOD_HANDLED;
    }
    if (get) {
        pubsub_error(s, iq, "feature-not-implemented", "unsupported",
                     strcmp(op->name, "subscriptions") == 0 ? "retrieve-subscriptions"
                     : strcmp(op->name, "affiliations") == 0 ? "retrieve-affiliations"
                                                             : "retrieve-items");
        return XMPP_MOD_HANDLED;
    }
    if (!own) {
        xmpp__stanza_error(s, iq, "forbidden"); /* only the owner publishes */
        return XMPP_MOD_HANDLED;
    }
    if (strcmp(op->name, "publish") == 0)
        publish(s, slot, iq, q, op, a);
    else if (strcmp(op->name, "retract") == 0)
        retract(s, slot, iq, op);
    else if (strcmp(op->name, "create") == 0)
        create(s, iq, q, op, a);
    else
        pubsub_error(s, iq, "feature-not-implemented", "unsupported",
                     strcmp(op->name, "subscribe") == 0 ? "subscribe" : "publish");
    return XMPP_MOD_HANDLED;
}

static int pep_init(struct xmpp_c2s *srv, int slot)
{
    srv->mod[slot] = td_calloc(1, sizeof(struct pep_srv));
    return TD_OK;
}

static void pep_fini(struct xmpp_c2s *srv, int slot)
{
    struct pep_srv *ps = srv->mod[slot];

    if (ps) {
        cache_clear(ps);
        free(ps);
    }
    srv->mod[slot] = NULL;
}

static void pep_free(struct xmpp_session *s, int slot)
{
    struct pep_sess *ps = s->mod[slot];

    if (ps) {
        free(ps->key);
        strv_free(ps->notify, ps->n);
        free(ps->pending_key);
        free(ps);
    }
    s->mod[slot] = NULL;
}

static const char *const pep_account_features[] = {
    NS_PUBSUB "#access-open",
    NS_PUBSUB "#access-presence",
    NS_PUBSUB "#access-whitelist",
    NS_PUBSUB "#auto-create",
    NS_PUBSUB "#config-node",
    NS_PUBSUB "#create-and-configure",
    NS_PUBSUB "#create-nodes",
    NS_PUBSUB "#delete-nodes",
    NS_PUBSUB "#filtered-notifications",
    NS_PUBSUB "#last-published",
    NS_PUBSUB "#persistent-items",
    NS_PUBSUB "#publish",
    NS_PUBSUB "#publish-options",
    NS_PUBSUB "#retract-items",
    NS_PUBSUB "#retrieve-items",
    NULL,
};

static const char *const pep_account_identities[] = {"pubsub", "pep", NULL};

const struct xmpp_mod xmpp_mod_pep = {
    .name = "pep",
    .account_features = pep_account_features,
    .account_identities = pep_account_identities,
    .init = pep_init,
    .fini = pep_fini,
    .iq = pep_iq,
    .iq_response = pep_iq_response,
    .presence = pep_presence,
    .free = pep_free,
};
