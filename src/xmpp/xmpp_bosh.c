/* SPDX-License-Identifier: MIT */
/* XMPP over BOSH (XEP-0124 Bidirectional-streams Over Synchronous HTTP,
 * XEP-0206 XMPP Over BOSH) at /http-bind on the HTTP listener.
 *
 * A BOSH session is a transport of one client session (struct
 * xmpp_transport), like a TCP connection or a WebSocket. The session's
 * parser is fed as if it were a TCP stream: a synthetic stream header at
 * creation and at each restart (XEP-0206 §5, xmpp:restart='true' after
 * SASL), then each child element of a request's <body/>, serialized, then a
 * space for an empty request (a keepalive that resets the core's idle
 * timer). The core's writes are translated back: its stream header and
 * </stream:stream> are dropped (BOSH has none, XEP-0206 §3, §5), a stanza
 * gets xmlns='jabber:client' (the body's default namespace is httpbind),
 * <stream:features> and <stream:error> are kept (the response body declares
 * the stream prefix), and everything goes to the session's output queue.
 *
 * Requests (XEP-0124): the session creation request (§7) gets the creation
 * response at once, carrying the stream features (XEP-0206 §5). Later
 * requests carry sid and rid: rid next → processed; a rid up to `requests`
 * ahead waits until the ones before it arrive (§14.1: in order); a rid
 * already answered and still cached → the same response again (§14.3); any
 * other rid → terminate with item-not-found. A processed request is held
 * until there is output (§10), at most `hold` of them: a new one answers
 * the oldest at once; the oldest is answered empty when `wait` expires.
 * type='terminate' ends the session (§13); pause (§12) lengthens the next
 * inactivity period up to maxpause. No request held for `inactivity`
 * seconds ends the session (§7.1: the transport is gone). Errors are
 * <body type='terminate' condition='...'/> with HTTP 200 (§17, ver 1.6);
 * a stream error of the core is condition='remote-stream-error' with the
 * <stream:error/> inside (XEP-0206 §7).
 *
 * Security and origins: the same policy as RFC 7395 in xmpp_ws.c (a
 * session is secure over HTTPS or from loopback; a browser's Origin must be
 * the site's own or in xmpp.websocket_origins), with CORS for the allowed
 * origins and the OPTIONS preflight.
 *
 * Limits: BOSH_MAX_SESSIONS sessions, the request body within the HTTP
 * server's max_body_bytes and parsed with the stream parser's limits, and
 * OUT_MAX bytes of output queued for a client that stopped polling (then
 * the session ends). Sessions are found by sid in a list (a linear scan
 * per request; fine for the few hundred web clients expected here).
 *
 * Lifetime: as in xmpp_ws.c. When the BOSH session ends, the client session
 * is told its transport is gone; its memory is released (if no module kept
 * it) once the two timers of this transport are closed, on a later turn of
 * the loop. Tests shorten the inactivity with TANDEM_TEST_BOSH_INACTIVITY_MS. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "xmpp/xmpp_stream.h"

#include <openssl/rand.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_HTTPBIND "http://jabber.org/protocol/httpbind"
#define NS_XBOSH "urn:xmpp:xbosh"
#define CTYPE "text/xml; charset=utf-8"

#define WAIT_MAX_S 60           /* cap on the client's wait */
#define HOLD 1                  /* requests held at most */
#define REQUESTS 2              /* hold + 1 (§7.1) */
#define POLLING_S 2             /* shortest polling interval */
#define INACTIVITY_S 60         /* no request held this long ends the session */
#define MAXPAUSE_S 120          /* longest pause (§12) */
#define BOSH_MAX_SESSIONS 10000
#define OUT_MAX (4 * XMPP_STANZA_MAX) /* output queued while the client does not poll */
#define BODY_PARSE_MAX (2 * XMPP_STANZA_MAX)

struct held {
    struct http_req *r;
    uint64_t rid;
    uint64_t deadline; /* loop ms when it is answered empty */
};

struct cached {
    uint64_t rid; /* 0: empty slot */
    struct buf body;
};

struct xmpp_bosh {
    struct xmpp_c2s *srv;
    struct xmpp_session *s; /* NULL after release, or when a module kept it */
    char sid[33];
    uint64_t rid;           /* the last rid processed */
    uint64_t wait_ms;
    uint64_t inactivity_ms;
    uint64_t idle_since;    /* loop ms since no request is held */
    uint64_t pause_ms;      /* §12: this inactivity period's length instead, 0: none */
    struct held held[HOLD + 1];
    size_t nheld;
    struct held early[REQUESTS]; /* rids ahead of the next one (§14.1) */
    struct cached cache[REQUESTS + 1];
    struct buf out;         /* queued output, the body's children */
    bool stream_error;      /* out holds a <stream:error/> */
    bool closing;           /* the core closed the stream: terminate */
    bool overflow;          /* OUT_MAX reached: end the session */
    bool secure;
    bool gone;              /* ended: no more requests */
    int open_handles;       /* timers not closed yet */
    uv_timer_t tick;        /* flush, wait expiry, inactivity */
    uv_timer_t stimer;      /* the core's session timer */
    xmpp_session_timer_cb *timer_cb;
    char origin[256];       /* the creation request's allowed Origin, for CORS */
    struct xmpp_bosh *next, *prev; /* srv->bosh */
};

static void bosh_end(struct xmpp_bosh *b);
static void schedule(struct xmpp_bosh *b, bool now);

static struct xmpp_bosh *bosh_of(const struct xmpp_session *s)
{
    return s->tr_data;
}

/* ---- the transport ---- */

static bool starts(const char *data, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(data, prefix, n) == 0;
}

static int t_write(struct xmpp_session *s, const char *data, size_t len, bool stanza)
{
    struct xmpp_bosh *b = bosh_of(s);
    size_t name_end = 1;
    bool prefixed = false;

    (void)stanza;
    if (b->gone || b->closing || b->overflow)
        return TD_ECLOSED;
    /* BOSH has no stream header or footer (XEP-0206 §5, §6). The core may
     * write its header and the features together: keep what follows it. */
    if (starts(data, len, "</stream:stream>"))
        return TD_OK;
    if (starts(data, len, "<?xml") || starts(data, len, "<stream:stream")) {
        const char *tag = memmem(data, len, "<stream:stream", 14);
        const char *gt = tag ? memchr(tag, '>', len - (size_t)(tag - data)) : NULL;
        if (gt == NULL)
            return TD_OK;
        len -= (size_t)(gt + 1 - data);
        data = gt + 1;
        if (len == 0)
            return TD_OK;
    }
    if (b->out.len + len + 32 > OUT_MAX) {
        /* the client stopped polling: end the session from the loop */
        log_info("xmpp.bosh_overflow", "sid=%s", b->sid);
        b->overflow = true;
        schedule(b, true);
        return TD_ELIMIT;
    }
    if (starts(data, len, "<stream:error"))
        b->stream_error = true;
    while (name_end < len && !strchr(" \t\r\n/>", data[name_end])) {
        if (data[name_end] == ':')
            prefixed = true;
        name_end++;
    }
    if (len < 2 || data[0] != '<' || prefixed || xmpp__has_default_ns(data, len)) {
        buf_append(&b->out, data, len);
    } else {
        buf_append(&b->out, data, name_end);
        buf_appends(&b->out, " xmlns='" XMPP_NS_CLIENT "'");
        buf_append(&b->out, data + name_end, len - name_end);
    }
    if (b->nheld > 0)
        schedule(b, true); /* answer at the end of this loop turn, with all of it */
    return TD_OK;
}

static void t_close(struct xmpp_session *s)
{
    struct xmpp_bosh *b = bosh_of(s);

    if (b->gone || b->closing)
        return;
    b->closing = true; /* the next (or a held) request gets the terminate body */
    if (b->nheld > 0)
        schedule(b, true);
}

static bool t_is_closing(const struct xmpp_session *s)
{
    const struct xmpp_bosh *b = bosh_of(s);
    return b->gone || b->closing || b->overflow;
}

static bool t_is_secure(const struct xmpp_session *s)
{
    return bosh_of(s)->secure;
}

/* Reading is request by request: the rate limit pauses nothing here. */
static void t_pause_read(struct xmpp_session *s)
{
    (void)s;
}

static void t_resume_read(struct xmpp_session *s)
{
    (void)s;
}

static void stimer_fired(uv_timer_t *t)
{
    struct xmpp_bosh *b = t->data;

    if (b->s && b->timer_cb)
        b->timer_cb(b->s);
}

static void t_timer_set(struct xmpp_session *s, uint64_t ms, xmpp_session_timer_cb *cb)
{
    struct xmpp_bosh *b = bosh_of(s);

    if (b->gone)
        return;
    b->timer_cb = cb;
    if (ms && cb)
        uv_timer_start(&b->stimer, stimer_fired, ms, 0);
    else
        uv_timer_stop(&b->stimer);
}

static const struct xmpp_transport bosh_transport = {
    .name = "bosh",
    .framed = false, /* fed and written as a TCP stream; see t_write */
    .write = t_write,
    .close = t_close,
    .is_closing = t_is_closing,
    .is_secure = t_is_secure,
    .channel_binding = NULL, /* no -PLUS: the TLS is the HTTP server's */
    .start_tls = NULL,
    .pause_read = t_pause_read,
    .resume_read = t_resume_read,
    .timer_set = t_timer_set,
};

/* ---- responses ---- */

static void cors(struct http_req *r, const char *origin)
{
    if (origin && *origin) {
        (void)http_resp_header(r, "Access-Control-Allow-Origin", origin);
        (void)http_resp_header(r, "Vary", "Origin");
    }
}

/* A body with only attributes: a terminate error (§17) or an empty answer. */
static void answer_terminate(struct http_req *r, const char *origin, const char *cond)
{
    struct buf o;

    buf_init(&o, 0);
    buf_appends(&o, "<body xmlns='" NS_HTTPBIND "' type='terminate'");
    if (cond) {
        buf_appends(&o, " condition='");
        xmpp__esc(&o, cond);
        buf_putc(&o, '\'');
    }
    buf_appends(&o, "/>");
    cors(r, origin);
    http_resp_send_buf(r, 200, CTYPE, &o);
}

/* The body answering rid: the queued output (taken), terminate if closing. */
static void make_body(struct xmpp_bosh *b, struct buf *o)
{
    buf_init(o, 0);
    buf_appends(o, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" XMPP_NS_STREAMS "'");
    if (b->closing || b->overflow) {
        buf_appends(o, " type='terminate'");
        if (b->overflow)
            buf_appends(o, " condition='policy-violation'");
        else if (b->stream_error)
            buf_appends(o, " condition='remote-stream-error'");
    }
    if (b->out.len == 0) {
        buf_appends(o, "/>");
    } else {
        buf_putc(o, '>');
        buf_append(o, b->out.data, b->out.len);
        buf_appends(o, "</body>");
        b->out.len = 0;
    }
}

static void cache_put(struct xmpp_bosh *b, uint64_t rid, const struct buf *body)
{
    struct cached *c = &b->cache[rid % (REQUESTS + 1)];

    c->rid = rid;
    c->body.len = 0;
    buf_append(&c->body, body->data, body->len);
}

/* Answer the oldest held request with what is queued. */
static void answer_oldest(struct xmpp_bosh *b)
{
    struct held h = b->held[0];
    struct buf o;

    memmove(&b->held[0], &b->held[1], (b->nheld - 1) * sizeof(b->held[0]));
    b->nheld--;
    if (b->nheld == 0)
        b->idle_since = uv_now(b->srv->loop);
    make_body(b, &o);
    cache_put(b, h.rid, &o);
    cors(h.r, b->origin);
    http_resp_send_buf(h.r, 200, CTYPE, &o);
}

static void tick_fired(uv_timer_t *t)
{
    struct xmpp_bosh *b = t->data;
    uint64_t now = uv_now(b->srv->loop);

    if (b->gone)
        return;
    if (b->nheld > 0 && (b->out.len > 0 || b->closing || b->overflow))
        answer_oldest(b);
    while (b->nheld > 0 && b->held[0].deadline <= now)
        answer_oldest(b); /* wait expired: an empty body (§10) */
    if (b->closing || b->overflow) {
        if (b->nheld > 0 || b->out.len == 0 || b->overflow) {
            bosh_end(b);
            return;
        }
        /* the terminate body waits for the client's next request */
    }
    if (b->nheld == 0) {
        uint64_t idle = b->pause_ms ? b->pause_ms : b->inactivity_ms;
        if (now >= b->idle_since + idle) {
            log_info("xmpp.bosh_inactive", "sid=%s", b->sid);
            bosh_end(b);
            return;
        }
    }
    schedule(b, false);
}

/* The next tick: now (output to send), or the oldest held request's
 * deadline, or the end of the inactivity period. */
static void schedule(struct xmpp_bosh *b, bool now)
{
    uint64_t t = uv_now(b->srv->loop), at;

    if (b->gone)
        return;
    if (now)
        at = t;
    else if (b->nheld > 0)
        at = b->held[0].deadline;
    else
        at = b->idle_since + (b->pause_ms ? b->pause_ms : b->inactivity_ms);
    uv_timer_start(&b->tick, tick_fired, at > t ? at - t : 0, 0);
}

/* ---- session life ---- */

static void handle_closed(uv_handle_t *h)
{
    struct xmpp_bosh *b = h->data;

    if (--b->open_handles > 0)
        return;
    if (b->s)
        xmpp__session_release(b->s);
    buf_free(&b->out);
    for (size_t i = 0; i < REQUESTS + 1; i++)
        buf_free(&b->cache[i].body);
    free(b);
}

/* The BOSH session ends: answer what is held, tell the client session its
 * transport is gone, and free once the timers are closed. */
static void bosh_end(struct xmpp_bosh *b)
{
    if (b->gone)
        return;
    if (!b->closing && !b->overflow)
        b->closing = true; /* the held requests get terminate */
    while (b->nheld > 0)
        answer_oldest(b);
    for (size_t i = 0; i < REQUESTS; i++)
        if (b->early[i].r) {
            answer_terminate(b->early[i].r, b->origin, "item-not-found");
            b->early[i].r = NULL;
        }
    b->gone = true;
    if (b->prev)
        b->prev->next = b->next;
    else
        b->srv->bosh = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->srv->bosh_count--;
    uv_timer_stop(&b->tick);
    uv_timer_stop(&b->stimer);
    log_info("xmpp.bosh_end", "sid=%s", b->sid);
    if (b->s && xmpp__session_transport_gone(b->s))
        b->s = NULL; /* kept by a module, which now owns it */
    uv_close((uv_handle_t *)&b->tick, handle_closed);
    uv_close((uv_handle_t *)&b->stimer, handle_closed);
}

static void feed_header(struct xmpp_bosh *b)
{
    struct buf h;

    buf_init(&h, 0);
    buf_appends(&h, "<stream:stream xmlns='" XMPP_NS_CLIENT "' xmlns:stream='" XMPP_NS_STREAMS
                    "' version='1.0' to='");
    xmpp__esc(&h, b->srv->domain);
    buf_appends(&h, "'>");
    xmpp__session_feed(b->s, h.data, h.len);
    buf_free(&h);
}

/* ---- the request body ---- */

struct parsed {
    struct xmpp_el *el;
    struct arena *a;
    bool bad;
};

static void p_stanza(void *ud, struct xmpp_el *el, struct arena *a)
{
    struct parsed *p = ud;

    if (p->el == NULL) {
        p->el = el;
        p->a = a;
    } else {
        arena_free(a);
        p->bad = true;
    }
}

static void p_error(void *ud, enum xmpp_stream_error cond, const char *text)
{
    (void)cond;
    (void)text;
    ((struct parsed *)ud)->bad = true;
}

/* Parse the request body with the stream parser (its XML restrictions and
 * limits) in framing mode: one document holding one element. */
static struct xmpp_el *parse_body(const char *data, size_t len, struct arena **a)
{
    static const char open[] = "<open xmlns='" XMPP_NS_FRAMING "' version='1.0'/>";
    struct xmpp_stream_limits lim = {0};
    struct xmpp_stream_cbs cbs = {.on_stanza = p_stanza, .on_error = p_error};
    struct parsed p = {0};
    struct xmpp_stream *xs;

    *a = NULL;
    lim.framing = true;
    lim.max_stanza_bytes = BODY_PARSE_MAX;
    lim.max_depth = 33; /* the body and a stanza within */
    xs = xmpp_stream_new(&lim, &cbs, &p);
    if (xmpp_stream_feed(xs, open, sizeof(open) - 1) != TD_OK ||
        xmpp_stream_feed(xs, data, len) != TD_OK)
        p.bad = true;
    xmpp_stream_free(xs);
    if (p.bad || p.el == NULL || strcmp(p.el->name, "body") != 0 ||
        strcmp(p.el->ns, NS_HTTPBIND) != 0) {
        if (p.a)
            arena_free(p.a);
        return NULL;
    }
    *a = p.a;
    return p.el;
}

static bool parse_u64(const char *v, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long n;

    if (v == NULL || *v < '0' || *v > '9' || strlen(v) > 20)
        return false;
    n = strtoull(v, &end, 10);
    if (*end || n > max)
        return false;
    *out = n;
    return true;
}

/* §7.1: the client's ver or ours (1.11), whichever is lower; a ver that
 * does not parse as major.minor is taken as ours. */
static const char *bosh_ver(const char *v)
{
    static char out[24];
    char *end;
    unsigned long major, minor;

    if (v == NULL || *v < '0' || *v > '9')
        return "1.11";
    major = strtoul(v, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return "1.11";
    minor = strtoul(end + 1, &end, 10);
    if (*end || major > 1 || (major == 1 && minor >= 11))
        return "1.11";
    snprintf(out, sizeof(out), "%lu.%lu", major, minor);
    return out;
}

static struct xmpp_bosh *find(struct xmpp_c2s *srv, const char *sid)
{
    for (struct xmpp_bosh *b = srv->bosh; b; b = b->next)
        if (strcmp(b->sid, sid) == 0)
            return b;
    return NULL;
}

/* §7: a new session. */
static void create(struct xmpp_c2s *srv, struct http_req *r, struct xmpp_el *body,
                   const char *origin, bool secure)
{
    const char *to = xmpp_el_attr(body, "to");
    const char *ver = xmpp_el_attr_ns(body, NS_XBOSH, "version");
    const char *env = getenv("TANDEM_TEST_BOSH_INACTIVITY_MS"); /* tests only */
    uint64_t rid, wait = WAIT_MAX_S, n;
    uint8_t rnd[16];
    struct xmpp_bosh *b;
    struct buf o, sid;

    if (!parse_u64(xmpp_el_attr(body, "rid"), (1ull << 53) - 1, &rid) || rid == 0) {
        answer_terminate(r, origin, "bad-request");
        return;
    }
    if (to == NULL || strcasecmp(to, srv->domain) != 0) {
        answer_terminate(r, origin, "host-unknown");
        return;
    }
    if (ver == NULL || strncmp(ver, "1.", 2) != 0) { /* XEP-0206 §5: xmpp:version */
        answer_terminate(r, origin, "bad-request");
        return;
    }
    if (srv->bosh_stopped) { /* a request of the drain: the timers would outlive the loop */
        answer_terminate(r, origin, "system-shutdown");
        return;
    }
    if (srv->bosh_count >= BOSH_MAX_SESSIONS) {
        answer_terminate(r, origin, "undefined-condition"); /* full */
        return;
    }
    if (parse_u64(xmpp_el_attr(body, "wait"), UINT32_MAX, &n) && n < wait)
        wait = n;
    b = td_calloc(1, sizeof(*b));
    b->srv = srv;
    b->secure = secure;
    b->rid = rid;
    b->wait_ms = wait * 1000;
    b->inactivity_ms = INACTIVITY_S * 1000;
    if (env && parse_u64(env, 3600 * 1000, &n) && n > 0)
        b->inactivity_ms = n;
    if (origin)
        snprintf(b->origin, sizeof(b->origin), "%s", origin);
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        free(b);
        answer_terminate(r, origin, "internal-server-error");
        return;
    }
    buf_init(&sid, 0);
    codec_hex_encode(&sid, rnd, sizeof(rnd));
    snprintf(b->sid, sizeof(b->sid), "%s", sid.data);
    buf_free(&sid);
    buf_init(&b->out, 0);
    for (size_t i = 0; i < REQUESTS + 1; i++)
        buf_init(&b->cache[i].body, 0);
    uv_timer_init(srv->loop, &b->tick);
    uv_timer_init(srv->loop, &b->stimer);
    b->tick.data = b;
    b->stimer.data = b;
    b->open_handles = 2;
    b->next = srv->bosh;
    if (srv->bosh)
        srv->bosh->prev = b;
    srv->bosh = b;
    srv->bosh_count++;
    b->idle_since = uv_now(srv->loop);
    b->s = xmpp__session_new(srv, &bosh_transport, b, r->id, r->peer);
    log_info("xmpp.bosh_open", "sid=%s peer=%s tls=%d wait=%" PRIu64, b->sid, r->peer,
             r->is_tls ? 1 : 0, wait);
    feed_header(b); /* the features are queued now */

    buf_init(&o, 0);
    buf_appends(&o, "<body xmlns='" NS_HTTPBIND "' xmlns:stream='" XMPP_NS_STREAMS
                    "' xmlns:xmpp='" NS_XBOSH "' xmpp:version='1.0' xmpp:restartlogic='true'"
                    " ver='");
    buf_appends(&o, bosh_ver(xmpp_el_attr(body, "ver")));
    buf_appends(&o, "' sid='");
    buf_appends(&o, b->sid);
    buf_appends(&o, "' from='");
    xmpp__esc(&o, srv->domain);
    {
        char attrs[200];
        snprintf(attrs, sizeof(attrs),
                 "' wait='%" PRIu64 "' hold='%d' requests='%d' polling='%d' inactivity='%" PRIu64
                 "' maxpause='%d' secure='%s'",
                 wait, HOLD, REQUESTS, POLLING_S, (b->inactivity_ms + 999) / 1000, MAXPAUSE_S,
                 secure ? "true" : "false");
        buf_appends(&o, attrs);
    }
    if (b->closing)
        buf_appends(&o, " type='terminate'");
    if (b->out.len) {
        buf_putc(&o, '>');
        buf_append(&o, b->out.data, b->out.len);
        buf_appends(&o, "</body>");
        b->out.len = 0;
    } else {
        buf_appends(&o, "/>");
    }
    cache_put(b, rid, &o);
    cors(r, origin);
    http_resp_send_buf(r, 200, CTYPE, &o);
    if (b->closing)
        bosh_end(b);
    else
        schedule(b, false);
}

/* One request in rid order: its payload to the session, then hold it. */
static void process(struct xmpp_bosh *b, struct http_req *r, uint64_t rid, struct xmpp_el *body)
{
    const char *type = xmpp_el_attr(body, "type");
    const char *restart = xmpp_el_attr_ns(body, NS_XBOSH, "restart");
    const char *pause = xmpp_el_attr(body, "pause");
    bool terminate = type && strcmp(type, "terminate") == 0;
    bool any = false;
    uint64_t n;

    b->rid = rid;
    b->pause_ms = 0;
    if (pause && parse_u64(pause, MAXPAUSE_S, &n))
        b->pause_ms = n * 1000; /* §12: the client comes back within this */
    for (struct xmpp_el *c = body->children; c && b->s && !b->closing; c = c->next) {
        struct buf x;
        if (xmpp_el_is_text(c))
            continue;
        buf_init(&x, 0);
        if (xmpp_el_serialize(c, XMPP_NS_CLIENT, &x) == TD_OK)
            xmpp__session_feed(b->s, x.data, x.len);
        buf_free(&x);
        any = true;
    }
    if (b->s && !b->closing) {
        if (restart && (strcmp(restart, "true") == 0 || strcmp(restart, "1") == 0))
            feed_header(b); /* XEP-0206 §5: a new stream */
        else if (terminate)
            xmpp__session_feed(b->s, "</stream:stream>", 16);
        else if (!any)
            xmpp__session_feed(b->s, " ", 1); /* whitespace keepalive */
    }
    if (b->gone) {
        answer_terminate(r, b->origin, NULL);
        return;
    }
    b->held[b->nheld].r = r;
    b->held[b->nheld].rid = rid;
    b->held[b->nheld].deadline = uv_now(b->srv->loop) + b->wait_ms;
    b->nheld++;
    if (b->nheld > HOLD)
        answer_oldest(b); /* §10: at most hold requests are held */
    if (b->pause_ms)
        while (b->nheld > 0)
            answer_oldest(b); /* §12: answer everything now; the pause begins */
    schedule(b, b->out.len > 0 || b->closing || b->overflow || terminate);
}

static void handle_request(struct xmpp_c2s *srv, struct http_req *r, struct xmpp_el *body,
                           const char *origin, bool secure)
{
    const char *sid = xmpp_el_attr(body, "sid");
    struct xmpp_bosh *b;
    uint64_t rid;

    if (sid == NULL) {
        create(srv, r, body, origin, secure);
        return;
    }
    b = find(srv, sid);
    if (b == NULL) {
        answer_terminate(r, origin, "item-not-found");
        return;
    }
    if (!parse_u64(xmpp_el_attr(body, "rid"), UINT64_MAX - REQUESTS - 1, &rid)) {
        answer_terminate(r, origin, "bad-request");
        bosh_end(b);
        return;
    }
    if (rid <= b->rid) {
        /* §14.3: a repeated request; resend its answer if it is known */
        struct cached *c = &b->cache[rid % (REQUESTS + 1)];
        if (c->rid == rid && c->body.len) {
            cors(r, b->origin);
            http_resp_send(r, 200, CTYPE, c->body.data, c->body.len);
            return;
        }
        for (size_t i = 0; i < b->nheld; i++)
            if (b->held[i].rid == rid) { /* still held: the new one takes its place */
                struct http_req *old = b->held[i].r;
                b->held[i].r = r;
                /* the client gave up on the old one: an empty body, the session goes on */
                cors(old, b->origin);
                http_resp_send(old, 200, CTYPE, "<body xmlns='" NS_HTTPBIND "'/>",
                               sizeof("<body xmlns='" NS_HTTPBIND "'/>") - 1);
                return;
            }
        answer_terminate(r, b->origin, "item-not-found");
        bosh_end(b);
        return;
    }
    if (rid > b->rid + REQUESTS) {
        answer_terminate(r, b->origin, "item-not-found"); /* §14.1: outside the window */
        bosh_end(b);
        return;
    }
    if (rid > b->rid + 1) {
        /* early: wait for the ones before it (its body is parsed again then) */
        struct held *e = &b->early[rid % REQUESTS];
        if (e->r)
            answer_terminate(e->r, b->origin, "item-not-found");
        e->r = r;
        e->rid = rid;
        log_info("xmpp.bosh_early", "sid=%s rid=%" PRIu64, b->sid, rid);
        return;
    }
    process(b, r, rid, body);
    /* the requests that waited for this one, in order */
    while (!b->gone) {
        struct held *e = &b->early[(b->rid + 1) % REQUESTS];
        struct http_req *er = e->r;
        struct arena *a;
        struct xmpp_el *eb;
        if (er == NULL || e->rid != b->rid + 1)
            break;
        e->r = NULL;
        eb = parse_body(er->body, er->body_len, &a);
        if (eb == NULL) {
            answer_terminate(er, b->origin, "bad-request");
            bosh_end(b);
            break;
        }
        process(b, er, e->rid, eb);
        arena_free(a);
    }
}

/* ---- the HTTP side ---- */

void xmpp_c2s_bosh_handle(struct xmpp_c2s *srv, struct http_req *r, const char *base_url,
                          const char *origins)
{
    const char *origin = http_req_header(r, "Origin");
    bool secure = r->is_tls || xmpp__is_loopback(r->peer);
    struct xmpp_el *body;
    struct arena *a;

    if (origin && !xmpp__origin_allowed(r, origin, base_url, origins)) {
        log_info("xmpp.bosh_refused", "peer=%s why=origin origin=%s", r->peer, log_q(origin));
        http_resp_text(r, 403, "this origin may not open XMPP sessions here "
                               "(see xmpp.websocket_origins)\n");
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) { /* the CORS preflight */
        cors(r, origin);
        (void)http_resp_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
        (void)http_resp_header(r, "Access-Control-Allow-Headers", "Content-Type");
        (void)http_resp_header(r, "Access-Control-Max-Age", "86400");
        http_resp_send(r, 204, NULL, "", 0);
        return;
    }
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
        http_resp_text(r, 200, "XMPP over BOSH (XEP-0206): POST <body/> elements here\n");
        return;
    }
    if (strcmp(r->method, "POST") != 0) {
        (void)http_resp_header(r, "Allow", "GET, HEAD, POST, OPTIONS");
        http_resp_text(r, 405, "method not allowed\n");
        return;
    }
    if (!secure && !srv->allow_plaintext) {
        log_info("xmpp.bosh_refused", "peer=%s why=plaintext", r->peer);
        http_resp_text(r, 403, "XMPP over BOSH needs TLS (https://)\n");
        return;
    }
    body = parse_body(r->body, r->body_len, &a);
    if (body == NULL) {
        /* §17: a body we cannot read; the session, if named, is unknown to us */
        answer_terminate(r, origin, "bad-request");
        return;
    }
    handle_request(srv, r, body, origin, secure);
    arena_free(a);
}

void xmpp__bosh_shutdown(struct xmpp_c2s *srv)
{
    struct xmpp_bosh *next;

    srv->bosh_stopped = true;
    for (struct xmpp_bosh *b = srv->bosh; b; b = next) {
        next = b->next;
        if (b->s && b->s->tr && !b->closing)
            xmpp__stream_error(b->s, "system-shutdown", "server stopping");
        bosh_end(b);
    }
}
