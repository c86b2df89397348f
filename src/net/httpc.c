/* SPDX-License-Identifier: MIT */
/* Outgoing HTTP client on curl's multi "socket" interface, driven by libuv.
 *
 * curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION: one uv_poll_t
 * per socket, remembered with curl_multi_assign) and when it next needs a
 * timeout tick (CURLMOPT_TIMERFUNCTION: one uv_timer_t). Our poll and timer
 * callbacks hand the event back with curl_multi_socket_action() and then
 * collect finished transfers with curl_multi_info_read(). The request
 * callbacks run only from there (or from httpc_free), never from inside a curl
 * callback, so they may start requests or free the client.
 *
 * Limits: http/https only (CURLOPT_PROTOCOLS_STR), redirects not followed,
 * whole-transfer timeout, the body capped by max_response_bytes (an early
 * Content-Length check through CURLOPT_MAXFILESIZE_LARGE, and the write
 * callback for bodies of unknown length), the final header block capped at
 * HTTPC_MAX_HEADER_BYTES. HTTP itself (RFC 9110, RFC 9112) is curl's job.
 *
 * Lifetime: handles closed with uv_close are freed only in their close
 * callbacks; the client is freed in the last one after httpc_free(). */
#include "net/httpc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/err.h"
#include "core/log.h"

/* One transfer: the easy handle plus everything it points to, owned here. */
struct xfer {
    struct xfer *prev, *next;       /* in httpc.xfers */
    struct httpc *h;                /* owning client */
    CURL *easy;                     /* owned; CURLOPT_PRIVATE points back here */
    struct curl_slist *req_headers; /* owned; may be NULL */
    char *body;                     /* owned copy of the request body, or NULL */
    httpc_done_cb *cb;              /* fires exactly once */
    void *ud;                       /* for cb */
    struct buf resp_headers;        /* capped at HTTPC_MAX_HEADER_BYTES */
    struct buf resp_body;           /* capped at the request's max_response_bytes */
    bool too_big;                   /* a cap was hit inside a curl callback */
    char errbuf[CURL_ERROR_SIZE];   /* curl's error text */
};

/* One socket curl asked us to watch. */
struct sock {
    uv_poll_t poll;                 /* poll.data == this */
    struct sock *prev, *next;       /* in httpc.socks until closed */
    struct httpc *h;
    curl_socket_t fd;
};

struct httpc {
    uv_loop_t *loop;                /* not owned */
    CURLM *multi;                   /* owned; NULL after httpc_free */
    uv_timer_t timer;               /* curl's timeout; timer.data == this */
    char *user_agent;               /* owned */
    struct xfer *xfers;             /* in flight, owned */
    size_t active;                  /* length of xfers */
    struct sock *socks;             /* watched sockets, owned */
    unsigned open_handles;          /* uv handles not yet through their close callback */
    bool closing;                   /* httpc_free() has run */
};

static bool curl_ready;

static void check_done(struct httpc *h);

/* ---- uv handle lifetime ------------------------------------------------ */

/* The client goes away with its last handle. */
static void handle_closed(struct httpc *h)
{
    TD_ASSERT(h->open_handles > 0);
    h->open_handles--;
    if (h->open_handles == 0 && h->closing) {
        free(h->user_agent);
        free(h);
    }
}

static void on_timer_close(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void on_sock_close(uv_handle_t *handle)
{
    struct sock *s = handle->data;
    struct httpc *h = s->h;

    free(s);
    handle_closed(h);
}

/* Unlink s and close its poll handle; freed in on_sock_close. */
static void sock_close(struct sock *s)
{
    struct httpc *h = s->h;

    if (s->prev)
        s->prev->next = s->next;
    else
        h->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_close);
}

/* ---- curl -> libuv ----------------------------------------------------- */

static void on_poll(uv_poll_t *poll, int status, int events)
{
    struct sock *s = poll->data;
    struct httpc *h = s->h;
    int flags = 0;
    int running;

    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    /* s may be closed by curl inside this call; use only h afterwards. */
    curl_multi_socket_action(h->multi, s->fd, flags, &running);
    check_done(h);
}

static void on_timer(uv_timer_t *timer)
{
    struct httpc *h = timer->data;
    int running;

    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching fd. Returns -1
 * (curl aborts the transfer) if libuv refuses the socket. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct httpc *h = userp;
    struct sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(h->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = td_calloc(1, sizeof(*s));
        s->h = h;
        s->fd = fd;
        if (uv_poll_init_socket(h->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        h->open_handles++;
        s->next = h->socks;
        if (h->socks)
            h->socks->prev = s;
        h->socks = s;
        curl_multi_assign(h->multi, fd, s);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    if (uv_poll_start(&s->poll, events, on_poll) != 0)
        return -1;
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; otherwise tick after timeout_ms
 * (0 included: the tick then comes on the next loop iteration, never from
 * inside this callback, as curl requires). */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct httpc *h = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- transfers --------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct xfer *x = userdata;

    (void)size; /* always 1 for write and header callbacks */
    if (buf_append(&x->resp_body, ptr, nmemb) != TD_OK) {
        x->too_big = true;
        return 0; /* CURLE_WRITE_ERROR */
    }
    return nmemb;
}

/* Keep the header block of the final response only: a new status line
 * (interim 1xx responses, CONNECT proxies) starts the block again. */
static size_t header_cb(char *ptr, size_t size, size_t nitems, void *userdata)
{
    struct xfer *x = userdata;

    (void)size;
    if (nitems >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        buf_reset(&x->resp_headers);
    if (buf_append(&x->resp_headers, ptr, nitems) != TD_OK) {
        x->too_big = true;
        return 0;
    }
    return nitems;
}

static void xfer_unlink(struct xfer *x)
{
    struct httpc *h = x->h;

    if (x->prev)
        x->prev->next = x->next;
    else
        h->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
    h->active--;
}

/* Free x and what it owns; x must be unlinked and out of the multi handle. */
static void xfer_free(struct xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    free(x->body);
    buf_free(&x->resp_headers);
    buf_free(&x->resp_body);
    free(x);
}

/* Take x out of the client, report err/code through its callback, free it.
 * The callback may re-enter the client (new requests, httpc_free). */
static void xfer_finish(struct xfer *x, int err, CURLcode code)
{
    struct httpc *h = x->h;
    struct httpc_response resp;
    char *ctype = NULL;
    long status = 0;

    xfer_unlink(x);
    if (h->multi)
        curl_multi_remove_handle(h->multi, x->easy);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ctype);

    memset(&resp, 0, sizeof(resp));
    resp.err = err;
    resp.status = status;
    resp.content_type = ctype;
    resp.headers = &x->resp_headers;
    resp.body = &x->resp_body;
    if (err == TD_OK)
        resp.error = "";
    else if (err == TD_ECLOSED)
        resp.error = "request cancelled: client closed";
    else if (x->too_big || code == CURLE_FILESIZE_EXCEEDED)
        resp.error = "response exceeds the size limit";
    else if (x->errbuf[0])
        resp.error = x->errbuf;
    else
        resp.error = curl_easy_strerror(code);
    if (err != TD_OK && err != TD_ECLOSED)
        log_debug("httpc.fail", "code=%d error=%s", (int)code, log_q(resp.error));
    x->cb(x->ud, &resp);
    xfer_free(x);
}

/* Report every transfer curl has finished. Stops if a callback frees h (h's
 * memory lives on until its handles close, so reading h->closing is safe). */
static void check_done(struct httpc *h)
{
    CURLMsg *msg;
    int left;

    while (!h->closing) {
        msg = curl_multi_info_read(h->multi, &left);
        if (!msg)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        CURLcode code = msg->data.result; /* msg is invalid after remove_handle */
        int err;

        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        TD_ASSERT(x != NULL);
        if (code == CURLE_OK)
            err = TD_OK;
        else if (x->too_big || code == CURLE_FILESIZE_EXCEEDED)
            err = TD_ETOOBIG;
        else
            err = TD_EIO;
        xfer_finish(x, err, code);
    }
}

/* ---- request validation ------------------------------------------------ */

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool is_token(const char *s, size_t max)
{
    size_t n = 0;

    for (; s[n]; n++) {
        if (n >= max || !is_tchar((unsigned char)s[n]))
            return false;
    }
    return n > 0;
}

/* "Name: value" with a token name and no control bytes but HTAB in the value
 * (RFC 9110 §5.5): refuses header injection through CR/LF. */
static bool is_header_line(const char *s)
{
    const char *colon = strchr(s, ':');
    size_t len = strnlen(s, HTTPC_MAX_REQ_HEADER_LEN + 1);

    if (!colon || colon == s || len > HTTPC_MAX_REQ_HEADER_LEN)
        return false;
    for (const char *p = s; p < colon; p++) {
        if (!is_tchar((unsigned char)*p))
            return false;
    }
    for (const char *p = colon + 1; *p; p++) {
        unsigned char c = (unsigned char)*p;

        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* A well-formed absolute http or https URL with a host, as curl parses it. */
static bool is_http_url(const char *url)
{
    CURLU *u = NULL;
    char *scheme = NULL;
    char *host = NULL;
    bool ok = false;
    size_t len = strnlen(url, HTTPC_MAX_URL_LEN + 1);

    if (len == 0 || len > HTTPC_MAX_URL_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];

        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    u = curl_url();
    if (!u)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0')
        goto out;
    ok = strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

static bool has_header(const char *const *headers, const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; headers && headers[i]; i++) {
        if (strncasecmp(headers[i], name, n) == 0 && headers[i][n] == ':')
            return true;
    }
    return false;
}

static int check_request(const struct httpc_request *req)
{
    size_t i;

    if (!req->url || !is_http_url(req->url))
        return TD_EINVAL;
    if (req->method && !is_token(req->method, 32))
        return TD_EINVAL;
    for (i = 0; req->headers && req->headers[i]; i++) {
        if (i >= HTTPC_MAX_REQ_HEADERS || !is_header_line(req->headers[i]))
            return TD_EINVAL;
    }
    if (req->body_len > HTTPC_MAX_REQ_BODY || (req->body_len > 0 && !req->body))
        return TD_EINVAL;
    if (req->timeout_ms < 0)
        return TD_EINVAL;
    return TD_OK;
}

/* ---- public API -------------------------------------------------------- */

int httpc_new(uv_loop_t *loop, const char *user_agent, struct httpc **out)
{
    struct httpc *h;

    *out = NULL;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return TD_EIO;
        curl_ready = true;
    }
    h = td_calloc(1, sizeof(*h));
    h->loop = loop;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return TD_EIO;
    }
    h->user_agent = td_strdup(user_agent ? user_agent : "tandem");
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    uv_timer_init(loop, &h->timer);
    h->timer.data = h;
    h->open_handles = 1;
    *out = h;
    return TD_OK;
}

/* Set the options of a new easy handle from req; TD_EIO if curl refuses one. */
static int xfer_setup(struct xfer *x, const struct httpc_request *req)
{
    CURL *e = x->easy;
    const char *method = req->method ? req->method : "GET";
    long timeout = req->timeout_ms ? req->timeout_ms : HTTPC_DEFAULT_TIMEOUT_MS;
    size_t max = req->max_response_bytes ? req->max_response_bytes : HTTPC_DEFAULT_MAX_RESPONSE;
    CURLcode c = CURLE_OK;

    buf_init(&x->resp_body, max);
    buf_init(&x->resp_headers, HTTPC_MAX_HEADER_BYTES);
    for (size_t i = 0; req->headers && req->headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(x->req_headers, req->headers[i]);

        if (!l)
            return TD_ENOMEM;
        x->req_headers = l;
    }
    /* A body is sent at once rather than after waiting for 100 Continue. */
    if (req->body_len > 0 && !has_header(req->headers, "Expect")) {
        struct curl_slist *l = curl_slist_append(x->req_headers, "Expect:");

        if (!l)
            return TD_ENOMEM;
        x->req_headers = l;
    }

    c |= curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    c |= curl_easy_setopt(e, CURLOPT_URL, req->url);
    c |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    c |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    c |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    c |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    c |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    c |= curl_easy_setopt(e, CURLOPT_USERAGENT, x->h->user_agent);
    c |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    c |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    c |= curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    c |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    c |= curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    c |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
    if (x->req_headers)
        c |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    if (req->insecure) {
        c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        c |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    if (strcmp(method, "HEAD") == 0) {
        c |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") == 0 && req->body_len == 0) {
        c |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0 || req->body_len > 0) {
        /* x->body stays alive until the easy handle is cleaned up. */
        c |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        c |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->body ? x->body : "");
        if (strcmp(method, "POST") != 0)
            c |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else {
        c |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return c == CURLE_OK ? TD_OK : TD_EIO;
}

int httpc_request(struct httpc *h, const struct httpc_request *req, httpc_done_cb *cb, void *ud)
{
    struct xfer *x = NULL;
    int rc;

    if (h->closing)
        return TD_ECLOSED;
    if (!req || !cb)
        return TD_EINVAL;
    rc = check_request(req);
    if (rc != TD_OK)
        return rc;
    if (h->active >= HTTPC_MAX_ACTIVE)
        return TD_ELIMIT;

    x = td_calloc(1, sizeof(*x));
    x->h = h;
    x->cb = cb;
    x->ud = ud;
    if (req->body_len > 0) {
        x->body = td_malloc(req->body_len);
        memcpy(x->body, req->body, req->body_len);
    }
    x->easy = curl_easy_init();
    if (!x->easy) {
        rc = TD_EIO;
        goto out;
    }
    rc = xfer_setup(x, req);
    if (rc != TD_OK)
        goto out;
    /* May call timer_cb (which only arms the uv timer), never our cb. */
    if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK) {
        rc = TD_EIO;
        goto out;
    }
    x->next = h->xfers;
    if (h->xfers)
        h->xfers->prev = x;
    h->xfers = x;
    h->active++;
    x = NULL;
out:
    if (x)
        xfer_free(x);
    return rc;
}

size_t httpc_active(const struct httpc *h)
{
    return h->active;
}

void httpc_free(struct httpc *h)
{
    if (!h || h->closing)
        return;
    h->closing = true;
    /* Callbacks here may call httpc_request (refused) or httpc_free (no-op). */
    while (h->xfers)
        xfer_finish(h->xfers, TD_ECLOSED, CURLE_OK);
    /* curl may report socket removals while cleaning up; h is still whole. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    while (h->socks)
        sock_close(h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_close);
}
