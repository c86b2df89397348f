/* SPDX-License-Identifier: MIT */
/* Stream Management (XEP-0198, urn:xmpp:sm:3) for client sessions: the
 * stream feature (§2), <enable/>/<enabled/> after resource binding (§3;
 * before bind or a second time: <failed> with unexpected-request), acks
 * (§4: <r/> answered with the count of stanzas handled from the client,
 * <a h/> from the client trims the queue of unacknowledged stanzas, an 'h'
 * beyond what was sent ends the stream with undefined-condition and
 * <handled-count-too-high/>), ack requests from the server after every
 * SM_REQUEST_EVERY stanzas, and resumption (§5): a resumable session whose
 * transport drops without a closing tag is kept, detached, for the
 * resumption time (stanzas for it are still counted and queued), and a new
 * stream of the same user may take it over with <resume previd h/> before
 * binding: <resumed/>, then the unacknowledged stanzas again; the full
 * JID, presence and roster interest carry over and contacts see no
 * unavailable presence. Unknown, expired or another user's ids: <failed>
 * with item-not-found (§5: the client then binds anew).
 *
 * When a session leaves for good (the resumption time ran out, a stream
 * error, a closed stream) its unacknowledged stanzas are not lost silently
 * (§5, "the server SHOULD ... treat unacknowledged stanzas"): chat and
 * normal messages with a body go to offline storage (XEP-0160, through
 * xmpp__im_offline_keep), iq requests and messages that cannot be kept are
 * bounced to their sender with service-unavailable, the rest is dropped.
 *
 * The queue is capped (SM_QUEUE_MAX stanzas, SM_QUEUE_BYTES bytes): a client
 * that does not acknowledge gets the stream error resource-constraint (a
 * detached session is ended). The resumption time is SM_TIMEOUT_MS (the
 * 'max' of <enabled/>, lowered to the client's 'max'); the environment
 * variable TANDEM_TEST_SM_TIMEOUT_MS (milliseconds, at most the default)
 * overrides it, for tests only: no configuration option on purpose, nobody
 * should need to tune it, and the name stays outside the TANDEM_<SECTION>_
 * namespace that conf.c checks.
 *
 * The per-session state points back at its session (timers and shutdown
 * need it); only this module moves a session's state
 * (xmpp__session_take_over on <resume/>), and it sets the pointer then. */
#include "xmpp/xmpp_sm.h"

#include "xmpp/xmpp_c2s_int.h"

#include "core/arena.h"
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"

#include <openssl/rand.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SM_TIMEOUT_MS (300 * 1000)     /* how long a dropped session waits for resumption */
#define SM_QUEUE_MAX 1000              /* unacknowledged stanzas per session */
#define SM_QUEUE_BYTES (4 * 1024 * 1024) /* ... and their bytes */
#define SM_REQUEST_EVERY 5             /* stanzas between ack requests */
#define SM_REQUEST_AGAIN 50            /* ... when the last one went unanswered */
#define SM_ID_BYTES 16

/* ---- the I/O-free part (xmpp_sm.h) ---- */

int xmpp_sm_queue_push(struct xmpp_sm_queue *q, const char *data, size_t len, size_t max_items,
                       size_t max_bytes)
{
    if (q->n + 1 > max_items || q->bytes + len > max_bytes)
        return TD_ELIMIT;
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 16;
        struct xmpp_sm_item *v = td_malloc(cap * sizeof(*v));
        for (size_t i = 0; i < q->n; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        q->v = v;
        q->cap = cap;
        q->head = 0;
    }
    struct xmpp_sm_item *it = &q->v[(q->head + q->n) % q->cap];
    it->data = td_strndup(data, len);
    it->len = len;
    q->n++;
    q->bytes += len;
    q->sent++; /* modulo 2^32 (§4) */
    return TD_OK;
}

int xmpp_sm_queue_ack(struct xmpp_sm_queue *q, uint32_t h)
{
    uint32_t done = h - q->acked; /* modulo 2^32 */

    if (done > q->n)
        return TD_EPROTO;
    for (uint32_t i = 0; i < done; i++) {
        struct xmpp_sm_item *it = &q->v[q->head];
        q->bytes -= it->len;
        free(it->data);
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    if (q->n == 0)
        q->head = 0;
    q->acked = h;
    return TD_OK;
}

const struct xmpp_sm_item *xmpp_sm_queue_at(const struct xmpp_sm_queue *q, size_t i)
{
    return &q->v[(q->head + i) % q->cap];
}

void xmpp_sm_queue_take(struct xmpp_sm_queue *q, struct xmpp_sm_queue *out)
{
    *out = *q;
    q->v = NULL;
    q->cap = q->head = q->n = 0;
    q->bytes = 0;
    q->acked = q->sent; /* nothing held is unacknowledged any more */
}

void xmpp_sm_queue_clear(struct xmpp_sm_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        free(q->v[(q->head + i) % q->cap].data);
    free(q->v);
    q->v = NULL;
    q->cap = q->head = q->n = 0;
    q->bytes = 0;
}

int xmpp_sm_parse_h(const char *s, uint32_t *h)
{
    unsigned long long v;
    char *end;

    if (s == NULL || *s < '0' || *s > '9' || strlen(s) > 10)
        return TD_EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT32_MAX)
        return TD_EINVAL;
    *h = (uint32_t)v;
    return TD_OK;
}

/* ---- the session module ---- */

struct sm_srv;

struct sm_sess {
    struct sm_sess *prev, *next; /* in the server's list, when resumable */
    struct xmpp_session *s;      /* its session (set again on resumption) */
    struct sm_srv *srv;
    char id[2 * SM_ID_BYTES + 1];
    bool resumable;
    bool detached;               /* kept without a transport */
    bool requested;              /* an <r/> is unanswered */
    bool overflow;               /* the queue overflowed while detached */
    uint32_t handled;            /* stanzas handled from the client (§4 'h') */
    uint32_t unrequested;        /* stanzas sent since the last <r/> */
    uint64_t timeout_ms;         /* resumption time of this session */
    struct xmpp_sm_queue q;
    uv_timer_t *timer;           /* while detached */
};

struct sm_srv {
    struct sm_sess *list; /* resumable sessions, attached or not */
    uint64_t timeout_ms;
    uv_loop_t *loop;
};

static void send_str(struct xmpp_session *s, const char *str)
{
    xmpp__send_raw(s, str, strlen(str));
}

/* §3, §5: <failed/> with a stanza error condition. */
static void send_failed(struct xmpp_session *s, const char *cond)
{
    char b[200];

    snprintf(b, sizeof(b), "<failed xmlns='" XMPP_NS_SM "'><%s xmlns='" XMPP_NS_STANZAS
             "'/></failed>", cond);
    send_str(s, b);
}

static void send_request(struct xmpp_session *s, struct sm_sess *st)
{
    send_str(s, "<r xmlns='" XMPP_NS_SM "'/>");
    st->requested = true;
    st->unrequested = 0;
}

static void timer_closed(uv_handle_t *h)
{
    free(h);
}

static void timer_stop(struct sm_sess *st)
{
    if (st->timer == NULL)
        return;
    st->timer->data = NULL;
    /* At shutdown the loop's last walk has closed every handle and run
     * their callbacks before module fini: the memory is ours to free. */
    if (uv_is_closing((uv_handle_t *)st->timer))
        free(st->timer);
    else
        uv_close((uv_handle_t *)st->timer, timer_closed);
    st->timer = NULL;
}

static void on_expired(uv_timer_t *t)
{
    struct sm_sess *st = t->data;

    if (st == NULL || !st->detached)
        return;
    log_info("xmpp.sm_expired", "jid=%s unacked=%zu overflow=%d", log_q(st->s->full), st->q.n,
             (int)st->overflow);
    xmpp__session_end(st->s); /* leave (unacked stanzas handled), then freed */
}

static void timer_start(struct sm_sess *st, uint64_t ms)
{
    if (st->timer == NULL) {
        st->timer = td_calloc(1, sizeof(*st->timer));
        uv_timer_init(st->srv->loop, st->timer);
        st->timer->data = st;
    }
    uv_timer_start(st->timer, on_expired, ms, 0);
}

static void list_add(struct sm_srv *ss, struct sm_sess *st)
{
    st->prev = NULL;
    st->next = ss->list;
    if (ss->list)
        ss->list->prev = st;
    ss->list = st;
}

static void list_remove(struct sm_srv *ss, struct sm_sess *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else if (ss->list == st)
        ss->list = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

static struct sm_sess *find(struct sm_srv *ss, const char *id)
{
    for (struct sm_sess *st = ss->list; st; st = st->next)
        if (strcmp(st->id, id) == 0)
            return st;
    return NULL;
}

static int sm_init(struct xmpp_c2s *srv, int slot)
{
    struct sm_srv *ss = td_calloc(1, sizeof(*ss));
    const char *env = getenv("TANDEM_TEST_SM_TIMEOUT_MS"); /* tests only, see above */
    char *end;
    unsigned long long v;

    ss->loop = srv->loop;
    ss->timeout_ms = SM_TIMEOUT_MS;
    if (env && *env) {
        errno = 0;
        v = strtoull(env, &end, 10);
        if (errno == 0 && *end == '\0' && v > 0 && v <= SM_TIMEOUT_MS)
            ss->timeout_ms = v;
    }
    srv->mod[slot] = ss;
    return TD_OK;
}

static void sm_fini(struct xmpp_c2s *srv, int slot)
{
    struct sm_srv *ss = srv->mod[slot];

    if (ss == NULL)
        return;
    /* Every attached session is gone by now; end the kept ones (their
     * unacknowledged messages go to offline storage as on expiry). */
    while (ss->list) {
        struct sm_sess *st = ss->list;
        if (st->detached) {
            xmpp__session_end(st->s); /* unlinks st */
        } else {
            list_remove(ss, st); /* cannot happen: attached sessions went first */
            st->resumable = false;
        }
    }
    free(ss);
    srv->mod[slot] = NULL;
}

static void sm_features(struct xmpp_session *s, int slot, struct buf *out)
{
    (void)s;
    (void)slot;
    buf_appends(out, "<sm xmlns='" XMPP_NS_SM "'/>");
}

/* §3: <enable/> after bind, once. */
static void do_enable(struct xmpp_session *s, int slot, struct xmpp_el *el)
{
    struct sm_srv *ss = s->srv->mod[slot];
    const char *resume = xmpp_el_attr(el, "resume");
    const char *max = xmpp_el_attr(el, "max");
    struct sm_sess *st;
    uint8_t rnd[SM_ID_BYTES];
    uint32_t want;
    struct buf b;

    if (!s->bound || s->mod[slot] != NULL) {
        send_failed(s, "unexpected-request");
        return;
    }
    st = td_calloc(1, sizeof(*st));
    st->s = s;
    st->srv = ss;
    st->timeout_ms = ss->timeout_ms;
    if (max && xmpp_sm_parse_h(max, &want) == TD_OK && want > 0 &&
        (uint64_t)want * 1000 < st->timeout_ms)
        st->timeout_ms = (uint64_t)want * 1000; /* the client's preferred maximum */
    s->mod[slot] = st;
    buf_init(&b, 0);
    buf_appends(&b, "<enabled xmlns='" XMPP_NS_SM "'");
    if (resume && (strcmp(resume, "true") == 0 || strcmp(resume, "1") == 0) &&
        RAND_bytes(rnd, sizeof(rnd)) == 1) {
        struct buf id;
        buf_init(&id, 0);
        codec_hex_encode(&id, rnd, sizeof(rnd));
        snprintf(st->id, sizeof(st->id), "%s", id.data);
        buf_free(&id);
        st->resumable = true;
        list_add(ss, st);
        buf_printf(&b, " id='%s' resume='true' max='%llu'", st->id,
                   (unsigned long long)((st->timeout_ms + 999) / 1000));
    }
    buf_appends(&b, "/>");
    xmpp__send_raw(s, b.data, b.len);
    buf_free(&b);
    log_info("xmpp.sm_enabled", "conn=%llu jid=%s resume=%d", (unsigned long long)s->id,
             log_q(s->full), (int)st->resumable);
}

/* §4: the client acknowledges stanzas up to h. */
static void do_ack(struct xmpp_session *s, struct sm_sess *st, struct xmpp_el *el)
{
    uint32_t h;
    char app[200];

    if (xmpp_sm_parse_h(xmpp_el_attr(el, "h"), &h) != TD_OK) {
        xmpp__stream_error(s, "bad-format", "sm: bad h");
        return;
    }
    if (xmpp_sm_queue_ack(&st->q, h) != TD_OK) {
        snprintf(app, sizeof(app),
                 "<handled-count-too-high xmlns='" XMPP_NS_SM "' h='%lu' send-count='%lu'/>",
                 (unsigned long)h, (unsigned long)st->q.sent);
        xmpp__stream_error_app(s, "undefined-condition", app, "sm: h beyond what was sent");
        return;
    }
    st->requested = false;
}

/* §5: take over the kept session previd of the same user. */
static void do_resume(struct xmpp_session *s, int slot, struct xmpp_el *el)
{
    struct sm_srv *ss = s->srv->mod[slot];
    const char *previd = xmpp_el_attr(el, "previd");
    struct sm_sess *st;
    struct xmpp_session *old;
    uint32_t h;
    char b[200];

    if (s->bound || s->mod[slot] != NULL) {
        send_failed(s, "unexpected-request");
        return;
    }
    if (previd == NULL || xmpp_sm_parse_h(xmpp_el_attr(el, "h"), &h) != TD_OK) {
        send_failed(s, "bad-request");
        return;
    }
    st = find(ss, previd);
    /* another user's session answers as an unknown one: ids reveal nothing.
     * A session whose transport is still up (the client noticed the drop
     * first) is not taken over, nor one that overflowed: the client binds anew. */
    if (st == NULL || !st->detached || st->overflow || strcmp(st->s->bare, s->bare) != 0) {
        log_info("xmpp.sm_resume_failed", "conn=%llu user=%s why=%s", (unsigned long long)s->id,
                 log_q(s->local), st == NULL ? "unknown" : st->detached ? "user" : "attached");
        send_failed(s, "item-not-found");
        return;
    }
    old = st->s;
    if (xmpp_sm_queue_ack(&st->q, h) != TD_OK) {
        snprintf(b, sizeof(b),
                 "<failed xmlns='" XMPP_NS_SM "'><undefined-condition xmlns='" XMPP_NS_STANZAS
                 "'/><handled-count-too-high xmlns='" XMPP_NS_SM "' h='%lu' send-count='%lu'/>"
                 "</failed>", (unsigned long)h, (unsigned long)st->q.sent);
        send_str(s, b);
        xmpp__session_end(old); /* its state cannot be trusted any more */
        return;
    }
    /* §5: <resumed/>, the unacknowledged stanzas again, then what comes
     * next (take_over's resumed hooks: client state indication flushes). */
    timer_stop(st);
    st->detached = false;
    st->s = s;
    snprintf(b, sizeof(b), "<resumed xmlns='" XMPP_NS_SM "' previd='%s' h='%lu'/>", st->id,
             (unsigned long)st->handled);
    send_str(s, b);
    for (size_t i = 0; i < st->q.n && xmpp__session_writable(s); i++) {
        const struct xmpp_sm_item *it = xmpp_sm_queue_at(&st->q, i);
        (void)s->tr->write(s, it->data, it->len, true); /* already counted */
    }
    log_info("xmpp.sm_resumed", "conn=%llu jid=%s old=%llu resent=%zu",
             (unsigned long long)s->id, log_q(old->full), (unsigned long long)old->id, st->q.n);
    xmpp__session_take_over(s, old); /* moves st into s->mod[slot]; frees old */
    if (st->q.n > 0 && xmpp__session_writable(s))
        send_request(s, st);
}

static int sm_nonza(struct xmpp_session *s, int slot, struct xmpp_el *el, struct arena *a)
{
    struct sm_sess *st = s->mod[slot];

    (void)a;
    if (strcmp(el->ns, XMPP_NS_SM) != 0)
        return XMPP_MOD_PASS;
    if (strcmp(el->name, "enable") == 0) {
        do_enable(s, slot, el);
    } else if (strcmp(el->name, "resume") == 0) {
        do_resume(s, slot, el);
    } else if (strcmp(el->name, "r") == 0 && st) {
        char b[80];
        snprintf(b, sizeof(b), "<a xmlns='" XMPP_NS_SM "' h='%lu'/>", (unsigned long)st->handled);
        send_str(s, b);
    } else if (strcmp(el->name, "a") == 0 && st) {
        do_ack(s, st, el);
    } else {
        return XMPP_MOD_PASS; /* not enabled, or unknown: unsupported-stanza-type */
    }
    return XMPP_MOD_HANDLED;
}

static void sm_in_handled(struct xmpp_session *s, int slot)
{
    struct sm_sess *st = s->mod[slot];

    if (st)
        st->handled++; /* modulo 2^32 (§4) */
}

static void sm_out_sent(struct xmpp_session *s, int slot, const char *data, size_t len)
{
    struct sm_sess *st = s->mod[slot];

    if (st == NULL || st->overflow)
        return;
    if (xmpp_sm_queue_push(&st->q, data, len, SM_QUEUE_MAX, SM_QUEUE_BYTES) != TD_OK) {
        log_info("xmpp.sm_overflow", "jid=%s unacked=%zu bytes=%zu", log_q(s->full), st->q.n,
                 st->q.bytes);
        if (st->detached) {
            /* not from inside a write (the caller still uses s): on the timer */
            st->overflow = true;
            timer_start(st, 0);
        } else {
            xmpp__stream_error(s, "resource-constraint", "sm: too many unacknowledged stanzas");
        }
        return;
    }
    if (!xmpp__session_writable(s))
        return;
    st->unrequested++;
    if (st->unrequested >= (st->requested ? SM_REQUEST_AGAIN : SM_REQUEST_EVERY))
        send_request(s, st);
}

static bool sm_transport_gone(struct xmpp_session *s, int slot)
{
    struct sm_sess *st = s->mod[slot];

    if (st == NULL || !st->resumable || st->overflow)
        return false;
    st->detached = true;
    st->requested = false;
    timer_start(st, st->timeout_ms);
    return true;
}

/* XEP-0198 §5 (what becomes of unacknowledged stanzas): an error back to a
 * local sender's session, unless the stanza is an error or a result. */
static void bounce(struct xmpp_session *s, struct xmpp_el *el)
{
    const char *type = xmpp_el_attr(el, "type");
    const char *from = xmpp_el_attr(el, "from");
    const char *id = xmpp_el_attr(el, "id");
    struct xmpp_route *rt;
    struct buf b;

    if (from == NULL || (type && (strcmp(type, "error") == 0 || strcmp(type, "result") == 0)))
        return;
    rt = xmpp_router_find(s->srv->router, from);
    if (rt == NULL)
        return;
    buf_init(&b, 0);
    buf_printf(&b, "<%s type='error'", el->name);
    if (id) {
        buf_appends(&b, " id='");
        xmpp__esc(&b, id);
        buf_putc(&b, '\'');
    }
    buf_appends(&b, " from='");
    xmpp__esc(&b, s->full ? s->full : s->bare);
    buf_appends(&b, "' to='");
    xmpp__esc(&b, from);
    buf_printf(&b, "'><error type='cancel'><service-unavailable xmlns='" XMPP_NS_STANZAS
                   "'/></error></%s>", el->name);
    xmpp__deliver_bytes(&rt, 1, b.data, b.len);
    buf_free(&b);
}

/* The session leaves for good: its unacknowledged stanzas are kept
 * offline, bounced or dropped (see the file comment). */
static void sm_leave(struct xmpp_session *s, int slot)
{
    struct sm_sess *st = s->mod[slot];
    struct xmpp_sm_queue q;
    size_t kept = 0, bounced = 0;

    if (st == NULL || st->q.n == 0)
        return;
    xmpp_sm_queue_take(&st->q, &q); /* delivery below may come back here */
    for (size_t i = 0; i < q.n; i++) {
        const struct xmpp_sm_item *it = xmpp_sm_queue_at(&q, i);
        struct arena *a = NULL;
        struct xmpp_el *el = xmpp__stanza_parse(it->data, it->len, &a);
        const char *type;
        if (el == NULL)
            continue;
        type = xmpp_el_attr(el, "type");
        if (strcmp(el->name, "message") == 0 && (type == NULL || strcmp(type, "error") != 0) &&
            xmpp_el_child(el, "body", XMPP_NS_CLIENT) != NULL) {
            xmpp_el_attr_set(a, el, "to", s->bare);
            if (s->local && xmpp__im_offline_keep(s->srv, s->local, el, a) == TD_OK) {
                kept++;
            } else {
                bounce(s, el);
                bounced++;
            }
        } else if (strcmp(el->name, "iq") == 0 && type &&
                   (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)) {
            bounce(s, el);
            bounced++;
        }
        arena_free(a);
    }
    log_info("xmpp.sm_unacked", "jid=%s unacked=%zu offline=%zu bounced=%zu", log_q(s->full),
             q.n, kept, bounced);
    xmpp_sm_queue_clear(&q);
}

static void sm_free(struct xmpp_session *s, int slot)
{
    struct sm_sess *st = s->mod[slot];

    if (st == NULL)
        return;
    if (st->resumable)
        list_remove(st->srv, st);
    timer_stop(st);
    xmpp_sm_queue_clear(&st->q);
    free(st);
    s->mod[slot] = NULL;
}

const struct xmpp_mod xmpp_mod_sm = {
    .name = "sm",
    .init = sm_init,
    .fini = sm_fini,
    .features = sm_features,
    .nonza = sm_nonza,
    .out_sent = sm_out_sent,
    .in_handled = sm_in_handled,
    .transport_gone = sm_transport_gone,
    .leave = sm_leave,
    .free = sm_free,
};
