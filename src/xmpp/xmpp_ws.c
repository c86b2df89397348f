/* SPDX-License-Identifier: MIT */
/* XMPP over WebSocket (RFC 7395) and its discovery (XEP-0156).
 *
 * /xmpp-websocket on the HTTP listener: the handshake must ask for the "xmpp"
 * sub-protocol (§3.2; refused with 400 otherwise) and the server names it
 * back. Each WebSocket text message is one complete element (§3.3.3): the
 * session's parser runs in framing mode, so a message holding two elements,
 * a stanza before <open/> (§3.3.1) or broken XML is a stream error, and
 * the core writes <open/>, <close/> and stream errors in their framed forms
 * (§3.3.2, §3.6). Every write here is one message; an element written
 * without a namespace of its own was serialized for the jabber:client
 * default of a TCP stream, which a WebSocket message does not have, so
 * xmlns='jabber:client' is added to its first tag (§3.3.3). Binary messages
 * end the stream (bad-format). Closing: after <close/> (or a stream error)
 * the server sends a WebSocket close frame and drops the connection if the
 * peer has not answered it within CLOSE_WAIT_MS (RFC 6455 §7.1.1).
 *
 * Security: no STARTTLS on this transport and no channel binding (no -PLUS
 * mechanisms: the TLS under an HTTPS request is the HTTP server's, and a
 * front proxy may end it). A session counts as secure when the HTTP
 * connection is TLS, or when the peer is on loopback: such a WebSocket never
 * crosses a network, and it lets the web chat work at http://localhost
 * during development. A plain-HTTP upgrade from elsewhere is refused (403)
 * unless xmpp.allow_plaintext. Browsers send Origin: accepted are the
 * site's own origin (the base URL's, or the scheme and Host the request was
 * sent to) and those listed in xmpp.websocket_origins; clients that send no
 * Origin (not browsers) are accepted, since cross-site request forgery is a
 * browser matter.
 *
 * Lifetime: the same rule as the TCP transport in xmpp_c2s.c. When the
 * WebSocket ends (on_close), the session is told its transport is gone; its
 * memory is released only in the close callback of this transport's timer,
 * which runs on a later turn of the loop, after any write or feed that was
 * on the stack when the connection went away has returned.
 *
 * XEP-0156 §3: /.well-known/host-meta (XRD) and /.well-known/host-meta.json
 * (JRD) name the endpoint as urn:xmpp:alt-connections:websocket (and the BOSH
 * one of xmpp_bosh.c as urn:xmpp:alt-connections:xbosh), with CORS
 * open to all origins as §3.2 recommends. */
#include "xmpp/xmpp_c2s_int.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "http/http.h"
#include "http/ws.h"
#include "net/conn.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_PATH "/xmpp-websocket"
#define WS_MAX_MESSAGE (XMPP_STANZA_MAX + 4096) /* one stanza and some whitespace */
#define CLOSE_WAIT_MS (10 * 1000)               /* for the peer's close frame */
#define NS_ALT_WEBSOCKET "urn:xmpp:alt-connections:websocket"
#define NS_ALT_XBOSH "urn:xmpp:alt-connections:xbosh" /* XEP-0156 §3: BOSH, xmpp_bosh.c */
#define BOSH_PATH "/http-bind"
#define NS_XRD "http://docs.oasis-open.org/ns/xri/xrd-1.0"

struct xmpp_ws {
    struct xmpp_c2s *srv;
    struct xmpp_session *s;  /* NULL until started, and after release */
    struct ws *w;            /* NULL once the WebSocket ended */
    struct conn *conn;       /* the HTTP connection; NULL once the WebSocket ended */
    uv_timer_t timer;        /* the session's timer, then the close wait */
    xmpp_session_timer_cb *timer_cb;
    bool timer_ready;        /* uv_timer_init has run */
    bool secure;
    bool closing;            /* our close frame is queued */
    bool gone;               /* on_close has run */
    struct xmpp_ws *next, *prev; /* srv->ws */
};

static struct xmpp_ws *ws_of(const struct xmpp_session *s)
{
    return s->tr_data;
}

/* ---- the transport ---- */

bool xmpp__has_default_ns(const char *data, size_t len)
{
    char quote = 0;

    for (size_t i = 1; i < len; i++) {
        char c = data[i];
        if (quote) {
            if (c == quote)
                quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '>') {
            return false;
        } else if ((c == ' ' || c == '\t' || c == '\n' || c == '\r') && i + 6 < len &&
                   strncmp(data + i + 1, "xmlns", 5) == 0 &&
                   (data[i + 6] == '=' || data[i + 6] == ' ')) {
            return true;
        }
    }
    return false;
}

static int t_write(struct xmpp_session *s, const char *data, size_t len, bool stanza)
{
    struct xmpp_ws *x = ws_of(s);
    size_t name_end = 1;
    bool prefixed = false;
    struct buf b;
    int rc;

    (void)stanza; /* any element of the default namespace needs it, stanza or not */
    if (x->w == NULL || x->closing)
        return TD_ECLOSED;
    while (name_end < len && !strchr(" \t\r\n/>", data[name_end])) {
        if (data[name_end] == ':')
            prefixed = true;
        name_end++;
    }
    if (len < 2 || data[0] != '<' || data[1] == '?' || prefixed ||
        xmpp__has_default_ns(data, len))
        return ws_send(x->w, WS_TEXT, data, len);
    buf_init(&b, 0);
    buf_append(&b, data, name_end);
    buf_appends(&b, " xmlns='" XMPP_NS_CLIENT "'");
    buf_append(&b, data + name_end, len - name_end);
    rc = ws_send(x->w, WS_TEXT, b.data, b.len);
    buf_free(&b);
    return rc;
}

static void t_timer_fired(uv_timer_t *t)
{
    struct xmpp_ws *x = t->data;

    if (x->closing) { /* the peer never answered our close frame */
        if (x->conn)
            conn_abort(x->conn);
        return;
    }
    if (x->s && x->timer_cb)
        x->timer_cb(x->s);
}

static void t_close(struct xmpp_session *s)
{
    struct xmpp_ws *x = ws_of(s);

    if (x->w == NULL || x->closing)
        return;
    x->closing = true;
    /* RFC 7395 §3.6: the stream is closed (<close/> was sent); end the
     * WebSocket too, and wait a while for the peer's answer. */
    if (ws_close(x->w, WS_CLOSE_NORMAL, NULL) != TD_OK) {
        if (x->conn)
            conn_close(x->conn);
        return;
    }
    if (x->timer_ready && !x->gone)
        uv_timer_start(&x->timer, t_timer_fired, CLOSE_WAIT_MS, 0);
}

static bool t_is_closing(const struct xmpp_session *s)
{
    const struct xmpp_ws *x = ws_of(s);
    return x->w == NULL || x->closing || ws_is_closed(x->w);
}

static bool t_is_secure(const struct xmpp_session *s)
{
    return ws_of(s)->secure;
}

static void t_pause_read(struct xmpp_session *s)
{
    struct xmpp_ws *x = ws_of(s);
    if (x->conn)
        conn_pause_read(x->conn);
}

static void t_resume_read(struct xmpp_session *s)
{
    struct xmpp_ws *x = ws_of(s);
    if (x->conn)
        conn_resume_read(x->conn);
}

static void t_timer_set(struct xmpp_session *s, uint64_t ms, xmpp_session_timer_cb *cb)
{
    struct xmpp_ws *x = ws_of(s);

    if (x->closing || x->gone || !x->timer_ready)
        return;
    x->timer_cb = cb;
    if (ms && cb)
        uv_timer_start(&x->timer, t_timer_fired, ms, 0);
    else
        uv_timer_stop(&x->timer);
}

static const struct xmpp_transport ws_transport = {
    .name = "websocket",
    .framed = true,
    .write = t_write,
    .close = t_close,
    .is_closing = t_is_closing,
    .is_secure = t_is_secure,
    .channel_binding = NULL, /* no -PLUS over WebSocket */
    .start_tls = NULL,       /* TLS is the HTTP listener's business */
    .pause_read = t_pause_read,
    .resume_read = t_resume_read,
    .timer_set = t_timer_set,
};

/* ---- WebSocket callbacks ---- */

static void on_message(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct xmpp_ws *x = ud;

    if (x->s == NULL || x->s->tr == NULL)
        return;
    if (op != WS_TEXT) {
        /* RFC 7395 §3.3.3: XMPP travels in text messages only. */
        xmpp__stream_error(x->s, "bad-format", "binary WebSocket message");
        return;
    }
    xmpp__session_feed(x->s, (const char *)data, len);
}

static void timer_closed(uv_handle_t *h)
{
    struct xmpp_ws *x = h->data;

    if (x->s)
        xmpp__session_release(x->s);
    x->s = NULL;
    if (x->prev)
        x->prev->next = x->next;
    else
        x->srv->ws = x->next;
    if (x->next)
        x->next->prev = x->prev;
    free(x);
}

static void on_close(void *ud, uint16_t code)
{
    struct xmpp_ws *x = ud;

    (void)code;
    x->gone = true;
    x->w = NULL; /* freed by the HTTP server after this */
    x->conn = NULL;
    if (!x->timer_ready)
        return; /* during the upgrade: the attach code frees x */
    uv_timer_stop(&x->timer);
    if (x->s && xmpp__session_transport_gone(x->s))
        x->s = NULL; /* kept by a module, which now owns it */
    uv_close((uv_handle_t *)&x->timer, timer_closed);
}

/* The HTTP server writes the frames (its own send glue): ours are the events. */
static const struct ws_callbacks ws_cbs = {
    .on_message = on_message,
    .on_close = on_close,
};

/* ---- the handshake ---- */

bool xmpp__is_loopback(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
           strncasecmp(peer, "::ffff:127.", 11) == 0;
}

/* Is token one of the comma-separated values of list (RFC 6455 §4.1 item 10)? */
static bool list_has(const char *list, const char *token)
{
    size_t tl = strlen(token);

    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - p) == tl && strncmp(p, token, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

/* Is origin (scheme://host[:port], RFC 6454 §6.1) the site's own or listed? */
bool xmpp__origin_allowed(struct http_req *r, const char *origin, const char *base_url,
                          const char *origins)
{
    const char *host = http_req_header(r, "Host");
    size_t n;

    if (base_url && *base_url) {
        /* the base URL's origin: up to the first '/' after "scheme://" */
        const char *p = strstr(base_url, "://");
        const char *slash = p ? strchr(p + 3, '/') : NULL;
        n = slash ? (size_t)(slash - base_url) : strlen(base_url);
        if (strlen(origin) == n && strncasecmp(origin, base_url, n) == 0)
            return true;
    }
    if (host && *host) {
        const char *scheme = r->is_tls ? "https://" : "http://";
        size_t sl = strlen(scheme);
        if (strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0)
            return true;
    }
    n = strlen(origin);
    for (const char *p = origins; p && *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if ((size_t)(e - p) == n && n > 0 && strncasecmp(p, origin, n) == 0)
            return true;
        p = e;
    }
    return false;
}

void xmpp_c2s_ws_attach(struct xmpp_c2s *srv, struct http_req *r, const char *base_url,
                        const char *origins)
{
    const char *proto = http_req_header(r, "Sec-WebSocket-Protocol");
    const char *origin = http_req_header(r, "Origin");
    struct conn *c = http_req_conn(r);
    struct xmpp_ws *x;
    bool secure;

    if (c == NULL) {
        http_resp_text(r, 400, "gone\n");
        return;
    }
    if (proto == NULL || !list_has(proto, "xmpp")) {
        log_info("xmpp.ws_refused", "peer=%s why=subprotocol proto=%s", r->peer,
                 log_q(proto ? proto : ""));
        http_resp_text(r, 400, "XMPP over WebSocket needs the sub-protocol \"xmpp\" "
                               "(Sec-WebSocket-Protocol: xmpp, RFC 7395 section 3.2)\n");
        return;
    }
    if (origin && !xmpp__origin_allowed(r, origin, base_url, origins)) {
        log_info("xmpp.ws_refused", "peer=%s why=origin origin=%s", r->peer, log_q(origin));
        http_resp_text(r, 403, "this origin may not open XMPP sessions here "
                               "(see xmpp.websocket_origins)\n");
        return;
    }
    secure = r->is_tls || xmpp__is_loopback(r->peer);
    if (!secure && !srv->allow_plaintext) {
        log_info("xmpp.ws_refused", "peer=%s why=plaintext", r->peer);
        http_resp_text(r, 403, "XMPP over WebSocket needs TLS (wss://)\n");
        return;
    }
    if (http_resp_header(r, "Sec-WebSocket-Protocol", "xmpp") != TD_OK) {
        http_resp_text(r, 500, "cannot answer\n");
        return;
    }
    x = td_calloc(1, sizeof(*x));
    x->srv = srv;
    x->secure = secure;
    x->conn = c;
    x->w = http_ws_upgrade(r, &ws_cbs, x, WS_MAX_MESSAGE);
    if (x->w == NULL || x->gone) { /* answered with 400/426, or gone already */
        free(x);
        return;
    }
    uv_timer_init(srv->loop, &x->timer);
    x->timer.data = x;
    x->timer_ready = true;
    x->next = srv->ws;
    if (srv->ws)
        srv->ws->prev = x;
    srv->ws = x;
    x->s = xmpp__session_new(srv, &ws_transport, x, c->id, c->peer);
    log_info("xmpp.ws_open", "conn=%llu peer=%s tls=%d", (unsigned long long)c->id, c->peer,
             r->is_tls ? 1 : 0);
}

void xmpp__ws_shutdown(struct xmpp_c2s *srv)
{
    for (struct xmpp_ws *x = srv->ws; x; x = x->next)
        if (x->s && x->s->tr)
            xmpp__stream_error(x->s, "system-shutdown", "server stopping");
}

/* ---- XEP-0156 ---- */

/* ws:// or wss:// URL of the endpoint under base_url, in b. */
static void endpoint_url(struct buf *b, const char *base_url)
{
    size_t n = strlen(base_url);

    while (n > 0 && base_url[n - 1] == '/')
        n--;
    if (strncasecmp(base_url, "https://", 8) == 0) {
        buf_appends(b, "wss://");
        buf_append(b, base_url + 8, n - 8);
    } else if (strncasecmp(base_url, "http://", 7) == 0) {
        buf_appends(b, "ws://");
        buf_append(b, base_url + 7, n - 7);
    } else {
        buf_append(b, base_url, n);
    }
    buf_appends(b, WS_PATH);
}

void xmpp_c2s_host_meta(struct http_req *r, const char *base_url, bool json)
{
    struct buf url;
    struct buf bosh; /* the BOSH endpoint: base_url + /http-bind */
    struct buf out;
    size_t bn = base_url ? strlen(base_url) : 0;

    buf_init(&url, 0);
    buf_init(&bosh, 0);
    buf_init(&out, 0);
    endpoint_url(&url, base_url ? base_url : "");
    while (bn > 0 && base_url[bn - 1] == '/')
        bn--;
    buf_append(&bosh, base_url ? base_url : "", bn);
    buf_appends(&bosh, BOSH_PATH);
    (void)http_resp_header(r, "Access-Control-Allow-Origin", "*");
    if (json) {
        json_t *doc = json_pack("{s:[{s:s,s:s},{s:s,s:s}]}", "links", "rel", NS_ALT_WEBSOCKET,
                                "href", url.data, "rel", NS_ALT_XBOSH, "href", bosh.data);
        char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (text == NULL) {
            buf_free(&url);
            buf_free(&bosh);
            buf_free(&out);
            http_resp_text(r, 500, "cannot make the document\n");
            return;
        }
        buf_appends(&out, text);
        buf_putc(&out, '\n');
        free(text);
        buf_free(&url);
        buf_free(&bosh);
        http_resp_send_buf(r, 200, "application/json", &out);
        return;
    }
    buf_appends(&out, "<?xml version='1.0' encoding='utf-8'?>\n"
                      "<XRD xmlns='" NS_XRD "'>\n"
                      "  <Link rel='" NS_ALT_WEBSOCKET "' href='");
    xmpp__esc(&out, url.data);
    buf_appends(&out, "'/>\n  <Link rel='" NS_ALT_XBOSH "' href='");
    xmpp__esc(&out, bosh.data);
    buf_appends(&out, "'/>\n</XRD>\n");
    buf_free(&url);
    buf_free(&bosh);
    http_resp_send_buf(r, 200, "application/xrd+xml; charset=utf-8", &out);
}
