/* SPDX-License-Identifier: MIT */
/* Multi-User Chat (XEP-0045) on the service domain xmpp.muc_domain
 * (conference.<domain> by default), reached through the core's route_domain
 * hook, and listed in the server's disco#items (XEP-0030 §4).
 *
 * Implemented: service and room discovery (§6.1-§6.4, the muc#roominfo
 * form); entering (§7.2: occupants' presence, then the new occupant's to
 * the others, self-presence with 110 last, discussion history with delay
 * from the room (§7.2.15, maxstanzas/maxchars/seconds honoured), then the
 * subject, empty when none, §7.2.16); nick conflicts (§7.2.9), members-only
 * (§7.2.6), passwords (§7.2.5), bans (§7.2.7), max users (§7.2.10), locked
 * rooms (§7.2.11); leaving (§7.14), nick change (§7.6, 303), presence
 * updates (§7.7), groupchat messages (§7.4) and private messages (§7.5);
 * mediated invitations (§7.8.2); subject change (§8.1); kick (§8.2, 307),
 * voice and moderator grants (§8.3-8.4, §9.6); ban (§9.1, 301), membership
 * and admin/owner grants (§9.3, §9.7, §10.3-10.6), affiliation and role
 * lists; room creation locked with status 201 (§10.1), instant rooms
 * (§10.1.2) and the configuration form (§10.1.3, §10.2), cancelling a new
 * room, and destruction (§10.9). An occupant whose session leaves is taken
 * out of its rooms (the leave hook, seen by the others as unavailable), as
 * is one that broadcasts unavailable presence (the presence hook); an
 * empty room that is not persistent is destroyed.
 *
 * Persistent rooms (§10.2 muc#roomconfig_persistentroom) keep their
 * configuration, subject and affiliations in the store (store_muc.h) and
 * are loaded at start; occupants and history live in memory only.
 *
 * Not implemented: IQs to occupants (§7.3 forwarding) answer
 * service-unavailable, several sessions under one nick are refused as a
 * conflict, voice requests (§7.13), room registration (§7.10) and the
 * `since` history attribute (§7.2.15: maxstanzas, maxchars, seconds are).
 *
 * Every stanza the room sends is built here and written to the occupant's
 * route; a write may close a slow reader synchronously, and its leave hook
 * then only marks the occupant gone: occupants are unlinked and rooms freed
 * only at the top of a request (settle()), never under a loop over them. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "store/store_muc.h"

#include <jansson.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_XDATA "jabber:x:data"

#define ROOMS_MAX 10000        /* rooms per service */
#define OCCUPANTS_MAX 200      /* occupants per room (and the default maxusers) */
#define AFFS_MAX 1000          /* affiliation entries per room */
#define NICK_MAX 64            /* bytes of a nick */
#define ROOM_NAME_MAX 128      /* bytes of a room's localpart */
#define TITLE_MAX 256          /* bytes of a room's name */
#define SECRET_MAX 128         /* bytes of a password */
#define SUBJECT_MAX 1024       /* bytes of a subject */
#define PRESENCE_MAX 4096      /* bytes of an occupant's presence payload */
#define HISTORY_MAX 20         /* messages kept per room */
#define HISTORY_BYTES 65536    /* bytes of history per room */
#define HISTORY_MSG_MAX 16384  /* a larger message is broadcast but not kept */
#define JOINED_MAX 100         /* rooms one user (bare JID) may be in at once */
#define BUCKETS 1024

enum aff { AFF_NONE, AFF_OUTCAST, AFF_MEMBER, AFF_ADMIN, AFF_OWNER };
enum role { ROLE_NONE, ROLE_VISITOR, ROLE_PARTICIPANT, ROLE_MODERATOR };
static const char *const aff_names[] = {"none", "outcast", "member", "admin", "owner"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};

struct occ {
    struct occ *next;
    char *nick;
    char *jid;      /* the occupant's full JID (its session's) */
    char *bare;
    char *payload;  /* the children of its last presence, serialized */
    enum role role;
    bool gone;      /* its session left: unlinked by settle() */
};

struct affent {
    struct affent *next;
    char *bare;
    enum aff aff;
};

struct hist {
    char *nick;
    char *inner; /* the message's children, serialized */
    char *id;
    size_t len;
    time_t at;
};

struct room {
    struct room *next; /* in its bucket */
    char *name;        /* localpart */
    char *jid;         /* name@service */
    bool locked;       /* §10.1: until the owner configures it */
    char *title;
    bool persistent, public_, members_only, moderated, anyone_whois, change_subject;
    bool allow_invites;
    char *secret;      /* NULL: not password-protected */
    int max_users;
    char *subject, *subject_nick;
    struct occ *occs;
    size_t nocc;
    struct affent *affs;
    size_t naffs;
    struct hist hist[HISTORY_MAX];
    size_t hfirst, hcount, hbytes;
};

struct muc {
    char *domain;
    struct room *buckets[BUCKETS];
    size_t nrooms;
    int busy;   /* depth of requests being handled */
    bool dirty; /* some occupant is gone */
};

/* ---- rooms and lookups ---- */

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct room *room_find(struct muc *m, const char *name)
{
    for (struct room *r = m->buckets[hash(name) % BUCKETS]; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct room *room_new(struct muc *m, const char *name)
{
    struct room *r = td_calloc(1, sizeof(*r));
    struct buf b;
    uint32_t h = hash(name) % BUCKETS;

    buf_init(&b, 0);
    buf_printf(&b, "%s@%s", name, m->domain);
    r->name = td_strdup(name);
    r->jid = buf_steal(&b, NULL);
    r->locked = true;
    r->title = td_strdup("");
    r->public_ = true;
    r->max_users = OCCUPANTS_MAX;
    r->next = m->buckets[h];
    m->buckets[h] = r;
    m->nrooms++;
    return r;
}

static void occ_free(struct occ *o)
{
    free(o->nick);
    free(o->jid);
    free(o->bare);
    free(o->payload);
    free(o);
}

static void hist_drop_first(struct room *r)
{
    struct hist *h = &r->hist[r->hfirst];
    r->hbytes -= h->len;
    free(h->nick);
    free(h->inner);
    free(h->id);
    memset(h, 0, sizeof(*h));
    r->hfirst = (r->hfirst + 1) % HISTORY_MAX;
    r->hcount--;
}

static void room_free(struct muc *m, struct room *r)
{
    struct room **pp = &m->buckets[hash(r->name) % BUCKETS];

    while (*pp != r)
        pp = &(*pp)->next;
    *pp = r->next;
    m->nrooms--;
    while (r->occs) {
        struct occ *o = r->occs;
        r->occs = o->next;
        occ_free(o);
    }
    while (r->affs) {
        struct affent *e = r->affs;
        r->affs = e->next;
        free(e->bare);
        free(e);
    }
    while (r->hcount)
        hist_drop_first(r);
    free(r->name);
    free(r->jid);
    free(r->title);
    free(r->secret);
    free(r->subject);
    free(r->subject_nick);
    free(r);
}

static enum aff aff_of(const struct room *r, const char *bare)
{
    for (const struct affent *e = r->affs; e; e = e->next)
        if (strcmp(e->bare, bare) == 0)
            return e->aff;
    return AFF_NONE;
}

static int aff_set(struct room *r, const char *bare, enum aff a)
{
    struct affent **pp = &r->affs;

    for (; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->bare, bare) == 0)
            break;
    if (*pp && a == AFF_NONE) {
        struct affent *e = *pp;
        *pp = e->next;
        free(e->bare);
        free(e);
        r->naffs--;
    } else if (*pp) {
        (*pp)->aff = a;
    } else if (a != AFF_NONE) {
        struct affent *e;
        if (r->naffs >= AFFS_MAX)
            return TD_ELIMIT;
        e = td_calloc(1, sizeof(*e));
        e->bare = td_strdup(bare);
        e->aff = a;
        e->next = r->affs;
        r->affs = e;
        r->naffs++;
    }
    return TD_OK;
}

static size_t owners(const struct room *r)
{
    size_t n = 0;
    for (const struct affent *e = r->affs; e; e = e->next)
        n += e->aff == AFF_OWNER;
    return n;
}

static struct occ *occ_by_nick(const struct room *r, const char *nick)
{
    for (struct occ *o = r->occs; o; o = o->next)
        if (!o->gone && strcmp(o->nick, nick) == 0)
            return o;
    return NULL;
}

static struct occ *occ_by_jid(const struct room *r, const char *jid)
{
    for (struct occ *o = r->occs; o; o = o->next)
        if (!o->gone && strcmp(o->jid, jid) == 0)
            return o;
    return NULL;
}

/* Rooms bare is in (a scan: only on entering a room, which is rare). */
static size_t joined(const struct muc *m, const char *bare)
{
    size_t n = 0;
    for (size_t i = 0; i < BUCKETS; i++)
        for (const struct room *r = m->buckets[i]; r; r = r->next)
            for (const struct occ *o = r->occs; o; o = o->next)
                n += !o->gone && strcmp(o->bare, bare) == 0;
    return n;
}

static enum role role_for(const struct room *r, enum aff a)
{
    if (a == AFF_OWNER || a == AFF_ADMIN)
        return ROLE_MODERATOR;
    if (r->moderated && a == AFF_NONE)
        return ROLE_VISITOR;
    return ROLE_PARTICIPANT;
}

/* ---- output ---- */

static void send_to(struct xmpp_c2s *srv, const char *full, const struct buf *b)
{
    struct xmpp_route *rt = xmpp_router_find(srv->router, full);
    if (rt)
        xmpp__deliver_bytes(&rt, 1, b->data, b->len);
}

static void attr(struct buf *b, const char *name, const char *v)
{
    buf_printf(b, " %s='", name);
    xmpp__esc(b, v);
    buf_putc(b, '\'');
}

static void stamp(struct buf *b, time_t t)
{
    struct tm tm;
    char s[32];

    if (gmtime_r(&t, &tm) == NULL || strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        s[0] = '\0';
    buf_appends(b, s);
}

/* The presence of `about` as `to` sees it. codes: status codes (110 is
 * added for the occupant itself); item_extra: <actor/>/<reason/> XML;
 * x_extra: after the statuses (<destroy/>); newnick: §7.6 item nick. */
static void presence_to(struct xmpp_c2s *srv, const struct room *r, const struct occ *about,
                        enum aff aff, const struct occ *to, bool unavailable, const int *codes,
                        size_t ncodes, const char *item_extra, const char *x_extra,
                        const char *newnick)
{
    struct buf b;
    bool self = about == to;

    if (to->gone)
        return;
    buf_init(&b, 0);
    buf_appends(&b, "<presence");
    buf_printf(&b, " from='");
    xmpp__esc(&b, r->jid);
    buf_putc(&b, '/');
    xmpp__esc(&b, about->nick);
    buf_putc(&b, '\'');
    attr(&b, "to", to->jid);
    if (unavailable)
        buf_appends(&b, " type='unavailable'");
    buf_putc(&b, '>');
    if (!unavailable && about->payload)
        buf_appends(&b, about->payload);
    buf_appends(&b, "<x xmlns='" NS_MUC_USER "'><item");
    attr(&b, "affiliation", aff_names[aff]);
    attr(&b, "role", role_names[unavailable && !newnick ? ROLE_NONE : about->role]);
    if (self || r->anyone_whois || to->role == ROLE_MODERATOR)
        attr(&b, "jid", about->jid);
    if (newnick)
        attr(&b, "nick", newnick);
    if (item_extra) {
        buf_putc(&b, '>');
        buf_appends(&b, item_extra);
        buf_appends(&b, "</item>");
    } else {
        buf_appends(&b, "/>");
    }
    for (size_t i = 0; i < ncodes; i++)
        buf_printf(&b, "<status code='%d'/>", codes[i]);
    if (self)
        buf_appends(&b, "<status code='110'/>");
    if (x_extra)
        buf_appends(&b, x_extra);
    buf_appends(&b, "</x></presence>");
    send_to(srv, to->jid, &b);
    buf_free(&b);
}

/* about's presence to every occupant (itself included, last). */
static void presence_all(struct xmpp_c2s *srv, const struct room *r, const struct occ *about,
                         bool unavailable, const int *codes, size_t ncodes,
                         const char *item_extra, const char *newnick)
{
    enum aff a = aff_of(r, about->bare);
    for (struct occ *o = r->occs; o; o = o->next)
        if (o != about)
            presence_to(srv, r, about, a, o, unavailable, codes, ncodes, item_extra, NULL,
                        newnick);
    presence_to(srv, r, about, a, about, unavailable, codes, ncodes, item_extra, NULL, newnick);
}

static void unlink_occ(struct room *r, struct occ *o)
{
    struct occ **pp = &r->occs;
    while (*pp != o)
        pp = &(*pp)->next;
    *pp = o->next;
    r->nocc--;
    occ_free(o);
}

/* Unlink the occupants that are gone (telling the others) and destroy the
 * empty rooms that are not persistent. Only at the top of a request. */
static void settle(struct xmpp_c2s *srv, struct muc *m)
{
    if (m->busy > 0)
        return;
    m->busy++;
    while (m->dirty) {
        m->dirty = false;
        for (size_t i = 0; i < BUCKETS; i++) {
            struct room *r = m->buckets[i], *next;
            for (; r; r = next) {
                next = r->next;
                for (struct occ *o = r->occs, *on; o; o = on) {
                    on = o->next;
                    if (!o->gone)
                        continue;
                    enum aff a = aff_of(r, o->bare);
                    for (struct occ *t = r->occs; t; t = t->next)
                        if (t != o)
                            presence_to(srv, r, o, a, t, true, NULL, 0, NULL, NULL, NULL);
                    unlink_occ(r, o);
                }
                if (r->nocc == 0 && !r->persistent)
                    room_free(m, r);
            }
        }
    }
    m->busy--;
}

static void destroy_room(struct xmpp_c2s *srv, struct muc *m, struct room *r, const char *alt,
                         const char *reason)
{
    struct buf x;

    buf_init(&x, 0);
    buf_appends(&x, "<destroy");
    if (alt)
        attr(&x, "jid", alt);
    buf_putc(&x, '>');
    if (reason) {
        buf_appends(&x, "<reason>");
        xmpp__esc(&x, reason);
        buf_appends(&x, "</reason>");
    }
    buf_appends(&x, "</destroy>");
    buf_putc(&x, '\0');
    for (struct occ *o = r->occs; o; o = o->next)
        presence_to(srv, r, o, AFF_NONE, o, true, NULL, 0, NULL, x.data, NULL);
    buf_free(&x);
    log_info("xmpp.muc.destroyed", "room=%s", log_q(r->jid));
    if (r->persistent && srv->store)
        (void)store_muc_delete(srv->store, m->domain, r->name);
    room_free(m, r);
}

/* ---- persistent rooms (store_muc.h) ---- */

/* Write a persistent room's configuration, subject and affiliations (or
 * forget a room that is no longer persistent). A failure is logged: the
 * room goes on in memory. */
static void room_save(struct xmpp_c2s *srv, struct muc *m, const struct room *r)
{
    json_t *o, *affs;
    char *data;
    int rc;

    if (srv->store == NULL)
        return;
    if (!r->persistent || r->locked) {
        rc = store_muc_delete(srv->store, m->domain, r->name);
    } else {
        affs = json_object();
        for (const struct affent *e = r->affs; e; e = e->next)
            json_object_set_new(affs, e->bare, json_string(aff_names[e->aff]));
        o = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:b, s:i, s:o, s:o, s:o, s:o}",
                      "title", r->title, "public", r->public_, "members_only", r->members_only,
                      "moderated", r->moderated, "anyone_whois", r->anyone_whois,
                      "change_subject", r->change_subject, "allow_invites", r->allow_invites,
                      "max_users", r->max_users,
                      "secret", r->secret ? json_string(r->secret) : json_null(),
                      "subject", r->subject ? json_string(r->subject) : json_null(),
                      "subject_nick", r->subject_nick ? json_string(r->subject_nick) : json_null(),
                      "affiliations", affs);
        data = o ? json_dumps(o, JSON_COMPACT) : NULL;
        rc = data ? store_muc_put(srv->store, m->domain, r->name, data) : TD_ENOMEM;
        free(data);
        json_decref(o);
    }
    if (rc != TD_OK)
        log_warn("xmpp.muc.store_failed", "room=%s rc=%d", log_q(r->jid), rc);
}

static char *json_str(const json_t *o, const char *key, size_t max)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v && strlen(v) <= max ? td_strdup(v) : NULL;
}

static int room_load(void *ud, const char *name, const char *data)
{
    struct muc *m = ud;
    json_t *o = json_loads(data, 0, NULL), *affs, *v;
    const char *bare;
    struct room *r;
    json_int_t maxu;

    if (o == NULL || !json_is_object(o) || m->nrooms >= ROOMS_MAX ||
        strlen(name) > ROOM_NAME_MAX || room_find(m, name)) {
        log_warn("xmpp.muc.load_skipped", "room=%s", log_q(name));
        json_decref(o);
        return 0;
    }
    r = room_new(m, name);
    r->locked = false;
    r->persistent = true;
    free(r->title);
    r->title = json_str(o, "title", TITLE_MAX);
    if (r->title == NULL)
        r->title = td_strdup("");
    r->public_ = json_is_true(json_object_get(o, "public"));
    r->members_only = json_is_true(json_object_get(o, "members_only"));
    r->moderated = json_is_true(json_object_get(o, "moderated"));
    r->anyone_whois = json_is_true(json_object_get(o, "anyone_whois"));
    r->change_subject = json_is_true(json_object_get(o, "change_subject"));
    r->allow_invites = json_is_true(json_object_get(o, "allow_invites"));
    maxu = json_integer_value(json_object_get(o, "max_users"));
    r->max_users = maxu >= 1 && maxu <= OCCUPANTS_MAX ? (int)maxu : OCCUPANTS_MAX;
    r->secret = json_str(o, "secret", SECRET_MAX);
    r->subject = json_str(o, "subject", SUBJECT_MAX);
    r->subject_nick = json_str(o, "subject_nick", NICK_MAX);
    affs = json_object_get(o, "affiliations");
    json_object_foreach(affs, bare, v) {
        for (int i = AFF_OUTCAST; i <= AFF_OWNER; i++)
            if (json_is_string(v) && strcmp(json_string_value(v), aff_names[i]) == 0 &&
                strlen(bare) <= XMPP_JID_PART_MAX * 2 + 1)
                (void)aff_set(r, bare, (enum aff)i);
    }
    json_decref(o);
    return 0;
}

/* ---- requests ---- */

struct req {
    struct xmpp_session *s;
    struct xmpp_c2s *srv;
    struct muc *m;
    struct xmpp_el *el;
    struct arena *a;
};

static void err(struct req *q, const char *cond)
{
    xmpp__stanza_error(q->s, q->el, cond);
}

/* A refused entry (§7.2.6-§7.2.11): the error presence carries the MUC
 * element back, as clients match on it. */
static void join_err(struct req *q, const char *cond)
{
    static const struct {
        const char *cond, *type;
    } types[] = {
        {"conflict", "cancel"},          {"forbidden", "auth"},
        {"item-not-found", "cancel"},    {"not-authorized", "auth"},
        {"registration-required", "auth"}, {"service-unavailable", "wait"},
        {"not-allowed", "cancel"},       {"resource-constraint", "wait"},
    };
    const char *type = "modify", *id = xmpp_el_attr(q->el, "id");
    struct buf b;

    for (size_t i = 0; i < TD_ARRAY_LEN(types); i++)
        if (strcmp(types[i].cond, cond) == 0)
            type = types[i].type;
    buf_init(&b, 0);
    buf_appends(&b, "<presence type='error'");
    attr(&b, "from", xmpp_el_attr(q->el, "to"));
    attr(&b, "to", q->s->full);
    if (id)
        attr(&b, "id", id);
    buf_printf(&b, "><x xmlns='" NS_MUC "'/><error type='%s'><%s xmlns='" XMPP_NS_STANZAS
                   "'/></error></presence>",
               type, cond);
    xmpp__send_stanza(q->s, b.data, b.len);
    buf_free(&b);
}

/* The children of el except the MUC extensions, serialized; NULL when too big. */
static char *payload_of(const struct xmpp_el *el, size_t cap, size_t *len)
{
    struct buf b;

    buf_init(&b, cap);
    for (const struct xmpp_el *c = el->children; c; c = c->next) {
        if (xmpp_el_is_text(c))
            continue;
        if (strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0)
            continue;
        if (xmpp_el_serialize(c, XMPP_NS_CLIENT, &b) != TD_OK) {
            buf_free(&b);
            return NULL;
        }
    }
    buf_putc(&b, '\0');
    if (len)
        *len = b.len ? b.len - 1 : 0;
    return buf_steal(&b, NULL);
}

static void send_history(struct xmpp_c2s *srv, struct room *r, struct occ *o,
                         const struct xmpp_el *hreq)
{
    long maxstanzas = HISTORY_MAX, maxchars = -1, seconds = -1;
    const char *v;
    size_t first, n, chars = 0;
    time_t now = time(NULL);

    if (hreq) {
        char *end;
        if ((v = xmpp_el_attr(hreq, "maxstanzas")) && (maxstanzas = strtol(v, &end, 10), *end))
            maxstanzas = HISTORY_MAX;
        if ((v = xmpp_el_attr(hreq, "maxchars")) && (maxchars = strtol(v, &end, 10), *end))
            maxchars = -1;
        if ((v = xmpp_el_attr(hreq, "seconds")) && (seconds = strtol(v, &end, 10), *end))
            seconds = -1;
    }
    if (maxstanzas < 0)
        maxstanzas = 0;
    n = r->hcount < (size_t)maxstanzas ? r->hcount : (size_t)maxstanzas;
    first = r->hcount - n;
    /* The newest ones that fit maxchars and seconds. */
    for (size_t k = r->hcount; k > first; k--) {
        const struct hist *h = &r->hist[(r->hfirst + k - 1) % HISTORY_MAX];
        if ((seconds >= 0 && now - h->at > seconds) ||
            (maxchars >= 0 && chars + h->len > (size_t)maxchars)) {
            first = k;
            break;
        }
        chars += h->len;
    }
    for (size_t k = first; k < r->hcount; k++) {
        const struct hist *h = &r->hist[(r->hfirst + k) % HISTORY_MAX];
        struct buf b;
        buf_init(&b, 0);
        buf_appends(&b, "<message type='groupchat'");
        buf_appends(&b, " from='");
        xmpp__esc(&b, r->jid);
        buf_putc(&b, '/');
        xmpp__esc(&b, h->nick);
        buf_putc(&b, '\'');
        attr(&b, "to", o->jid);
        if (h->id)
            attr(&b, "id", h->id);
        buf_putc(&b, '>');
        buf_appends(&b, h->inner);
        buf_appends(&b, "<delay xmlns='" XMPP_NS_DELAY "'");
        attr(&b, "from", r->jid);
        buf_appends(&b, " stamp='");
        stamp(&b, h->at);
        buf_appends(&b, "'/></message>");
        send_to(srv, o->jid, &b);
        buf_free(&b);
    }
}

static void send_subject(struct xmpp_c2s *srv, const struct room *r, const struct occ *o)
{
    struct buf b;

    buf_init(&b, 0);
    buf_appends(&b, "<message type='groupchat' from='");
    xmpp__esc(&b, r->jid);
    if (r->subject_nick) {
        buf_putc(&b, '/');
        xmpp__esc(&b, r->subject_nick);
    }
    buf_putc(&b, '\'');
    attr(&b, "to", o->jid);
    buf_appends(&b, "><subject>");
    if (r->subject)
        xmpp__esc(&b, r->subject);
    buf_appends(&b, "</subject></message>");
    send_to(srv, o->jid, &b);
    buf_free(&b);
}

static void join(struct req *q, struct room *r, const char *name, const char *nick)
{
    struct xmpp_el *x = xmpp_el_child(q->el, "x", NS_MUC);
    const char *from = q->s->full, *bare = q->s->bare;
    bool created = false;
    struct occ *o;
    enum aff a;
    char *payload;
    int codes[3];
    size_t nc = 0;

    if (strlen(nick) > NICK_MAX) {
        join_err(q, "not-acceptable");
        return;
    }
    if (joined(q->m, bare) >= JOINED_MAX) {
        join_err(q, "resource-constraint");
        return;
    }
    payload = payload_of(q->el, PRESENCE_MAX, NULL);
    if (payload == NULL) {
        join_err(q, "policy-violation");
        return;
    }
    if (r == NULL) {
        if (strlen(name) > ROOM_NAME_MAX || q->m->nrooms >= ROOMS_MAX) {
            join_err(q, "not-allowed");
            free(payload);
            return;
        }
        r = room_new(q->m, name);
        aff_set(r, bare, AFF_OWNER);
        created = true;
        log_info("xmpp.muc.created", "room=%s owner=%s", log_q(r->jid), log_q(bare));
    }
    a = aff_of(r, bare);
    if (r->locked && a != AFF_OWNER) {
        join_err(q, "item-not-found"); /* §10.1.1: not yet configured */
        free(payload);
        return;
    }
    if (a == AFF_OUTCAST) {
        join_err(q, "forbidden");
        free(payload);
        return;
    }
    if (r->members_only && a == AFF_NONE) {
        join_err(q, "registration-required");
        free(payload);
        return;
    }
    if (r->secret && a != AFF_OWNER) {
        const char *pw = x ? xmpp_el_child_text(q->a, x, "password", NULL) : NULL;
        if (pw == NULL || strcmp(pw, r->secret) != 0) {
            join_err(q, "not-authorized");
            free(payload);
            return;
        }
    }
    if (occ_by_nick(r, nick)) {
        join_err(q, "conflict");
        free(payload);
        return;
    }
    if ((r->nocc >= (size_t)r->max_users && a != AFF_OWNER && a != AFF_ADMIN) ||
        r->nocc >= OCCUPANTS_MAX) {
        join_err(q, "service-unavailable");
        free(payload);
        return;
    }
    o = td_calloc(1, sizeof(*o));
    o->nick = td_strdup(nick);
    o->jid = td_strdup(from);
    o->bare = td_strdup(bare);
    o->payload = payload;
    o->role = role_for(r, a);
    /* Existing occupants first, then the newcomer at the end of the list. */
    for (struct occ *t = r->occs; t; t = t->next)
        presence_to(q->srv, r, t, aff_of(r, t->bare), o, false, NULL, 0, NULL, NULL, NULL);
    {
        struct occ **pp = &r->occs;
        while (*pp)
            pp = &(*pp)->next;
        *pp = o;
        r->nocc++;
    }
    if (r->anyone_whois)
        codes[nc++] = 100;
    if (created)
        codes[nc++] = 201;
    presence_all(q->srv, r, o, false, codes, nc, NULL, NULL);
    send_history(q->srv, r, o, x ? xmpp_el_child(x, "history", NULL) : NULL);
    send_subject(q->srv, r, o);
}

static void change_nick(struct req *q, struct room *r, struct occ *o, const char *nick)
{
    int c303 = 303;

    if (strlen(nick) > NICK_MAX) {
        join_err(q, "not-acceptable");
        return;
    }
    if (occ_by_nick(r, nick)) {
        join_err(q, "conflict");
        return;
    }
    presence_all(q->srv, r, o, true, &c303, 1, NULL, nick);
    free(o->nick);
    o->nick = td_strdup(nick);
    presence_all(q->srv, r, o, false, NULL, 0, NULL, NULL);
}

static void on_presence(struct req *q, struct room *r, const struct xmpp_jid *to)
{
    const char *type = xmpp_el_attr(q->el, "type");
    struct occ *o = r ? occ_by_jid(r, q->s->full) : NULL;

    if (type && strcmp(type, "unavailable") == 0) {
        if (o) {
            presence_all(q->srv, r, o, true, NULL, 0, NULL, NULL);
            unlink_occ(r, o);
            if (r->nocc == 0 && !r->persistent)
                room_free(q->m, r);
        }
        return;
    }
    if (type && strcmp(type, "error") == 0) {
        if (o) { /* the client bounced our traffic: it is not there */
            o->gone = true;
            q->m->dirty = true;
        }
        return;
    }
    if (type)
        return; /* subscriptions mean nothing to a room */
    if (to->resource == NULL) {
        join_err(q, "jid-malformed"); /* §7.2.1: a nick is needed */
        return;
    }
    if (o == NULL) {
        join(q, r, to->local, to->resource);
    } else if (strcmp(o->nick, to->resource) != 0) {
        change_nick(q, r, o, to->resource);
    } else {
        char *payload = payload_of(q->el, PRESENCE_MAX, NULL);
        if (payload == NULL) {
            join_err(q, "policy-violation");
            return;
        }
        free(o->payload);
        o->payload = payload;
        presence_all(q->srv, r, o, false, NULL, 0, NULL, NULL);
    }
}

static void hist_add(struct room *r, const char *nick, const char *inner, size_t len,
                     const char *id)
{
    struct hist *h;

    if (len > HISTORY_MSG_MAX)
        return;
    while (r->hcount == HISTORY_MAX || (r->hcount && r->hbytes + len > HISTORY_BYTES))
        hist_drop_first(r);
    h = &r->hist[(r->hfirst + r->hcount) % HISTORY_MAX];
    h->nick = td_strdup(nick);
    h->inner = td_strdup(inner);
    h->id = id ? td_strdup(id) : NULL;
    h->len = len;
    h->at = time(NULL);
    r->hcount++;
    r->hbytes += len;
}

static void groupchat(struct req *q, struct room *r)
{
    struct occ *o = occ_by_jid(r, q->s->full);
    const char *subject = xmpp_el_child_text(q->a, q->el, "subject", NULL);
    bool body = xmpp_el_child(q->el, "body", NULL) != NULL;
    const char *id = xmpp_el_attr(q->el, "id");
    char *inner;
    size_t len;

    if (o == NULL) {
        err(q, "not-acceptable"); /* §7.4: only occupants may send */
        return;
    }
    if (o->role == ROLE_VISITOR) {
        err(q, "forbidden");
        return;
    }
    if (subject && !body) {
        if (!r->change_subject && o->role != ROLE_MODERATOR) {
            err(q, "forbidden"); /* §8.1 */
            return;
        }
        if (strlen(subject) > SUBJECT_MAX) {
            err(q, "not-acceptable");
            return;
        }
        free(r->subject);
        free(r->subject_nick);
        r->subject = td_strdup(subject);
        r->subject_nick = td_strdup(o->nick);
        if (r->persistent)
            room_save(q->srv, q->m, r);
    }
    inner = payload_of(q->el, XMPP_STANZA_MAX, &len);
    if (inner == NULL) {
        err(q, "policy-violation");
        return;
    }
    for (struct occ *t = r->occs; t; t = t->next) {
        struct buf b;
        if (t->gone)
            continue;
        buf_init(&b, 0);
        buf_appends(&b, "<message type='groupchat' from='");
        xmpp__esc(&b, r->jid);
        buf_putc(&b, '/');
        xmpp__esc(&b, o->nick);
        buf_putc(&b, '\'');
        attr(&b, "to", t->jid);
        if (id)
            attr(&b, "id", id);
        buf_putc(&b, '>');
        buf_appends(&b, inner);
        buf_appends(&b, "</message>");
        send_to(q->srv, t->jid, &b);
        buf_free(&b);
    }
    if (body)
        hist_add(r, o->nick, inner, len, id);
    free(inner);
}

/* §7.8.2: the room passes an invitation on to the invitee. */
static void invite(struct req *q, struct room *r, struct xmpp_el *inv)
{
    struct occ *o = occ_by_jid(r, q->s->full);
    const char *to = xmpp_el_attr(inv, "to");
    const char *reason = xmpp_el_child_text(q->a, inv, "reason", NULL);
    struct xmpp_jid j;
    struct xmpp_el *msg, *x, *i;
    enum aff a = aff_of(r, q->s->bare);

    if (o == NULL) {
        err(q, "not-acceptable");
        return;
    }
    if (to == NULL || xmpp_jid_parse(q->a, to, &j) != TD_OK || j.local == NULL) {
        err(q, "jid-malformed");
        return;
    }
    if (r->members_only && !r->allow_invites && a != AFF_OWNER && a != AFF_ADMIN) {
        err(q, "forbidden");
        return;
    }
    if (r->members_only && aff_of(r, xmpp_jid_bare(q->a, &j)) == AFF_NONE &&
        aff_set(r, xmpp_jid_bare(q->a, &j), AFF_MEMBER) != TD_OK) {
        err(q, "resource-constraint");
        return;
    }
    if (r->members_only && r->persistent)
        room_save(q->srv, q->m, r);
    msg = xmpp_el_new(q->a, "message", XMPP_NS_CLIENT);
    xmpp_el_attr_set(q->a, msg, "from", r->jid);
    xmpp_el_attr_set(q->a, msg, "to", xmpp_jid_full(q->a, &j));
    x = xmpp_el_child_new(q->a, msg, "x", NS_MUC_USER);
    i = xmpp_el_child_new(q->a, x, "invite", NULL);
    xmpp_el_attr_set(q->a, i, "from", q->s->full);
    if (reason) {
        struct xmpp_el *re = xmpp_el_child_new(q->a, i, "reason", NULL);
        xmpp_el_text_add(q->a, re, reason, strlen(reason));
    }
    if (r->secret) {
        struct xmpp_el *pw = xmpp_el_child_new(q->a, x, "password", NULL);
        xmpp_el_text_add(q->a, pw, r->secret, strlen(r->secret));
    }
    if (strcmp(j.domain, q->srv->domain) != 0 || xmpp__deliver_local(q->srv, msg, q->a) != TD_OK)
        err(q, "item-not-found");
}

static void private_message(struct req *q, struct room *r, const char *nick)
{
    struct occ *o = occ_by_jid(r, q->s->full), *t;
    const char *type = xmpp_el_attr(q->el, "type");
    const char *id = xmpp_el_attr(q->el, "id");
    char *inner;
    struct buf b;

    if (type && strcmp(type, "groupchat") == 0) {
        err(q, "bad-request"); /* §7.5 */
        return;
    }
    if (o == NULL) {
        err(q, "not-acceptable");
        return;
    }
    if ((t = occ_by_nick(r, nick)) == NULL) {
        err(q, "item-not-found");
        return;
    }
    inner = payload_of(q->el, XMPP_STANZA_MAX, NULL);
    if (inner == NULL) {
        err(q, "policy-violation");
        return;
    }
    buf_init(&b, 0);
    buf_appends(&b, "<message from='");
    xmpp__esc(&b, r->jid);
    buf_putc(&b, '/');
    xmpp__esc(&b, o->nick);
    buf_putc(&b, '\'');
    attr(&b, "to", t->jid);
    if (type)
        attr(&b, "type", type);
    if (id)
        attr(&b, "id", id);
    buf_putc(&b, '>');
    buf_appends(&b, inner);
    buf_appends(&b, "<x xmlns='" NS_MUC_USER "'/></message>");
    send_to(q->srv, t->jid, &b);
    buf_free(&b);
    free(inner);
}

static void on_message(struct req *q, struct room *r, const struct xmpp_jid *to)
{
    const char *type = xmpp_el_attr(q->el, "type");
    struct xmpp_el *x, *inv;

    if (type && strcmp(type, "error") == 0)
        return;
    if (r == NULL || (r->locked && occ_by_jid(r, q->s->full) == NULL)) {
        err(q, "item-not-found");
        return;
    }
    if (to->resource) {
        private_message(q, r, to->resource);
        return;
    }
    if (type && strcmp(type, "groupchat") == 0) {
        groupchat(q, r);
        return;
    }
    x = xmpp_el_child(q->el, "x", NS_MUC_USER);
    inv = x ? xmpp_el_child(x, "invite", NULL) : NULL;
    if (inv)
        invite(q, r, inv);
    else if (x && xmpp_el_child(x, "decline", NULL))
        return; /* declines to the room are not passed on */
    else
        err(q, "bad-request");
}

/* ---- iq: discovery ---- */

static void result_open(struct req *q, struct buf *b, const char *from, const char *ns)
{
    buf_init(b, 0);
    xmpp__iq_result_open(b, q->el, from);
    buf_printf(b, "><query xmlns='%s'>", ns);
}

static void result_send(struct req *q, struct buf *b)
{
    buf_appends(b, "</query></iq>");
    xmpp__send_stanza(q->s, b->data, b->len);
    buf_free(b);
}

static void field(struct buf *b, const char *var, const char *type, const char *label,
                  const char *value)
{
    buf_appends(b, "<field");
    attr(b, "var", var);
    if (type)
        attr(b, "type", type);
    if (label)
        attr(b, "label", label);
    buf_appends(b, "><value>");
    xmpp__esc(b, value);
    buf_appends(b, "</value></field>");
}

static void room_disco_info(struct req *q, struct room *r)
{
    struct buf b;
    char n[24];

    result_open(q, &b, r->jid, XMPP_NS_DISCO_INFO);
    buf_appends(&b, "<identity category='conference' type='text'");
    attr(&b, "name", r->title[0] ? r->title : r->name);
    buf_appends(&b, "/><feature var='" NS_MUC "'/>");
    buf_printf(&b, "<feature var='%s'/>", r->public_ ? "muc_public" : "muc_hidden");
    buf_printf(&b, "<feature var='%s'/>", r->persistent ? "muc_persistent" : "muc_temporary");
    buf_printf(&b, "<feature var='%s'/>", r->members_only ? "muc_membersonly" : "muc_open");
    buf_printf(&b, "<feature var='%s'/>", r->moderated ? "muc_moderated" : "muc_unmoderated");
    buf_printf(&b, "<feature var='%s'/>",
               r->anyone_whois ? "muc_nonanonymous" : "muc_semianonymous");
    buf_printf(&b, "<feature var='%s'/>", r->secret ? "muc_passwordprotected" : "muc_unsecured");
    buf_appends(&b, "<x xmlns='" NS_XDATA "' type='result'>");
    field(&b, "FORM_TYPE", "hidden", NULL, "http://jabber.org/protocol/muc#roominfo");
    snprintf(n, sizeof(n), "%zu", r->nocc);
    field(&b, "muc#roominfo_occupants", NULL, "Number of occupants", n);
    field(&b, "muc#roominfo_subject", NULL, "Subject", r->subject ? r->subject : "");
    field(&b, "muc#roomconfig_roomname", NULL, "Name", r->title);
    field(&b, "muc#roomconfig_changesubject", NULL, "Occupants may change the subject",
          r->change_subject ? "1" : "0");
    buf_appends(&b, "</x>");
    result_send(q, &b);
}

static void service_iq(struct req *q, struct xmpp_el *qe, const char *type)
{
    struct buf b;
    size_t listed = 0;

    if (strcmp(type, "get") == 0 && strcmp(qe->name, "query") == 0 &&
        strcmp(qe->ns, XMPP_NS_DISCO_INFO) == 0 && xmpp_el_attr(qe, "node") == NULL) {
        result_open(q, &b, q->m->domain, XMPP_NS_DISCO_INFO);
        buf_appends(&b, "<identity category='conference' type='text' name='Chatrooms'/>"
                        "<feature var='" XMPP_NS_DISCO_INFO "'/>"
                        "<feature var='" XMPP_NS_DISCO_ITEMS "'/>"
                        "<feature var='" NS_MUC "'/>");
        result_send(q, &b);
    } else if (strcmp(type, "get") == 0 && strcmp(qe->name, "query") == 0 &&
               strcmp(qe->ns, XMPP_NS_DISCO_ITEMS) == 0 && xmpp_el_attr(qe, "node") == NULL) {
        /* §6.3: the public rooms; capped so the answer stays a sane size. */
        result_open(q, &b, q->m->domain, XMPP_NS_DISCO_ITEMS);
        for (size_t i = 0; i < BUCKETS && listed < 1000; i++)
            for (struct room *r = q->m->buckets[i]; r && listed < 1000; r = r->next) {
                if (!r->public_ || r->locked)
                    continue;
                buf_appends(&b, "<item");
                attr(&b, "jid", r->jid);
                attr(&b, "name", r->title[0] ? r->title : r->name);
                buf_appends(&b, "/>");
                listed++;
            }
        result_send(q, &b);
    } else {
        err(q, "service-unavailable");
    }
}

/* ---- iq: configuration (§10) ---- */

static void remove_with(struct req *q, struct room *r, struct occ *o, int code,
                        const struct occ *actor, const char *reason);

static void config_form(struct req *q, struct room *r)
{
    struct buf b;
    char n[24];

    result_open(q, &b, r->jid, NS_MUC_OWNER);
    buf_appends(&b, "<x xmlns='" NS_XDATA "' type='form'><title>Configuration of ");
    xmpp__esc(&b, r->jid);
    buf_appends(&b, "</title>");
    field(&b, "FORM_TYPE", "hidden", NULL, "http://jabber.org/protocol/muc#roomconfig");
    field(&b, "muc#roomconfig_roomname", "text-single", "Name", r->title);
    field(&b, "muc#roomconfig_persistentroom", "boolean", "Persistent (kept when empty)",
          r->persistent ? "1" : "0");
    field(&b, "muc#roomconfig_publicroom", "boolean", "Listed in the directory",
          r->public_ ? "1" : "0");
    field(&b, "muc#roomconfig_membersonly", "boolean", "Members only",
          r->members_only ? "1" : "0");
    field(&b, "muc#roomconfig_moderatedroom", "boolean", "Moderated", r->moderated ? "1" : "0");
    field(&b, "muc#roomconfig_passwordprotectedroom", "boolean", "Password protected",
          r->secret ? "1" : "0");
    field(&b, "muc#roomconfig_roomsecret", "text-private", "Password",
          r->secret ? r->secret : "");
    buf_appends(&b, "<field var='muc#roomconfig_whois' type='list-single' "
                    "label='Who may see real addresses'>"
                    "<option label='Moderators'><value>moderators</value></option>"
                    "<option label='Anyone'><value>anyone</value></option><value>");
    buf_appends(&b, r->anyone_whois ? "anyone" : "moderators");
    buf_appends(&b, "</value></field>");
    snprintf(n, sizeof(n), "%d", r->max_users);
    field(&b, "muc#roomconfig_maxusers", "text-single", "Maximum occupants", n);
    field(&b, "muc#roomconfig_changesubject", "boolean", "Occupants may change the subject",
          r->change_subject ? "1" : "0");
    field(&b, "muc#roomconfig_allowinvites", "boolean", "Occupants may invite",
          r->allow_invites ? "1" : "0");
    buf_appends(&b, "</x>");
    result_send(q, &b);
}

static bool truthy(const char *v)
{
    return strcmp(v, "1") == 0 || strcmp(v, "true") == 0;
}

/* §10.2: apply a submitted form; NULL or the error condition. */
static const char *config_apply(struct req *q, struct room *r, struct xmpp_el *x)
{
    const char *title = NULL, *secret = NULL;
    int pw = -1, maxu = -1, flags[7];
    static const char *const bools[] = {
        "muc#roomconfig_persistentroom", "muc#roomconfig_publicroom",
        "muc#roomconfig_membersonly",    "muc#roomconfig_moderatedroom",
        "muc#roomconfig_changesubject",  "muc#roomconfig_allowinvites",
        "muc#roomconfig_whois",
    };
    bool *dst[] = {&r->persistent,     &r->public_,       &r->members_only, &r->moderated,
                   &r->change_subject, &r->allow_invites, &r->anyone_whois};

    for (size_t i = 0; i < 7; i++)
        flags[i] = -1;
    for (struct xmpp_el *f = xmpp_el_child(x, "field", NULL); f;
         f = xmpp_el_next(f, "field", NULL)) {
        const char *var = xmpp_el_attr(f, "var");
        const char *v = xmpp_el_child_text(q->a, f, "value", NULL);
        if (var == NULL)
            continue;
        if (v == NULL)
            v = "";
        if (strcmp(var, "muc#roomconfig_roomname") == 0) {
            if (strlen(v) > TITLE_MAX)
                return "not-acceptable";
            title = v;
        } else if (strcmp(var, "muc#roomconfig_roomsecret") == 0) {
            if (strlen(v) > SECRET_MAX)
                return "not-acceptable";
            secret = v;
        } else if (strcmp(var, "muc#roomconfig_passwordprotectedroom") == 0) {
            pw = truthy(v);
        } else if (strcmp(var, "muc#roomconfig_maxusers") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (strcmp(v, "none") == 0 || v[0] == '\0')
                n = OCCUPANTS_MAX;
            else if (*end || n < 1)
                return "not-acceptable";
            maxu = n > OCCUPANTS_MAX ? OCCUPANTS_MAX : (int)n;
        } else if (strcmp(var, "muc#roomconfig_whois") == 0) {
            if (strcmp(v, "anyone") != 0 && strcmp(v, "moderators") != 0)
                return "not-acceptable";
            flags[6] = strcmp(v, "anyone") == 0;
        } else {
            for (size_t i = 0; i < 6; i++)
                if (strcmp(var, bools[i]) == 0)
                    flags[i] = truthy(v);
        }
    }
    if (pw == 1 && (secret ? secret[0] == '\0' : r->secret == NULL))
        return "not-acceptable"; /* a password room needs a password */
    for (size_t i = 0; i < 7; i++)
        if (flags[i] >= 0)
            *dst[i] = flags[i] != 0;
    if (title) {
        free(r->title);
        r->title = td_strdup(title);
    }
    if (pw == 0) {
        free(r->secret);
        r->secret = NULL;
    } else if (secret && secret[0] && (pw == 1 || r->secret)) {
        free(r->secret);
        r->secret = td_strdup(secret);
    }
    if (maxu > 0)
        r->max_users = maxu;
    /* Roles follow the moderation setting for those without affiliation. */
    for (struct occ *o = r->occs; o; o = o->next) {
        enum aff a = aff_of(r, o->bare);
        if (a == AFF_NONE && o->role != ROLE_MODERATOR)
            o->role = role_for(r, a);
    }
    return NULL;
}

static void owner_iq(struct req *q, struct room *r, struct xmpp_el *qe, const char *type)
{
    struct xmpp_el *x = xmpp_el_child(qe, "x", NS_XDATA), *d;
    const char *xt = x ? xmpp_el_attr(x, "type") : NULL, *e;
    bool was_members_only;

    if (aff_of(r, q->s->bare) != AFF_OWNER) {
        err(q, "forbidden");
        return;
    }
    if (strcmp(type, "get") == 0) {
        config_form(q, r);
        return;
    }
    if ((d = xmpp_el_child(qe, "destroy", NULL)) != NULL) {
        const char *alt = xmpp_el_attr(d, "jid");
        const char *reason = xmpp_el_child_text(q->a, d, "reason", NULL);
        xmpp__iq_result_empty(q->s, q->el);
        destroy_room(q->srv, q->m, r, alt, reason);
        return;
    }
    if (xt && strcmp(xt, "cancel") == 0) {
        xmpp__iq_result_empty(q->s, q->el);
        if (r->locked) /* §10.1.3: the new room is given up */
            destroy_room(q->srv, q->m, r, NULL, NULL);
        return;
    }
    if (xt == NULL || strcmp(xt, "submit") != 0) {
        err(q, "bad-request");
        return;
    }
    was_members_only = r->members_only;
    if ((e = config_apply(q, r, x)) != NULL) {
        err(q, e);
        return;
    }
    if (r->members_only && !was_members_only) /* §9.4 note: 322, non-members go */
        for (struct occ *o = r->occs, *next; o; o = next) {
            next = o->next;
            if (!o->gone && aff_of(r, o->bare) == AFF_NONE)
                remove_with(q, r, o, 322, NULL, NULL);
        }
    r->locked = false;
    room_save(q->srv, q->m, r);
    xmpp__iq_result_empty(q->s, q->el);
}

/* ---- iq: roles and affiliations (§8, §9, §10) ---- */

static int parse_role(const char *v)
{
    for (int i = 0; i < 4; i++)
        if (v && strcmp(v, role_names[i]) == 0)
            return i;
    return -1;
}

static int parse_aff(const char *v)
{
    for (int i = 0; i < 5; i++)
        if (v && strcmp(v, aff_names[i]) == 0)
            return i;
    return -1;
}

/* <actor/> (when the one acting is in the room) and <reason/>, as a string. */
static void actor_reason(struct buf *b, const struct occ *actor, const char *reason)
{
    if (actor) {
        buf_appends(b, "<actor");
        attr(b, "nick", actor->nick);
        buf_appends(b, "/>");
    }
    if (reason) {
        buf_appends(b, "<reason>");
        xmpp__esc(b, reason);
        buf_appends(b, "</reason>");
    }
    buf_putc(b, '\0');
}

/* Remove o with a status code (307 kick, 301 ban, 321 membership lost,
 * 322 the room became members-only). */
static void remove_with(struct req *q, struct room *r, struct occ *o, int code,
                        const struct occ *actor, const char *reason)
{
    struct buf ex;

    buf_init(&ex, 0);
    actor_reason(&ex, actor, reason);
    presence_all(q->srv, r, o, true, &code, 1, ex.data, NULL);
    buf_free(&ex);
    unlink_occ(r, o);
}

/* One <item/> of an admin set; check only, or apply. NULL or an error. */
static const char *admin_item(struct req *q, struct room *r, struct occ *actor,
                              struct xmpp_el *it, bool apply)
{
    enum aff me = aff_of(r, q->s->bare);
    const char *nick = xmpp_el_attr(it, "nick"), *jid = xmpp_el_attr(it, "jid");
    const char *reason = xmpp_el_child_text(q->a, it, "reason", NULL);
    int role = parse_role(xmpp_el_attr(it, "role"));
    int aff = parse_aff(xmpp_el_attr(it, "affiliation"));

    if (reason && strlen(reason) > SUBJECT_MAX)
        return "not-acceptable";
    if (role >= 0 && nick) {
        struct occ *t = occ_by_nick(r, nick);
        enum aff ta;
        if (actor == NULL || actor->role != ROLE_MODERATOR)
            return "forbidden";
        if (t == NULL)
            return "item-not-found";
        ta = aff_of(r, t->bare);
        if (ta == AFF_OWNER || (ta == AFF_ADMIN && me != AFF_OWNER))
            return "not-allowed"; /* §8.2: no kicking admins or owners */
        if ((role == ROLE_MODERATOR || t->role == ROLE_MODERATOR) && me != AFF_OWNER &&
            me != AFF_ADMIN)
            return "not-allowed"; /* §9.6-9.7 */
        if (!apply)
            return NULL;
        if (role == ROLE_NONE) {
            remove_with(q, r, t, 307, actor, reason);
        } else {
            struct buf ex;
            t->role = (enum role)role;
            buf_init(&ex, 0);
            actor_reason(&ex, actor, reason);
            presence_all(q->srv, r, t, false, NULL, 0, ex.data, NULL);
            buf_free(&ex);
        }
        return NULL;
    }
    if (aff >= 0 && jid) {
        struct xmpp_jid j;
        const char *bare;
        enum aff ta;
        if (xmpp_jid_parse(q->a, jid, &j) != TD_OK)
            return "jid-malformed";
        bare = xmpp_jid_bare(q->a, &j);
        if (me != AFF_OWNER && me != AFF_ADMIN)
            return "forbidden";
        ta = aff_of(r, bare);
        if (me != AFF_OWNER && (ta == AFF_OWNER || ta == AFF_ADMIN || aff == AFF_OWNER ||
                                aff == AFF_ADMIN))
            return "not-allowed"; /* §9.1, §9.7: admins do not touch admins/owners */
        if (ta == AFF_OWNER && aff != AFF_OWNER && owners(r) == 1)
            return "conflict"; /* §10.6: the last owner stays */
        if (!apply)
            return NULL;
        if (aff_set(r, bare, (enum aff)aff) != TD_OK)
            return "resource-constraint";
        for (struct occ *t = r->occs, *next; t; t = next) {
            next = t->next;
            if (t->gone || strcmp(t->bare, bare) != 0)
                continue;
            if (aff == AFF_OUTCAST) {
                remove_with(q, r, t, 301, actor, reason);
            } else if (aff == AFF_NONE && r->members_only) {
                remove_with(q, r, t, 321, actor, reason);
            } else {
                t->role = role_for(r, (enum aff)aff);
                presence_all(q->srv, r, t, false, NULL, 0, NULL, NULL);
            }
        }
        return NULL;
    }
    return "bad-request";
}

static void admin_get(struct req *q, struct room *r, struct xmpp_el *qe)
{
    struct xmpp_el *it = xmpp_el_child(qe, "item", NULL);
    enum aff me = aff_of(r, q->s->bare);
    struct occ *actor = occ_by_jid(r, q->s->full);
    int aff = it ? parse_aff(xmpp_el_attr(it, "affiliation")) : -1;
    int role = it ? parse_role(xmpp_el_attr(it, "role")) : -1;
    struct buf b;

    if (aff < 0 && role < 0) {
        err(q, "bad-request");
        return;
    }
    if ((aff >= 0 && me != AFF_OWNER && me != AFF_ADMIN) ||
        (aff < 0 && (actor == NULL || actor->role != ROLE_MODERATOR))) {
        err(q, "forbidden");
        return;
    }
    result_open(q, &b, r->jid, NS_MUC_ADMIN);
    if (aff >= 0) {
        for (struct affent *e = r->affs; e; e = e->next)
            if ((int)e->aff == aff) {
                buf_appends(&b, "<item");
                attr(&b, "affiliation", aff_names[e->aff]);
                attr(&b, "jid", e->bare);
                buf_appends(&b, "/>");
            }
    } else {
        for (struct occ *o = r->occs; o; o = o->next)
            if (!o->gone && (int)o->role == role) {
                buf_appends(&b, "<item");
                attr(&b, "affiliation", aff_names[aff_of(r, o->bare)]);
                attr(&b, "jid", o->jid);
                attr(&b, "nick", o->nick);
                attr(&b, "role", role_names[o->role]);
                buf_appends(&b, "/>");
            }
    }
    result_send(q, &b);
}

static void admin_iq(struct req *q, struct room *r, struct xmpp_el *qe, const char *type)
{
    struct occ *actor = occ_by_jid(r, q->s->full);
    const char *e = NULL;
    size_t n = 0;

    if (strcmp(type, "get") == 0) {
        admin_get(q, r, qe);
        return;
    }
    /* All items are checked before any is applied. */
    for (struct xmpp_el *it = xmpp_el_child(qe, "item", NULL); it && !e;
         it = xmpp_el_next(it, "item", NULL), n++)
        e = admin_item(q, r, actor, it, false);
    if (e == NULL && n == 0)
        e = "bad-request";
    if (e) {
        err(q, e);
        return;
    }
    for (struct xmpp_el *it = xmpp_el_child(qe, "item", NULL); it;
         it = xmpp_el_next(it, "item", NULL))
        (void)admin_item(q, r, actor, it, true);
    if (r->persistent)
        room_save(q->srv, q->m, r);
    xmpp__iq_result_empty(q->s, q->el);
}

static void on_iq(struct req *q, struct room *r, const struct xmpp_jid *to)
{
    const char *type = xmpp_el_attr(q->el, "type");
    struct xmpp_el *qe = NULL;
    size_t n = 0;

    if (type == NULL || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return; /* results and errors to the service: nobody asked */
    for (struct xmpp_el *c = q->el->children; c; c = c->next)
        if (!xmpp_el_is_text(c)) {
            qe = c;
            n++;
        }
    if (n != 1) {
        err(q, "bad-request");
        return;
    }
    if (to->local == NULL) {
        if (to->resource)
            err(q, "service-unavailable");
        else
            service_iq(q, qe, type);
        return;
    }
    if (r == NULL) {
        err(q, "item-not-found");
        return;
    }
    if (to->resource) {
        err(q, "service-unavailable"); /* §7.3 IQ forwarding is not offered */
        return;
    }
    if (strcmp(qe->ns, NS_MUC_OWNER) == 0 && strcmp(qe->name, "query") == 0) {
        owner_iq(q, r, qe, type);
    } else if (strcmp(qe->ns, NS_MUC_ADMIN) == 0 && strcmp(qe->name, "query") == 0) {
        admin_iq(q, r, qe, type);
    } else if (strcmp(type, "get") == 0 && strcmp(qe->name, "query") == 0 &&
               strcmp(qe->ns, XMPP_NS_DISCO_INFO) == 0 && xmpp_el_attr(qe, "node") == NULL) {
        room_disco_info(q, r);
    } else if (strcmp(type, "get") == 0 && strcmp(qe->name, "query") == 0 &&
               strcmp(qe->ns, XMPP_NS_DISCO_ITEMS) == 0) {
        struct buf b; /* §6.5: occupants are not listed (semi-anonymity) */
        result_open(q, &b, r->jid, XMPP_NS_DISCO_ITEMS);
        result_send(q, &b);
    } else {
        err(q, "service-unavailable");
    }
}

/* ---- the module ---- */

static int muc_route(struct xmpp_session *s, int slot, struct xmpp_el *el,
                     const struct xmpp_jid *to, struct arena *a)
{
    struct muc *m = s->srv->mod[slot];
    struct req q = {s, s->srv, m, el, a};
    struct room *r;

    if (m == NULL || strcmp(to->domain, m->domain) != 0)
        return XMPP_MOD_PASS;
    if (!s->bound || s->full == NULL)
        return XMPP_MOD_HANDLED;
    m->busy++;
    r = to->local ? room_find(m, to->local) : NULL;
    if (strcmp(el->name, "iq") == 0) {
        on_iq(&q, r, to);
    } else if (to->local == NULL) {
        if (strcmp(el->name, "message") == 0)
            err(&q, "service-unavailable");
    } else if (strcmp(el->name, "presence") == 0) {
        on_presence(&q, r, to);
    } else {
        on_message(&q, r, to);
    }
    m->busy--;
    settle(s->srv, m);
    return XMPP_MOD_HANDLED;
}

static void muc_disco_items(struct xmpp_c2s *srv, int slot, struct buf *out)
{
    struct muc *m = srv->mod[slot];

    if (m == NULL)
        return;
    buf_appends(out, "<item");
    attr(out, "jid", m->domain);
    buf_appends(out, " name='Chatrooms'/>");
}

/* Out of every room: the session left, or went unavailable. */
static void leave_rooms(struct xmpp_session *s, int slot)
{
    struct muc *m = s->srv->mod[slot];

    if (m == NULL || s->full == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        for (struct room *r = m->buckets[i]; r; r = r->next)
            for (struct occ *o = r->occs; o; o = o->next)
                if (!o->gone && strcmp(o->jid, s->full) == 0) {
                    o->gone = true;
                    m->dirty = true;
                }
    settle(s->srv, m);
}

static void muc_leave(struct xmpp_session *s, int slot)
{
    leave_rooms(s, slot);
}

/* RFC 6121 §4.6.3 and XEP-0045 §7.14: a broadcast unavailable presence
 * ends the directed presence the rooms got, so the user leaves them. */
static void muc_presence(struct xmpp_session *s, int slot, struct xmpp_el *p, bool initial,
                         struct arena *a)
{
    const char *type = xmpp_el_attr(p, "type");

    (void)initial;
    (void)a;
    if (type && strcmp(type, "unavailable") == 0)
        leave_rooms(s, slot);
}

static int muc_init(struct xmpp_c2s *srv, int slot)
{
    struct muc *m;

    if (srv->muc_domain == NULL || srv->muc_domain[0] == '\0')
        return TD_OK; /* off */
    m = td_calloc(1, sizeof(*m));
    m->domain = td_strdup(srv->muc_domain);
    srv->mod[slot] = m;
    if (srv->store && store_muc_list(srv->store, m->domain, room_load, m) != TD_OK)
        log_warn("xmpp.muc.load_failed", "service=%s", log_q(m->domain));
    return TD_OK;
}

static void muc_fini(struct xmpp_c2s *srv, int slot)
{
    struct muc *m = srv->mod[slot];

    if (m == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (m->buckets[i])
            room_free(m, m->buckets[i]);
    free(m->domain);
    free(m);
    srv->mod[slot] = NULL;
}

const struct xmpp_mod xmpp_mod_muc = {
    .name = "muc",
    .init = muc_init,
    .fini = muc_fini,
    .route_domain = muc_route,
    .disco_items = muc_disco_items,
    .presence = muc_presence,
    .leave = muc_leave,
};
