/* SPDX-License-Identifier: MIT */
/* Message Archive Management (XEP-0313, urn:xmpp:mam:2) for user archives,
 * with unique and stable stanza ids (XEP-0359, urn:xmpp:sid:0).
 *
 * Archiving (XEP-0313 §5 business rules): a message of type chat or normal
 * with a <body/> between two local users is kept in the sender's and the
 * recipient's archive (one row when they are the same user), unless the
 * owner's preference (§7: always, roster = only with roster contacts, never)
 * says otherwise; groupchat, headline, error and bodiless messages are not.
 * Before routing (message_pre) any <stanza-id/> that claims to be by either
 * party is removed (XEP-0359 §5: a client must not be able to forge ours),
 * the stored form is serialized, and each archiving party's id is added as
 * <stanza-id by='bare' id='...'/>, so the recipient's copy (live, carbon or
 * offline) carries the recipient's archive id and the sender's carbons the
 * sender's. After routing (message_post) the rows are queued when the
 * message went to a resource or into offline storage, and written in
 * batches (see struct row below). Ids are ids_next()
 * values in decimal: time-sortable, so a time range is an id range.
 *
 * Queries (§4) go to the own bare JID (another user's archive: forbidden,
 * §4.1 access control): the data form (§4.1.1: FORM_TYPE, with, start, end,
 * and from urn:xmpp:mam:2#extended before-id and after-id; unknown fields
 * and bad values are bad-request), RSM paging (XEP-0059: max, capped at
 * MAM_PAGE_MAX and 50 without one, after, before, empty <before/> for the
 * last page; an unknown id is item-not-found, <index/> is
 * feature-not-implemented), results as <message><result queryid id>
 * <forwarded><delay stamp/>original</forwarded></result></message> in
 * chronological order, then <fin complete='true|false'> with <set>
 * first/last/count (§4.3). A form request (iq get <query/>, §4.1.1) lists
 * the fields; <prefs/> get/set (§7) keeps the default only: <always/> and
 * <never/> JID lists are not kept, and the answer (the preferences in force)
 * says so with empty lists. Only urn:xmpp:mam:2 is served (mam:1 and
 * earlier get service-unavailable from the core): the clients we test with
 * and current ones speak v2, and v1's differences are in details (no
 * #extended, different error rules) we would otherwise have to keep apart.
 * Archive size: STORE_MAM_MAX rows per account, oldest dropped (store_mam.h).
 * Writes are synchronous on the loop thread: per archived message one INSERT
 * per archive plus a primary-key read of the archive's count. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/err.h"
#include "core/ids.h"
#include "core/log.h"
#include "store/store_mam.h"
#include "store/store_roster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NS_MAM "urn:xmpp:mam:2"
#define NS_MAM_EXT "urn:xmpp:mam:2#extended"
#define NS_SID "urn:xmpp:sid:0"
#define NS_RSM "http://jabber.org/protocol/rsm"
#define NS_XDATA "jabber:x:data"
#define NS_FORWARD "urn:xmpp:forward:0"

#define MAM_PAGE_MAX 250
#define MAM_PAGE_DEFAULT 50

/* What message_pre decided for the message message_post will see next
 * (both run back to back for one message on the loop thread). */
struct pending {
    const struct xmpp_el *msg;   /* identity check only */
    const char *stored;          /* the archived form, in the stanza's arena */
    int64_t sender_acct, sender_id;
    int64_t rcpt_acct, rcpt_id;
};

/* Archive rows waiting to be written. Each message is written to two
 * archives, and each archive row touches its account's pages of two
 * indexes: written per loop turn, a busy server rewrote the same pages
 * over and over (the profile of the XMPP benchmark was mostly SQLite's
 * write path). Rows are kept here and written in one transaction about
 * once a second (the tick hook), when FLUSH_ROWS or FLUSH_BYTES pile up,
 * before any archive query (a client always sees what it sent) and at
 * shutdown. What a crash loses is at most that second of archive rows; the
 * messages themselves were delivered or stored offline already. */
#define FLUSH_ROWS 4096
#define FLUSH_BYTES (8 * 1024 * 1024)

struct row {
    int64_t acct, id;
    char *with_bare, *with_res, *stanza;
    bool outgoing;
};

/* The archive preference of each account seen (§7 default: always,
 * roster, never), so that archiving a message costs no query for it:
 * open addressing on the account id, filled on first use and updated when
 * the user sets it; dropped whole past PREFS_MAX accounts. */
#define PREFS_MAX (1u << 20)

struct pref {
    int64_t acct; /* 0 = free */
    enum store_mam_default mode;
};

struct mam_srv {
    struct pending p;
    struct row *rows;
    size_t n, cap, bytes;
    struct pref *prefs;
    size_t nprefs, prefs_cap; /* prefs_cap: 0 or a power of two */
};

static struct pref *pref_find(struct mam_srv *m, int64_t acct)
{
    size_t mask = m->prefs_cap - 1, i;

    if (m->prefs_cap == 0)
        return NULL;
    for (i = (size_t)acct * 0x9E3779B97F4A7C15ull & mask; m->prefs[i].acct != 0;
         i = (i + 1) & mask)
        if (m->prefs[i].acct == acct)
            return &m->prefs[i];
    return NULL;
}

static void pref_put(struct mam_srv *m, int64_t acct, enum store_mam_default mode)
{
    struct pref *p = pref_find(m, acct);
    size_t mask, i;

    if (p != NULL) {
        p->mode = mode;
        return;
    }
    if (m->nprefs >= PREFS_MAX) { /* start over rather than grow without end */
        free(m->prefs);
        m->prefs = NULL;
        m->nprefs = m->prefs_cap = 0;
    }
    if (4 * (m->nprefs + 1) > 3 * m->prefs_cap) {
        struct pref *old = m->prefs;
        size_t old_cap = m->prefs_cap;
        m->prefs_cap = old_cap ? 2 * old_cap : 1024;
        m->prefs = td_calloc(m->prefs_cap, sizeof(*m->prefs));
        m->nprefs = 0;
        for (size_t k = 0; k < old_cap; k++)
            if (old[k].acct != 0)
                pref_put(m, old[k].acct, old[k].mode);
        free(old);
    }
    mask = m->prefs_cap - 1;
    for (i = (size_t)acct * 0x9E3779B97F4A7C15ull & mask; m->prefs[i].acct != 0;
         i = (i + 1) & mask)
        ;
    m->prefs[i].acct = acct;
    m->prefs[i].mode = mode;
    m->nprefs++;
}

static int mam_init(struct xmpp_c2s *srv, int slot)
{
    srv->mod[slot] = td_calloc(1, sizeof(struct mam_srv));
    return TD_OK;
}

/* Write the waiting rows in one transaction. */
static void flush(struct xmpp_c2s *srv, struct mam_srv *m)
{
    bool tx;
    int failed = 0;

    if (m->n == 0)
        return;
    tx = store_begin(srv->store) == TD_OK;
    for (size_t i = 0; i < m->n; i++) {
        struct row *r = &m->rows[i];
        struct store_mam_msg row = {.id = r->id, .outgoing = r->outgoing, .stanza = r->stanza,
                                    .with_bare = r->with_bare, .with_res = r->with_res};
        if (store_mam_add(srv->store, r->acct, &row, 0) != TD_OK)
            failed++;
        free(r->with_bare);
        free(r->with_res);
        free(r->stanza);
    }
    if (tx && store_commit(srv->store) != TD_OK) {
        (void)store_rollback(srv->store);
        failed = (int)m->n;
    }
    if (failed)
        log_warn("xmpp.mam_store_failed", "rows=%zu failed=%d", m->n, failed);
    m->n = 0;
    m->bytes = 0;
}

static void mam_tick(struct xmpp_c2s *srv, int slot)
{
    flush(srv, srv->mod[slot]);
}

static void mam_fini(struct xmpp_c2s *srv, int slot)
{
    struct mam_srv *m = srv->mod[slot];

    flush(srv, m);
    free(m->rows);
    free(m->prefs);
    free(m);
    srv->mod[slot] = NULL;
}

/* ---- archiving ---- */

static bool archivable(const struct xmpp_el *msg)
{
    const char *type = xmpp_el_attr(msg, "type");

    if (type != NULL && strcmp(type, "chat") != 0 && strcmp(type, "normal") != 0)
        return false;
    return xmpp_el_child(msg, "body", XMPP_NS_CLIENT) != NULL;
}

/* Does the owner (account acct) keep messages with other_bare (§7)? */
static bool keeps(struct xmpp_c2s *srv, struct mam_srv *m, int64_t acct, const char *other_bare)
{
    enum store_mam_default d;
    struct store_roster_item it;
    struct pref *p;
    bool in;

    if (acct == 0)
        return false;
    p = pref_find(m, acct);
    if (p != NULL) {
        d = p->mode;
    } else {
        if (store_mam_prefs_get(srv->store, acct, &d) != TD_OK)
            return false;
        pref_put(m, acct, d);
    }
    if (d == STORE_MAM_ALWAYS)
        return true;
    if (d == STORE_MAM_NEVER)
        return false;
    if (store_roster_get(srv->store, acct, other_bare, &it) != TD_OK)
        return false;
    in = it.in_roster;
    store_roster_item_clear(&it);
    return in;
}

/* XEP-0359 §5: drop stanza-ids a client put in with a `by` that is ours to give. */
static void strip_stanza_ids(struct xmpp_el *msg, const char *a_bare, const char *b_bare)
{
    struct xmpp_el *prev = NULL, *c = msg->children;

    msg->last_child = NULL;
    while (c) {
        struct xmpp_el *next = c->next;
        const char *by = xmpp_el_is_text(c) ? NULL : xmpp_el_attr(c, "by");
        if (!xmpp_el_is_text(c) && strcmp(c->name, "stanza-id") == 0 &&
            strcmp(c->ns, NS_SID) == 0 &&
            (by == NULL || strcmp(by, a_bare) == 0 || strcmp(by, b_bare) == 0)) {
            if (prev)
                prev->next = next;
            else
                msg->children = next;
        } else {
            prev = c;
            msg->last_child = c;
        }
        c = next;
    }
}

static void add_stanza_id(struct arena *a, struct xmpp_el *msg, const char *by, int64_t id)
{
    struct xmpp_el *e = xmpp_el_child_new(a, msg, "stanza-id", NS_SID);

    xmpp_el_attr_set(a, e, "by", by);
    xmpp_el_attr_set(a, e, "id", arena_printf(a, "%" PRId64, id));
}

static int mam_message_pre(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                           const char *to_bare, struct arena *a)
{
    struct mam_srv *m = s->srv->mod[slot];
    struct pending *p = &m->p;
    struct buf b;

    memset(p, 0, sizeof(*p));
    strip_stanza_ids(msg, s->bare, to_bare);
    if (!archivable(msg))
        return XMPP_MOD_PASS;
    if (keeps(s->srv, m, s->account_id, to_bare))
        p->sender_acct = s->account_id;
    if (strcmp(to_bare, s->bare) != 0) {
        int64_t acct = xmpp__account_of_bare(s->srv, to_bare); /* 0: not a local account */
        if (acct != 0 && keeps(s->srv, m, acct, s->bare))
            p->rcpt_acct = acct;
    }
    if (p->sender_acct == 0 && p->rcpt_acct == 0)
        return XMPP_MOD_PASS;
    /* The archived form: the message as routed, before the ids (each
     * archive's own id comes back in the result's id attribute). */
    buf_init(&b, STORE_MAM_STANZA_MAX);
    if (xmpp_el_serialize(msg, NULL, &b) != TD_OK) {
        buf_free(&b);
        memset(p, 0, sizeof(*p));
        return XMPP_MOD_PASS; /* too big to keep: routed, not archived */
    }
    p->stored = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    p->msg = msg;
    if (p->rcpt_acct) {
        p->rcpt_id = ids_next();
        add_stanza_id(a, msg, to_bare, p->rcpt_id);
    }
    if (p->sender_acct) {
        p->sender_id = ids_next();
        add_stanza_id(a, msg, s->bare, p->sender_id);
    }
    return XMPP_MOD_PASS;
}

/* Queue a row for the next flush. */
static void archive(struct xmpp_c2s *srv, struct mam_srv *m, int64_t acct, int64_t id,
                    const char *with, bool outgoing, const char *stored, struct arena *a)
{
    struct xmpp_jid j;
    struct row *r;

    if (with == NULL || xmpp_jid_parse(a, with, &j) != TD_OK)
        return;
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->rows = td_realloc(m->rows, m->cap * sizeof(*m->rows));
    }
    r = &m->rows[m->n++];
    r->acct = acct;
    r->id = id;
    r->outgoing = outgoing;
    r->with_bare = td_strdup(xmpp_jid_bare(a, &j));
    r->with_res = td_strdup(j.resource ? j.resource : "");
    r->stanza = td_strdup(stored);
    m->bytes += strlen(stored);
    if (m->n >= FLUSH_ROWS || m->bytes >= FLUSH_BYTES)
        flush(srv, m);
}

static void mam_message_post(struct xmpp_session *s, int slot, struct xmpp_el *msg,
                             const char *to_bare, struct xmpp_route **to, size_t n, bool offline,
                             struct arena *a)
{
    struct mam_srv *m = s->srv->mod[slot];
    struct pending p = m->p;

    (void)to;
    memset(&m->p, 0, sizeof(m->p));
    if (p.msg != msg || (n == 0 && !offline))
        return; /* not archived, or neither delivered nor stored */
    if (p.sender_acct)
        archive(s->srv, m, p.sender_acct, p.sender_id,
                strcmp(to_bare, s->bare) == 0 ? s->bare : xmpp_el_attr(msg, "to"), true,
                p.stored, a);
    if (p.rcpt_acct)
        archive(s->srv, m, p.rcpt_acct, p.rcpt_id, s->full, false, p.stored, a);
}

/* ---- queries ---- */

/* XEP-0082 DateTime: CCYY-MM-DDThh:mm:ss[.sss](Z|(+|-)hh:mm) into Unix ms. */
static bool parse_datetime(const char *t, int64_t *ms)
{
    struct tm tm;
    int64_t frac = 0, off = 0;
    const char *p = t;
    int v[6];
    static const char seps[] = "--T::";
    time_t secs;

    for (int i = 0; i < 6; i++) {
        int digits = i == 0 ? 4 : 2;
        v[i] = 0;
        for (int k = 0; k < digits; k++, p++) {
            if (*p < '0' || *p > '9')
                return false;
            v[i] = v[i] * 10 + (*p - '0');
        }
        if (i < 5 && *p++ != seps[i])
            return false;
    }
    if (*p == '.') {
        int k = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 3)
                frac = frac * 10 + (*p - '0');
        if (k == 0)
            return false;
        for (; k < 3; k++)
            frac *= 10;
    }
    if (*p == 'Z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' &&
               p[2] <= '9' && p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' &&
               p[5] <= '9') {
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh > 23 || mm > 59)
            return false;
        off = (int64_t)(hh * 60 + mm) * 60 * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return false;
    }
    if (*p != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
        v[4] > 59 || v[5] > 60)
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = v[0] - 1900;
    tm.tm_mon = v[1] - 1;
    tm.tm_mday = v[2];
    tm.tm_hour = v[3];
    tm.tm_min = v[4];
    tm.tm_sec = v[5];
    secs = timegm(&tm);
    *ms = ((int64_t)secs - off) * 1000 + frac;
    return true;
}

/* The smallest id issued at or after Unix time ms (ids.h layout). */
static int64_t id_at(int64_t ms)
{
    if (ms <= IDS_EPOCH_MS)
        return 1;
    if (ms - IDS_EPOCH_MS >= (INT64_C(1) << 41))
        return INT64_MAX;
    return (ms - IDS_EPOCH_MS) << (IDS_NODE_BITS + IDS_SEQ_BITS);
}

static bool parse_id(const char *t, int64_t *id)
{
    char *end;
    long long v;

    if (t == NULL || *t < '0' || *t > '9')
        return false;
    errno = 0;
    v = strtoll(t, &end, 10);
    if (errno || *end || v <= 0)
        return false;
    *id = v;
    return true;
}

static void stamp_of(int64_t id, char *out, size_t cap)
{
    int64_t ms = ids_time_ms(id);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char base[24];

    if (gmtime_r(&secs, &tm) == NULL ||
        strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    snprintf(out, cap, "%s.%03dZ", base, (int)(ms % 1000));
}

struct query {
    struct store_mam_filter f;   /* the form's filter */
    bool empty;                  /* its range holds no id */
    int64_t after, before;       /* RSM ids (0: none) */
    bool before_set;             /* <before/> given (paging back) */
    int64_t max;
};

/* The form (§4.1.1) into q; NULL or a condition. */
static const char *parse_form(struct xmpp_session *s, struct xmpp_el *x, struct query *q,
                              struct arena *a)
{
    int64_t start = 0, end = 0, id;

    for (struct xmpp_el *fl = xmpp_el_child(x, "field", NS_XDATA); fl;
         fl = xmpp_el_next(fl, "field", NS_XDATA)) {
        const char *var = xmpp_el_attr(fl, "var");
        const char *v = xmpp_el_child_text(a, fl, "value", NS_XDATA);
        if (var == NULL)
            return "bad-request";
        if (v == NULL || v[0] == '\0') {
            if (strcmp(var, "FORM_TYPE") == 0)
                return "bad-request";
            continue; /* an empty field filters nothing */
        }
        if (strcmp(var, "FORM_TYPE") == 0) {
            if (strcmp(v, NS_MAM) != 0)
                return "bad-request";
        } else if (strcmp(var, "with") == 0) {
            struct xmpp_jid j;
            if (xmpp_jid_parse(a, v, &j) != TD_OK)
                return "bad-request";
            q->f.with_bare = xmpp_jid_bare(a, &j);
            q->f.with_res = j.resource;
        } else if (strcmp(var, "start") == 0) {
            if (!parse_datetime(v, &start))
                return "bad-request";
            if (q->f.lo < id_at(start))
                q->f.lo = id_at(start);
        } else if (strcmp(var, "end") == 0) {
            if (!parse_datetime(v, &end))
                return "bad-request";
            id = id_at(end + 1) - 1;
            if (id < 1)
                q->empty = true; /* before the first possible id */
            else if (q->f.hi == 0 || id < q->f.hi)
                q->f.hi = id;
        } else if (strcmp(var, "after-id") == 0 || strcmp(var, "before-id") == 0) {
            if (!parse_id(v, &id) || store_mam_has(s->srv->store, s->account_id, id) != TD_OK)
                return "item-not-found";
            if (var[0] == 'a' && q->f.lo <= id)
                q->f.lo = id + 1;
            if (var[0] == 'b' && (q->f.hi == 0 || q->f.hi >= id))
                q->f.hi = id - 1;
        } else {
            return "bad-request"; /* §4.1.1: an unknown field */
        }
    }
    if (q->f.hi != 0 && q->f.lo > q->f.hi)
        q->empty = true;
    return NULL;
}

static const char *parse_rsm(struct xmpp_session *s, struct xmpp_el *set, struct query *q,
                             struct arena *a)
{
    const char *t;
    char *end;
    long v;

    if (xmpp_el_child(set, "index", NS_RSM))
        return "feature-not-implemented";
    t = xmpp_el_child_text(a, set, "max", NS_RSM);
    if (t) {
        errno = 0;
        v = strtol(t, &end, 10);
        if (errno || end == t || *end || v < 0)
            return "bad-request";
        q->max = v > MAM_PAGE_MAX ? MAM_PAGE_MAX : v;
    }
    t = xmpp_el_child_text(a, set, "after", NS_RSM);
    if (t && (!parse_id(t, &q->after) ||
              store_mam_has(s->srv->store, s->account_id, q->after) != TD_OK))
        return "item-not-found";
    t = xmpp_el_child_text(a, set, "before", NS_RSM);
    if (t) {
        q->before_set = true;
        if (t[0] != '\0' && (!parse_id(t, &q->before) ||
                             store_mam_has(s->srv->store, s->account_id, q->before) != TD_OK))
            return "item-not-found";
    }
    return NULL;
}

struct page {
    int64_t ids[MAM_PAGE_MAX + 1];
    size_t n;
};

static int page_cb(void *ud, int64_t id, bool outgoing, const char *stanza)
{
    struct page *pg = ud;

    (void)outgoing;
    (void)stanza;
    pg->ids[pg->n++] = id;
    return 0;
}

struct send_ctx {
    struct xmpp_session *s;
    const char *queryid;
    int64_t want_lo, want_hi; /* the page's ids */
};

static int send_cb(void *ud, int64_t id, bool outgoing, const char *stanza)
{
    struct send_ctx *c = ud;
    char stamp[40];
    struct buf b;

    (void)outgoing;
    if (id < c->want_lo || id > c->want_hi)
        return 0;
    stamp_of(id, stamp, sizeof(stamp));
    buf_init(&b, 0);
    buf_appends(&b, "<message from='");
    xmpp__esc(&b, c->s->bare);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, c->s->full);
    buf_appends(&b, "'><result xmlns='" NS_MAM "'");
    if (c->queryid) {
        buf_appends(&b, " queryid='");
        xmpp__esc(&b, c->queryid);
        buf_putc(&b, '\'');
    }
    buf_printf(&b, " id='%" PRId64 "'><forwarded xmlns='" NS_FORWARD "'><delay xmlns='"
                   XMPP_NS_DELAY "' stamp='%s'/>", id, stamp);
    buf_appends(&b, stanza);
    buf_appends(&b, "</forwarded></result></message>");
    xmpp__send_stanza(c->s, b.data, b.len);
    buf_free(&b);
    return c->s->ended ? 1 : 0;
}

static void query_set(struct xmpp_session *s, struct xmpp_el *iq, struct xmpp_el *qel,
                      const char *from, struct arena *a)
{
    struct query q = {.max = MAM_PAGE_DEFAULT};
    struct store_mam_filter pf;
    struct xmpp_el *x = xmpp_el_child(qel, "x", NS_XDATA), *set = xmpp_el_child(qel, "set", NS_RSM);
    struct page *pg = NULL;
    const char *cond = NULL;
    bool back, complete;
    int64_t count = 0;
    struct buf b;
    int rc;

    if (x)
        cond = parse_form(s, x, &q, a);
    if (cond == NULL && set)
        cond = parse_rsm(s, set, &q, a);
    if (cond) {
        xmpp__stanza_error(s, iq, cond);
        return;
    }
    back = q.before_set;
    pf = q.f;
    if (q.after && (pf.lo <= q.after))
        pf.lo = q.after + 1;
    if (q.before && (pf.hi == 0 || pf.hi >= q.before))
        pf.hi = q.before - 1;
    pg = td_calloc(1, sizeof(*pg));
    rc = q.empty ? TD_OK : store_mam_count(s->srv->store, s->account_id, &q.f, &count);
    if (rc == TD_OK && !q.empty && (pf.hi == 0 || pf.lo <= pf.hi))
        rc = store_mam_query(s->srv->store, s->account_id, &pf, back, q.max + 1, page_cb, pg);
    if (rc != TD_OK) {
        free(pg);
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    complete = pg->n <= (size_t)q.max;
    if (!complete)
        pg->n--; /* the probe row beyond the page */
    if (pg->n > 0) {
        /* Send the page oldest first (§4.3: chronological order). */
        struct send_ctx c = {.s = s, .queryid = xmpp_el_attr(qel, "queryid")};
        struct store_mam_filter sf = pf;
        c.want_lo = back ? pg->ids[pg->n - 1] : pg->ids[0];
        c.want_hi = back ? pg->ids[0] : pg->ids[pg->n - 1];
        sf.lo = c.want_lo;
        sf.hi = c.want_hi;
        rc = store_mam_query(s->srv->store, s->account_id, &sf, false, (int64_t)pg->n, send_cb,
                             &c);
        if (s->ended) {
            free(pg);
            return;
        }
        if (rc != TD_OK) {
            free(pg);
            xmpp__stanza_error(s, iq, "internal-server-error");
            return;
        }
    }
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, from);
    buf_printf(&b, "><fin xmlns='" NS_MAM "' complete='%s'><set xmlns='" NS_RSM "'>",
               complete ? "true" : "false");
    if (pg->n > 0) {
        int64_t first = back ? pg->ids[pg->n - 1] : pg->ids[0];
        int64_t last = back ? pg->ids[0] : pg->ids[pg->n - 1];
        buf_printf(&b, "<first>%" PRId64 "</first><last>%" PRId64 "</last>", first, last);
    }
    buf_printf(&b, "<count>%" PRId64 "</count></set></fin></iq>", count);
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
    free(pg);
}

static void query_form(struct xmpp_session *s, struct xmpp_el *iq, const char *from)
{
    struct buf b;

    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, from);
    buf_appends(&b, "><query xmlns='" NS_MAM "'><x xmlns='" NS_XDATA "' type='form'>"
                    "<field type='hidden' var='FORM_TYPE'><value>" NS_MAM "</value></field>"
                    "<field type='jid-single' var='with'/>"
                    "<field type='text-single' var='start'/>"
                    "<field type='text-single' var='end'/>"
                    "<field type='text-single' var='after-id'/>"
                    "<field type='text-single' var='before-id'/>"
                    "</x></query></iq>");
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

static const char *const mode_names[] = {"always", "roster", "never"};

static void prefs(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                  bool set, const char *from)
{
    enum store_mam_default d;
    struct buf b;
    int rc;

    if (set) {
        const char *v = xmpp_el_attr(q, "default");
        if (v == NULL) {
            xmpp__stanza_error(s, iq, "bad-request");
            return;
        }
        if (strcmp(v, "always") == 0)
            d = STORE_MAM_ALWAYS;
        else if (strcmp(v, "roster") == 0)
            d = STORE_MAM_ROSTER;
        else if (strcmp(v, "never") == 0)
            d = STORE_MAM_NEVER;
        else {
            xmpp__stanza_error(s, iq, "bad-request");
            return;
        }
        rc = store_mam_prefs_set(s->srv->store, s->account_id, d);
        if (rc == TD_OK)
            pref_put(s->srv->mod[slot], s->account_id, d);
    } else {
        rc = store_mam_prefs_get(s->srv->store, s->account_id, &d);
    }
    if (rc != TD_OK) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return;
    }
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, from);
    buf_printf(&b, "><prefs xmlns='" NS_MAM "' default='%s'><always/><never/></prefs></iq>",
               mode_names[d]);
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

static int mam_iq(struct xmpp_session *s, int slot, struct xmpp_el *iq, struct xmpp_el *q,
                  const struct xmpp_jid *to, struct arena *a)
{
    const char *type = xmpp_el_attr(iq, "type");
    const char *from = NULL;
    bool set = strcmp(type, "set") == 0;

    if (strcmp(q->ns, NS_MAM) != 0)
        return XMPP_MOD_PASS;
    flush(s->srv, s->srv->mod[slot]); /* the archive as of now, written rows only */
    if (to != NULL) {
        if (to->local == NULL)
            return XMPP_MOD_PASS; /* the server keeps no archive of its own */
        from = xmpp_jid_bare(a, to);
        if (to->resource != NULL || strcmp(from, s->bare) != 0) {
            xmpp__stanza_error(s, iq, "forbidden"); /* §4.1: own archive only */
            return XMPP_MOD_HANDLED;
        }
    }
    if (s->account_id == 0) {
        xmpp__stanza_error(s, iq, "internal-server-error");
        return XMPP_MOD_HANDLED;
    }
    if (strcmp(q->name, "query") == 0) {
        if (set)
            query_set(s, iq, q, from, a);
        else
            query_form(s, iq, from);
    } else if (strcmp(q->name, "prefs") == 0) {
        prefs(s, slot, iq, q, set, from);
    } else {
        xmpp__stanza_error(s, iq, "feature-not-implemented");
    }
    return XMPP_MOD_HANDLED;
}

static const char *const mam_account_features[] = {NS_MAM, NS_MAM_EXT, NS_SID, NULL};

const struct xmpp_mod xmpp_mod_mam = {
    .name = "mam",
    .account_features = mam_account_features,
    .init = mam_init,
    .fini = mam_fini,
    .tick = mam_tick,
    .iq = mam_iq,
    .message_pre = mam_message_pre,
    .message_post = mam_message_post,
};
