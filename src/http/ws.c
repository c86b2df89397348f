/* SPDX-License-Identifier: MIT */
/* WebSocket (RFC 6455) server sessions as a sans-I/O module over wslay's event API.
 *
 * wslay does the framing: it unmasks client frames and rejects unmasked ones
 * (§5.1, §5.3), rejects reserved bits (§5.2) and unknown opcodes, reassembles
 * fragments (§5.4), checks text for UTF-8 (§8.1, close 1007), caps the
 * reassembled message before allocating it (close 1009), answers pings with
 * pongs (§5.5.2) and echoes the peer's close frame (§5.5.1). Its recv and
 * send callbacks work against memory here: recv reads from the bytes given
 * to ws_feed() and says WOULDBLOCK when they are used up; send appends to an
 * output buffer that is handed to the owner's send callback in one piece per
 * flush. wslay reports a few frame-level errors (control frame over 125
 * bytes or fragmented, §5.5; a length not in its minimal form, §5.2) by
 * queueing a close frame without a status code, so a small header scanner
 * here sees those first and fails the connection with 1002.
 *
 * The peer's close frame (§5.5.1) is not streamed to wslay: the scanner stops
 * in front of it, the frame is gathered here (it is at most 131 bytes) and
 * checked (masked, FIN set, no 1-byte body, a code §7.4 allows, a UTF-8
 * reason §8.1; else 1002 or 1007), and only then handed to wslay in one
 * piece. Two reasons. First, wslay 1.1.1 checks the UTF-8 of a close reason
 * per received chunk, skipping the first two bytes of every chunk rather
 * than of the payload, so a close payload that reaches it in pieces (split
 * across ws_feed() calls or across its 4 KiB input buffer) gets invalid
 * reasons echoed back and valid ones refused.
 * Second, wslay puts its close reply in its control queue, which goes out
 * before queued data frames, and sends nothing after it; so before the close
 * frame is fed, frames that on_message queued for the frames in front of it
 * are moved to the output buffer, and reach the peer ahead of our close reply
 * as §5.5.1 allows. Handshake, extensions and timeouts are left to the HTTP
 * server and the connection owner.
 *
 * Re-entrancy: every public entry point counts its nesting in depth. Only the
 * outermost call flushes output and may fire on_close, so on_message may call
 * ws_send()/ws_close() (the frames go out when ws_feed() returns; ws_close()
 * first moves frames queued earlier to the output buffer, for the reason
 * above), and ws_free() from a callback is deferred to the outermost
 * return. */
#include "http/ws.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <string.h>
#include <wslay/wslay.h>

/* RFC 6455 §1.3 */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Output buffer memory above this is released after each flush. */
#define WS_OUT_KEEP (64 * 1024)
/* RFC 6455 §5.2, §5.5: a client's close frame is 2 header bytes, a 4-byte
 * masking key and at most 125 payload bytes. */
#define WS_CLOSE_FRAME_MAX (2 + 4 + 125)

/* Incremental frame-header scanner (see the file comment). */
struct ws_scan {
    uint8_t hdr[14];    /* header bytes of the current frame so far */
    size_t hdr_len;     /* bytes in hdr */
    uint64_t remaining; /* payload bytes still to skip; valid when in_payload */
    uint64_t max_message; /* largest payload a single frame may announce */
    bool in_payload;    /* between a complete header and the payload's end */
    bool at_close;      /* stopped in front of a close frame, or gathering it */
    uint16_t code;      /* close code once a header was rejected, else 0 */
};

struct ws {
    wslay_event_context_ptr ctx; /* owned */
    struct ws_callbacks cb;      /* copy of the owner's callbacks */
    void *ud;                    /* owner's pointer, passed to callbacks */
    const uint8_t *in;           /* bytes of the current ws_feed(), not owned */
    size_t in_len;               /* usable bytes at in */
    size_t in_off;               /* bytes of in already given to wslay */
    struct buf out;              /* framed output waiting for cb.send; owned */
    struct ws_scan scan;
    uint8_t cf[WS_CLOSE_FRAME_MAX]; /* the peer's close frame being gathered */
    size_t cf_len;               /* bytes in cf */
    int depth;                   /* nesting of public calls on this ws */
    bool proto_error;            /* a protocol error made us queue a close */
    bool send_failed;            /* cb.send returned -1 */
    bool close_queued;           /* ws_close() queued our close frame */
    bool finished;               /* on_close has fired (or would have) */
    bool free_pending;           /* ws_free() was called inside a callback */
};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool is_b64_char(char c)
{
    return c != '\0' && strchr(b64_alphabet, c) != NULL;
}

/* RFC 6455 §4.2.1 item 5: the key is the base64 of 16 bytes, so exactly
 * 22 alphabet characters and "==" (the last 4 bits are not checked). */
static bool is_valid_key(const char *key)
{
    size_t i;

    if (strlen(key) != 24)
        return false;
    for (i = 0; i < 22; i++) {
        if (!is_b64_char(key[i]))
            return false;
    }
    return key[22] == '=' && key[23] == '=';
}

/* Contract in ws.h. Pure function; no allocation. */
int ws_accept_key(const char *client_key, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char cat[24 + sizeof(WS_GUID)];

    out[0] = '\0';
    if (client_key == NULL || !is_valid_key(client_key))
        return TD_EINVAL;
    memcpy(cat, client_key, 24);
    memcpy(cat + 24, WS_GUID, sizeof(WS_GUID) - 1);
    if (EVP_Digest(cat, 24 + sizeof(WS_GUID) - 1, md, &md_len, EVP_sha1(), NULL) != 1 ||
        md_len != 20)
        return TD_EINVAL;
    /* 20 bytes -> 28 base64 characters plus the NUL written by OpenSSL. */
    EVP_EncodeBlock((unsigned char *)out, md, 20);
    out[28] = '\0';
    return TD_OK;
}

/* True if s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
static bool is_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* RFC 6455 §7.4: codes an endpoint may put in a close frame. */
static bool is_sendable_code(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
           (code >= 3000 && code <= 4999);
}

/* RFC 6455 §7.4: codes a received close frame may carry (as wslay 1.1.1
 * accepts them: 1000-1011 except 1004-1006, and 3000-4999). */
static bool is_receivable_code(uint16_t code)
{
    return (code >= 1000 && code <= 1011 && code != 1004 && code != 1005 && code != 1006) ||
           (code >= 3000 && code <= 4999);
}

/* Feed n bytes to the header scanner. Returns how many of them wslay may
 * see: all n, or fewer when a header is rejected (then s->code is set and
 * the byte that completed the bad part of the header is not counted, so
 * wslay never parses it) or when a close frame starts (then s->at_close is
 * set and the close frame's first byte is not counted; gather_close() takes
 * over). */
static size_t scan_bytes(struct ws_scan *s, const uint8_t *p, size_t n)
{
    size_t i = 0;

    while (i < n && s->code == 0) {
        if (s->in_payload) {
            uint64_t avail = n - i;
            uint64_t skip = s->remaining < avail ? s->remaining : avail;

            i += (size_t)skip;
            s->remaining -= skip;
            if (s->remaining == 0)
                s->in_payload = false;
            continue;
        }
        if (s->hdr_len == 0 && (p[i] & 0x0f) == 0x8) {
            s->at_close = true;
            return i;
        }
        s->hdr[s->hdr_len++] = p[i];
        if (s->hdr_len < 2) {
            i++;
            continue;
        }
        uint8_t b0 = s->hdr[0], b1 = s->hdr[1];
        uint8_t opcode = b0 & 0x0f, len7 = b1 & 0x7f;
        bool fin = (b0 & 0x80) != 0, masked = (b1 & 0x80) != 0;
        size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
        size_t need = 2 + ext + (masked ? 4 : 0);
        uint64_t plen = len7;

        if (s->hdr_len == 2 && (opcode & 0x08) != 0) {
            /* RFC 6455 §5.5: control frames are not fragmented and carry at
             * most 125 bytes. (Close frames go to gather_close().) */
            if (!fin || len7 > 125) {
                s->code = WS_CLOSE_PROTOCOL_ERROR;
                return i;
            }
        }
        if (s->hdr_len < 2 + ext) {
            i++;
            continue;
        }
        if (ext > 0) {
            plen = 0;
            for (size_t k = 0; k < ext; k++)
                plen = (plen << 8) | s->hdr[2 + k];
        }
        if (s->hdr_len == 2 + ext) {
            /* RFC 6455 §5.2: the minimal number of bytes must be used, and
             * the most significant bit of a 64-bit length must be 0. */
            if ((ext == 2 && plen < 126) || (ext == 8 && (plen < 65536 || plen >> 63))) {
                s->code = WS_CLOSE_PROTOCOL_ERROR;
                return i;
            }
            /* wslay checks the limit only when payload bytes arrive; a
             * lone header that promises too much is refused here. */
            if (plen > s->max_message) {
                s->code = WS_CLOSE_TOO_BIG;
                return i;
            }
        }
        if (s->hdr_len < need) {
            i++;
            continue;
        }
        i++;
        s->hdr_len = 0;
        s->remaining = plen;
        s->in_payload = plen > 0;
    }
    return i;
}

/* Check a complete close frame in w->cf (RFC 6455 §5.5.1): a status code
 * that may be received (§7.4) and a UTF-8 reason (§8.1). Returns 0 or the
 * close code to fail the connection with. */
static uint16_t check_close_frame(const struct ws *w)
{
    const uint8_t *key = w->cf + 2;
    size_t plen = w->cf[1] & 0x7f;
    uint8_t body[125];
    uint16_t code;

    if (plen == 0)
        return 0;
    for (size_t k = 0; k < plen; k++)
        body[k] = w->cf[6 + k] ^ key[k % 4];
    code = (uint16_t)(body[0] << 8 | body[1]);
    if (!is_receivable_code(code))
        return WS_CLOSE_PROTOCOL_ERROR;
    if (!is_utf8(body + 2, plen - 2))
        return WS_CLOSE_INVALID_DATA;
    return 0;
}

/* Gather the peer's close frame, which starts at p[0] or continues what an
 * earlier call gathered, into w->cf. Returns how many of the n bytes it took.
 * Sets *whole once the frame is complete and checked; sets w->scan.code (and
 * takes no more) when the frame is bad. Clears w->scan.at_close in both
 * cases. */
static size_t gather_close(struct ws *w, const uint8_t *p, size_t n, bool *whole)
{
    size_t i = 0;

    *whole = false;
    while (i < n) {
        uint8_t b0, b1, len7;
        size_t need;

        w->cf[w->cf_len++] = p[i++];
        if (w->cf_len < 2)
            continue;
        b0 = w->cf[0];
        b1 = w->cf[1];
        len7 = b1 & 0x7f;
        /* RFC 6455 §5.1: client frames are masked. §5.5: control frames are
         * not fragmented and carry at most 125 bytes. §5.5.1: a close body
         * is empty or starts with a 2-byte code. */
        if ((b0 & 0x80) == 0 || (b1 & 0x80) == 0 || len7 > 125 || len7 == 1) {
            w->scan.code = WS_CLOSE_PROTOCOL_ERROR;
            break;
        }
        need = 2 + 4 + (size_t)len7;
        if (w->cf_len < need)
            continue;
        w->scan.code = check_close_frame(w);
        *whole = w->scan.code == 0;
        break;
    }
    if (*whole || w->scan.code != 0)
        w->scan.at_close = false;
    return i;
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct ws *w = user_data;
    size_t n = w->in_len - w->in_off;

    (void)flags;
    if (w->free_pending || n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, w->in + w->in_off, n);
    w->in_off += n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct ws *w = user_data;

    (void)flags;
    /* The buffer has no ceiling: it only holds frames of messages that the
     * owner already chose to queue, and it is emptied after each flush. */
    if (buf_append(&w->out, data, len) != TD_OK) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user_data)
{
    /* Servers do not mask (RFC 6455 §5.1); wslay never asks. */
    (void)ctx;
    (void)user_data;
    memset(buf, 0, len);
    return 0;
}

static void on_msg_recv_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_msg_recv_arg *arg, void *user_data)
{
    struct ws *w = user_data;

    (void)ctx;
    if (w->free_pending || w->finished || w->cb.on_message == NULL)
        return;
    /* Pings are answered and closes echoed by wslay; pongs are absorbed. */
    if (arg->opcode == WSLAY_TEXT_FRAME)
        w->cb.on_message(w->ud, WS_TEXT, arg->msg, arg->msg_length);
    else if (arg->opcode == WSLAY_BINARY_FRAME)
        w->cb.on_message(w->ud, WS_BINARY, arg->msg, arg->msg_length);
}

/* Contract in ws.h. The caller owns the result and frees it with ws_free(). */
struct ws *ws_new(const struct ws_callbacks *cb, void *ud, size_t max_message)
{
    struct wslay_event_callbacks wcb = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_msg_recv_callback = on_msg_recv_cb,
    };
    struct ws *w = td_calloc(1, sizeof(*w));

    w->cb = *cb;
    w->ud = ud;
    buf_init(&w->out, 0);
    if (wslay_event_context_server_init(&w->ctx, &wcb, w) != 0)
        TD_ASSERT(!"wslay_event_context_server_init failed (out of memory)");
    if (max_message == 0)
        max_message = WS_DEFAULT_MAX_MESSAGE;
    wslay_event_config_set_max_recv_msg_length(w->ctx, max_message);
    w->scan.max_message = max_message;
    return w;
}

static void destroy(struct ws *w)
{
    wslay_event_context_free(w->ctx);
    buf_free(&w->out);
    free(w);
}

/* Enter a public call. */
static void enter(struct ws *w)
{
    w->depth++;
}

/* Leave a public call; frees w if a deferred ws_free() is due. Returns true
 * if w is gone. */
static bool leave(struct ws *w)
{
    TD_ASSERT(w->depth > 0);
    w->depth--;
    if (w->depth == 0 && w->free_pending) {
        destroy(w);
        return true;
    }
    return false;
}

/* Fire on_close once. */
static void finish(struct ws *w, uint16_t code)
{
    if (w->finished)
        return;
    w->finished = true;
    wslay_event_shutdown_read(w->ctx);
    wslay_event_shutdown_write(w->ctx);
    if (!w->free_pending && w->cb.on_close != NULL)
        w->cb.on_close(w->ud, code);
}

/* Send queued frames through cb.send and fire on_close if the WebSocket is
 * done. Only the outermost public call does this. */
static void flush(struct ws *w)
{
    if (w->depth != 1 || w->finished || w->free_pending)
        return;
    /* Loops because cb.send may itself queue a message with ws_send(). The
     * buffer may already hold frames that drain() moved there. */
    while (!w->send_failed && !w->free_pending) {
        if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
            w->proto_error = true; /* cannot happen: send_cb does not fail */
        if (w->out.len == 0)
            break;
        if (w->cb.send(w->ud, (const uint8_t *)w->out.data, w->out.len) != 0)
            w->send_failed = true;
        buf_reset(&w->out);
        if (w->out.cap > WS_OUT_KEEP)
            buf_free(&w->out);
    }
    if (w->free_pending)
        return;
    if (w->send_failed) {
        finish(w, WS_CLOSE_ABNORMAL);
    } else if (wslay_event_get_close_received(w->ctx) && wslay_event_get_close_sent(w->ctx)) {
        /* RFC 6455 §5.5.1: both close frames have been seen. */
        finish(w, wslay_event_get_status_code_received(w->ctx));
    } else if (w->proto_error && wslay_event_get_close_sent(w->ctx)) {
        finish(w, wslay_event_get_status_code_sent(w->ctx));
    } else if (w->proto_error && !wslay_event_get_write_enabled(w->ctx)) {
        finish(w, WS_CLOSE_ABNORMAL);
    }
}

/* Move every frame wslay has queued into w->out, in queue order, without
 * calling the owner. */
static void drain(struct ws *w)
{
    if (wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
        w->proto_error = true; /* cannot happen: send_cb does not fail */
}

/* True while wslay may be given more input. */
static bool reading(const struct ws *w)
{
    return !w->free_pending && wslay_event_get_read_enabled(w->ctx);
}

/* Let wslay parse p[0..n); callbacks fire from inside. Marks a protocol
 * error when wslay fails the connection. */
static void feed_wslay(struct ws *w, const uint8_t *p, size_t n)
{
    int r;

    if (n == 0 || !reading(w))
        return;
    w->in = p;
    w->in_len = n;
    w->in_off = 0;
    r = wslay_event_recv(w->ctx);
    w->in = NULL;
    w->in_len = w->in_off = 0;
    if (r != 0) {
        /* NOMEM, or a frame error the scanner missed: wslay queued a close
         * frame (maybe without a code) and stopped reading. */
        w->proto_error = true;
    } else if (!wslay_event_get_read_enabled(w->ctx) &&
               !wslay_event_get_close_received(w->ctx)) {
        /* wslay queued a close frame with 1002, 1007 or 1009. */
        w->proto_error = true;
    }
}

/* Contract in ws.h. data is only read during the call. The scanner sees the
 * bytes first and wslay gets those it passed, up to the peer's close frame,
 * which is gathered and checked here and then given to wslay whole (see the
 * file comment). Callbacks fire from inside; w is freed before return if one
 * of them called ws_free(). */
int ws_feed(struct ws *w, const uint8_t *data, size_t len)
{
    int rc = TD_OK;
    size_t off = 0;
    bool was_error;

    if (w->finished || w->free_pending)
        return TD_ECLOSED;
    enter(w);
    was_error = w->proto_error;
    while (off < len && w->scan.code == 0 && reading(w)) {
        size_t n;

        if (w->scan.at_close) {
            bool whole;

            off += gather_close(w, data + off, len - off, &whole);
            if (whole) {
                feed_wslay(w, w->cf, w->cf_len);
                w->cf_len = 0;
            }
            continue;
        }
        n = scan_bytes(&w->scan, data + off, len - off);
        feed_wslay(w, data + off, n);
        off += n;
        /* RFC 6455 §5.5.1: what on_message queued for the frames before the
         * peer's close frame goes out before our close reply. */
        if (w->scan.at_close && reading(w))
            drain(w);
    }
    if (w->scan.code != 0 && reading(w)) {
        /* A header or close frame the scanner rejected (RFC 6455 §5.2,
         * §5.5, §7.4, §8.1). Frames queued before it still go out first. */
        drain(w);
        wslay_event_queue_close(w->ctx, w->scan.code, NULL, 0);
        wslay_event_shutdown_read(w->ctx);
        w->proto_error = true;
    }
    flush(w);
    if (w->proto_error && !was_error) {
        rc = TD_EPROTO;
        log_debug("ws.proto_error", "code=%u",
                  (unsigned)wslay_event_get_status_code_sent(w->ctx));
    }
    leave(w);
    return rc;
}

/* Queue one message and flush it unless inside a callback. */
static int queue_msg(struct ws *w, uint8_t opcode, const uint8_t *data, size_t len)
{
    struct wslay_event_msg msg = { .opcode = opcode, .msg = data, .msg_length = len };
    int r;

    if (w->finished || w->free_pending)
        return TD_ECLOSED;
    r = wslay_event_queue_msg(w->ctx, &msg);
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return TD_ECLOSED;
    if (r == WSLAY_ERR_NOMEM)
        return TD_ENOMEM;
    if (r != 0)
        return TD_EINVAL;
    enter(w);
    flush(w);
    leave(w);
    return TD_OK;
}

/* Contract in ws.h. May call cb.send and cb.on_close (send failure). */
int ws_send(struct ws *w, enum ws_opcode op, const void *data, size_t len)
{
    if (op != WS_TEXT && op != WS_BINARY)
        return TD_EINVAL;
    if (len > 0 && data == NULL)
        return TD_EINVAL;
    if (op == WS_TEXT && !is_utf8(data, len))
        return TD_EINVAL;
    if (ws_is_closed(w))
        return TD_ECLOSED;
    return queue_msg(w, op == WS_TEXT ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME, data, len);
}

int ws_ping(struct ws *w)
{
    if (ws_is_closed(w))
        return TD_ECLOSED;
    return queue_msg(w, WSLAY_PING, NULL, 0);
}

/* Contract in ws.h. Reading goes on until the peer's close frame. */
int ws_close(struct ws *w, uint16_t code, const char *reason)
{
    size_t rlen = reason != NULL ? strlen(reason) : 0;
    int r;

    if (!is_sendable_code(code))
        return TD_EINVAL;
    if (ws_is_closed(w))
        return TD_ECLOSED;
    if (rlen > WS_MAX_CLOSE_REASON) {
        rlen = WS_MAX_CLOSE_REASON;
        /* Do not cut a UTF-8 sequence: back up over continuation bytes. */
        while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
            rlen--;
    }
    if (!is_utf8((const uint8_t *)reason, rlen))
        return TD_EINVAL;
    /* wslay sends its control queue first and nothing after a close: move
     * messages queued earlier in this callback out ahead of it. */
    drain(w);
    r = wslay_event_queue_close(w->ctx, code, (const uint8_t *)reason, rlen);
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return TD_ECLOSED;
    if (r != 0)
        return r == WSLAY_ERR_NOMEM ? TD_ENOMEM : TD_EINVAL;
    w->close_queued = true;
    enter(w);
    flush(w);
    leave(w);
    return TD_OK;
}

bool ws_is_closed(const struct ws *w)
{
    wslay_event_context_ptr ctx = w->ctx;

    if (w->finished || w->free_pending || w->send_failed || w->proto_error || w->close_queued)
        return true;
    return wslay_event_get_close_received(ctx) || wslay_event_get_close_sent(ctx) ||
           !wslay_event_get_write_enabled(ctx);
}

void ws_free(struct ws *w)
{
    if (w == NULL)
        return;
    if (w->depth > 0) {
        w->free_pending = true;
        return;
    }
    destroy(w);
}
