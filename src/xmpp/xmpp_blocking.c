/* SPDX-License-Identifier: MIT */
/* Blocking Command (XEP-0191): the blocklist get (§3.2), block (§3.3) and
 * unblock / unblock-all (§3.4, §3.5) iqs of a user (no 'to', or the own bare
 * JID), answered and then pushed to every resource of the user that asked
 * for the blocklist. The `blocks` hook answers "does user block other?"
 * for the core and xmpp_im.c at every routing point (they refuse traffic in
 * both directions, with the <blocked/> error to the blocker, §3.3) from a
 * per-account cache of the sorted list, loaded from store_xmpp.h on first
 * use and dropped whole when it grows past CACHE_MAX accounts.
 *
 * Items are JIDs prepared with xmpp_jid_parse and stored in their full
 * form. A bare-JID item matches that account, a domain item every JID of
 * the domain (XEP-0191 §3.3 refers to XEP-0016's matching). Routing asks
 * about bare JIDs only, so a full-JID item (one resource) is kept and
 * listed but blocks nothing: blocking the whole account for it would block
 * more than the user asked for.
 *
 * Presence (§3.3): when a contact becomes blocked, the contact receives
 * unavailable presence from the user's available resources (if it had a
 * subscription from the user), and the user's resources receive the
 * contact's unavailable presence, so neither keeps showing the other
 * online. After an unblock (§3.4) the current presence goes out again in
 * each direction the subscription allows. Both are done for the user's
 * roster contacts (directed presence is not remembered).
 *
 * The limit is STORE_BLOCK_MAX items; a block that would pass it is refused
 * whole with not-allowed (XEP-0191 names no condition for it; RFC 6121
 * §2.3.3 uses not-allowed for the roster's size limit). */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"
#include "core/log.h"
#include "store/store.h"
#include "store/store_roster.h"
#include "store/store_xmpp.h"

#include <stdlib.h>
#include <string.h>

#define NS_BLOCKING "urn:xmpp:blocking"
#define BUCKETS 4096   /* two look-ups per message: keep chains short */
#define CACHE_MAX 4096 /* accounts whose list is held in memory */

struct bl_entry {
    struct bl_entry *next;
    unsigned hash; /* hash_str(bare): most chain neighbours fail on it */
    char *bare;
    char **jids; /* sorted (strcmp) */
    size_t n, cap;
};

struct bl_srv {
    struct bl_entry *b[BUCKETS];
    size_t count;
};

/* s->mod[slot] points here once the resource fetched the blocklist. */
static char requested_mark;

static unsigned hash_str(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void entry_free(struct bl_entry *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->jids[i]);
    free(e->jids);
    free(e->bare);
    free(e);
}

static void cache_clear(struct bl_srv *bs)
{
    for (size_t i = 0; i < BUCKETS; i++) {
        while (bs->b[i]) {
            struct bl_entry *e = bs->b[i];
            bs->b[i] = e->next;
            entry_free(e);
        }
    }
    bs->count = 0;
}

static int load_cb(void *ud, const char *jid)
{
    struct bl_entry *e = ud;

    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 8;
        e->jids = td_realloc(e->jids, e->cap * sizeof(*e->jids));
    }
    e->jids[e->n++] = td_strdup(jid);
    return 0;
}

/* The cached list of a local user (loaded on first use); NULL for a JID
 * that is not a local account. */
static struct bl_entry *entry_of(struct xmpp_c2s *srv, int slot, const char *bare)
{
    struct bl_srv *bs = srv->mod[slot];
    unsigned hv = hash_str(bare);
    unsigned h = hv % BUCKETS;
    struct bl_entry *e;
    int64_t id;

    for (e = bs->b[h]; e; e = e->next)
        if (e->hash == hv && strcmp(e->bare, bare) == 0)
            return e;
    id = xmpp__account_of_bare(srv, bare);
    if (id == 0)
        return NULL;
    e = td_calloc(1, sizeof(*e));
    if (store_block_list(srv->store, id, load_cb, e) != TD_OK) {
        entry_free(e);
        return NULL;
    }
    if (e->n > 1)
        qsort(e->jids, e->n, sizeof(*e->jids), cmp_str);
    e->bare = td_strdup(bare);
    e->hash = hv;
    if (bs->count >= CACHE_MAX)
        cache_clear(bs); /* reloaded on demand */
    e->next = bs->b[h];
    bs->b[h] = e;
    bs->count++;
    return e;
}

static void entry_drop(struct xmpp_c2s *srv, int slot, const char *bare)
{
    struct bl_srv *bs = srv->mod[slot];
    struct bl_entry **pp = &bs->b[hash_str(bare) % BUCKETS];

    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->bare, bare) == 0) {
            struct bl_entry *e = *pp;
            *pp = e->next;
            entry_free(e);
            bs->count--;
            return;
        }
    }
}

static bool has(const struct bl_entry *e, const char *jid)
{
    return e->n > 0 && bsearch(&jid, e->jids, e->n, sizeof(*e->jids), cmp_str) != NULL;
}

/* Does the list match other (a bare JID or a domain)? */
static bool matches(const struct bl_entry *e, const char *other)
{
    const char *at;

    if (e == NULL || e->n == 0)
        return false;
    if (has(e, other))
        return true;
    at = strchr(other, '@');
    return at && has(e, at + 1);
}

static bool blocking_blocks(struct xmpp_c2s *srv, int slot, const char *user_bare,
                            const char *other_bare)
{
    return matches(entry_of(srv, slot, user_bare), other_bare);
}

static int blocking_init(struct xmpp_c2s *srv, int slot)
{
    srv->mod[slot] = td_calloc(1, sizeof(struct bl_srv));
    return TD_OK;
}

static void blocking_fini(struct xmpp_c2s *srv, int slot)
{
    struct bl_srv *bs = srv->mod[slot];

    if (bs) {
        cache_clear(bs);
        free(bs);
    }
    srv->mod[slot] = NULL;
}

/* ---- presence after a change (§3.3, §3.4) ---- */

struct contact {
    char *jid;
    int sub;
};

struct contacts {
    struct contact *v;
    size_t n, cap;
};

static int contacts_cb(void *ud, const struct store_roster_item *it)
{
    struct contacts *c = ud;

    if (!it->in_roster || it->sub == STORE_SUB_NONE)
        return 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = td_realloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n].jid = td_strdup(it->jid);
    c->v[c->n].sub = it->sub;
    c->n++;
    return 0;
}

/* The roster contacts with a subscription, and whether the (old) list
 * blocked each; flags gets one bool per contact. */
static void contacts_load(struct xmpp_session *s, int slot, struct contacts *c, bool **was)
{
    struct bl_entry *e = entry_of(s->srv, slot, s->bare);

    memset(c, 0, sizeof(*c));
    (void)store_roster_list(s->srv->store, s->account_id, contacts_cb, c);
    *was = td_calloc(c->n ? c->n : 1, sizeof(bool));
    for (size_t i = 0; i < c->n; i++)
        (*was)[i] = matches(e, c->v[i].jid);
}

static void presence_after(struct xmpp_session *s, int slot, struct contacts *c, const bool *was)
{
    struct xmpp_c2s *srv = s->srv;
    struct bl_entry *e = entry_of(srv, slot, s->bare);

    for (size_t i = 0; i < c->n; i++) {
        const char *jid = c->v[i].jid;
        bool now = matches(e, jid);
        if (now == was[i] || strcmp(jid, s->bare) == 0)
            continue;
        if (now) {
            if (c->v[i].sub & STORE_SUB_FROM)
                xmpp__im_presence_between(srv, s->bare, jid, false);
            if (c->v[i].sub & STORE_SUB_TO)
                xmpp__im_presence_between(srv, jid, s->bare, false);
        } else {
            /* presence_between(available) itself skips a pair still silenced
             * (the contact may block the user too) */
            if (c->v[i].sub & STORE_SUB_FROM)
                xmpp__im_presence_between(srv, s->bare, jid, true);
            if (c->v[i].sub & STORE_SUB_TO)
                xmpp__im_presence_between(srv, jid, s->bare, true);
        }
    }
}

static void contacts_free(struct contacts *c, bool *was)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].jid);
    free(c->v);
    free(was);
}

/* ---- iqs ---- */

/* §3.3, §3.4: the change to every resource that fetched the blocklist. */
static void push(struct xmpp_session *s, int slot, const char *op, const char **jids, size_t n)
{
    struct xmpp_route *rts[XMPP_RESOURCES_MAX];
    struct xmpp_session *t[XMPP_RESOURCES_MAX];
    size_t nt = xmpp__resources_of(s->srv, s->bare, false, NULL, rts);
    struct buf b;

    for (size_t i = 0; i < nt; i++)
        t[i] = xmpp__session_of(rts[i]);
    for (size_t i = 0; i < nt; i++) {
        if (t[i]->mod[slot] != &requested_mark || !xmpp__session_writable(t[i]))
            continue;
        buf_init(&b, 0);
        buf_printf(&b, "<iq type='set' id='blockpush%llu' to='",
                   (unsigned long long)++t[i]->push_seq);
        xmpp__esc(&b, t[i]->full);
        buf_printf(&b, "'><%s xmlns='" NS_BLOCKING "'", op);
        if (n == 0) {
            buf_appends(&b, "/>");
        } else {
            buf_putc(&b, '>');
            for (size_t k = 0; k < n; k++) {
                buf_appends(&b, "<item jid='");
                xmpp__esc(&b, jids[k]);
                buf_appends(&b, "'/>");
            }
            buf_printf(&b, "</%s>", op);
        }
        buf_appends(&b, "</iq>");
        xmpp__send_stanza(t[i], b.data, b.len);
        buf_free(&b);
    }
}

static void get_list(struct xmpp_session *s, int slot, struct xmpp_el *iq)
{
    struct bl_entry *e = entry_of(s->srv, slot, s->bare);
    struct buf b;

    if (e == NULL) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, NULL);
    buf_appends(&b, "><blocklist xmlns='" NS_BLOCKING "'>");
    for (size_t i = 0; i < e->n; i++) {
        buf_appends(&b, "<item jid='");
        xmpp__esc(&b, e->jids[i]);
        buf_appends(&b, "'/>");
    }
    buf_appends(&b, "</blocklist></iq>");
    s->mod[slot] = &requested_mark; /* §3.2: it gets pushes from now on */
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

/* The prepared, distinct JIDs of q's items into *out (in a); a condition
 * on error. */
static const char *items_of(struct arena *a, struct xmpp_el *q, const char ***out, size_t *n)
{
    size_t cap = 0;

    *n = 0;
    for (struct xmpp_el *it = xmpp_el_child(q, "item", NS_BLOCKING); it;
         it = xmpp_el_next(it, "item", NS_BLOCKING))
        if (++cap > STORE_BLOCK_MAX)
            return "not-allowed";
    *out = arena_calloc(a, (cap ? cap : 1) * sizeof(**out));
    for (struct xmpp_el *it = xmpp_el_child(q, "item", NS_BLOCKING); it;
         it = xmpp_el_next(it, "item", NS_BLOCKING)) {
        const char *jid = xmpp_el_attr(it, "jid");
        struct xmpp_jid j;
        const char *p;
        bool dup = false;
        if (jid == NULL)
            return "bad-request";
        if (xmpp_jid_parse(a, jid, &j) != TD_OK)
            return "jid-malformed"; /* §3.3 */
        p = xmpp_jid_full(a, &j);
        for (size_t i = 0; i < *n && !dup; i++)
            dup = strcmp((*out)[i], p) == 0;
        if (!dup)
            (*out)[(*n)++] = p;
    }
    return NULL;
}

static void block(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                  struct arena *a)
{
    const char **jids;
    const char *cond;
    struct bl_entry *e = entry_of(s->srv, slot, s->bare);
    struct contacts c;
    bool *was;
    size_t n, fresh = 0;
    int rc = TD_OK;

    if (e == NULL) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    cond = items_of(a, q, &jids, &n);
    if (cond == NULL && n == 0)
        cond = "bad-request"; /* §3.3: a block without items */
    if (cond) {
        xmpp__stanza_error(s, iq, cond);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!has(e, jids[i]))
            fresh++;
    if (e->n + fresh > STORE_BLOCK_MAX) {
        xmpp__stanza_error(s, iq, "not-allowed");
        return;
    }
    contacts_load(s, slot, &c, &was);
    for (size_t i = 0; i < n && rc == TD_OK; i++)
        rc = store_block_add(s->srv->store, s->account_id, jids[i]);
    entry_drop(s->srv, slot, s->bare); /* reloaded from the store */
    if (rc != TD_OK) {
        contacts_free(&c, was);
        xmpp__stanza_error(s, iq, rc == TD_ELIMIT ? "not-allowed" : "internal-server-error");
        return;
    }
    log_info("xmpp.blocked", "jid=%s items=%zu", log_q(s->bare), n);
    xmpp__iq_result_empty(s, iq);
    presence_after(s, slot, &c, was);
    contacts_free(&c, was);
    push(s, slot, "block", jids, n);
}

static void unblock(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                    struct arena *a)
{
    const char **jids;
    const char *cond;
    struct contacts c;
    bool *was;
    size_t n;
    int rc = TD_OK;

    cond = items_of(a, q, &jids, &n);
    if (cond) {
        xmpp__stanza_error(s, iq, cond);
        return;
    }
    contacts_load(s, slot, &c, &was);
    if (n == 0) /* §3.5: everything */
        rc = store_block_clear(s->srv->store, s->account_id);
    for (size_t i = 0; i < n && rc == TD_OK; i++)
        rc = store_block_remove(s->srv->store, s->account_id, jids[i]);
    entry_drop(s->srv, slot, s->bare);
    if (rc != TD_OK) {
        contacts_free(&c, was);
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    xmpp__iq_result_empty(s, iq);
    presence_after(s, slot, &c, was);
    contacts_free(&c, was);
    push(s, slot, "unblock", jids, n);
}

static int blocking_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                       const struct xmpp_jid *to, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    bool get = strcmp(type, "get") == 0;

    if (strcmp(q->ns, NS_BLOCKING) != 0)
        return XMPP_MOD_PASS;
    if (to != NULL && (to->local == NULL || to->resource ||
                       strcmp(xmpp_jid_bare(a, to), s->bare) != 0))
        return XMPP_MOD_PASS; /* not the user's own: the core refuses it */
    if (s->account_id == 0)
        xmpp__stanza_error(s, iq, "internal-server-error");
    else if (get && strcmp(q->name, "blocklist") == 0)
        get_list(s, slot, iq);
    else if (!get && strcmp(q->name, "block") == 0)
        block(s, slot, iq, q, a);
    else if (!get && strcmp(q->name, "unblock") == 0)
        unblock(s, slot, iq, q, a);
    else
        xmpp__stanza_error(s, iq, "bad-request");
    return XMPP_MOD_HANDLED;
}

static const char *const blocking_server_features[] = {NS_BLOCKING, NULL};

const struct xmpp_mod xmpp_mod_blocking = {
    .name = "blocking",
    .server_features = blocking_server_features,
    .init = blocking_init,
    .fini = blocking_fini,
    .iq = blocking_iq,
    .blocks = blocking_blocks,
};
