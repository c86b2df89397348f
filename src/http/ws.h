/* SPDX-License-Identifier: MIT */
/* WebSocket (RFC 6455) server-side sessions, sans I/O, on top of wslay's event API.
 *
 * The HTTP server does the opening handshake (it calls ws_accept_key() for
 * the Sec-WebSocket-Accept header, RFC 6455 §4.2.2) and then hands every byte
 * read from the socket to ws_feed(). This module owns no socket and no timer:
 * bytes for the peer leave through the owner's send callback, complete
 * messages arrive through on_message, and the end of the WebSocket is told
 * once through on_close. Framing and its checks (§5.2 base framing, §5.3
 * client masking, §5.4 fragmentation, §5.5 control frames, §5.5.1 close
 * handshake, §5.5.2/§5.5.3 ping and pong, §7.4 status codes, §8.1 UTF-8 in
 * text messages) are done here and by wslay. Not implemented: extensions
 * (permessage-deflate) and subprotocol choice, which belong to the handshake;
 * close and idle timeouts, which belong to the connection owner.
 *
 * Freeing: ws_free() called from inside one of this ws's callbacks is
 * deferred until the outermost ws_* call on it returns, and no callback fires
 * after it. Owners should still prefer the usual rule (mark the connection
 * closing in on_close, free after ws_feed() returns or in the close callback
 * of the TCP handle). */
#ifndef TD_HTTP_WS_H
#define TD_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode { WS_TEXT = 1, WS_BINARY = 2 };

/* Used when ws_new() gets max_message 0. */
#define WS_DEFAULT_MAX_MESSAGE (1024 * 1024)
/* RFC 6455 §5.5: a control frame payload is at most 125 bytes; a close
 * frame spends 2 of them on the status code. */
#define WS_MAX_CLOSE_REASON 123

/* Close status codes (RFC 6455 §7.4.1). */
#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_NO_STATUS 1005
#define WS_CLOSE_ABNORMAL 1006
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL_ERROR 1011

struct ws;

struct ws_callbacks {
    /* A complete message (reassembled from fragments). Text messages are
     * checked to be valid UTF-8 first (invalid -> close 1007). data is only
     * valid during the call. May call ws_send()/ws_close()/ws_free(). */
    void (*on_message)(void *ud, enum ws_opcode op, const uint8_t *data, size_t len);
    /* Bytes for the socket. Return 0 on success, -1 if the connection is
     * gone. The bytes must be copied (or written) before returning. */
    int (*send)(void *ud, const uint8_t *data, size_t len);
    /* The WebSocket is finished (peer's close frame answered, our close
     * answered by the peer, a protocol error after our close frame was sent,
     * or send() failed: code 1006). The owner should close the TCP
     * connection once its output is flushed. Called at most once. code is
     * 1005 if the peer's close frame gave none. */
    void (*on_close)(void *ud, uint16_t code);
};

/** Compute Sec-WebSocket-Accept (base64 of SHA-1 of key + GUID, RFC 6455 §4.2.2)
 *  into out (NUL-terminated, 28 chars). TD_EINVAL if client_key is not a base64
 *  encoding of 16 bytes (§4.2.1 item 5); out is then the empty string. */
int ws_accept_key(const char *client_key, char out[29]);

/** Start a server-side session. cb is copied; ud is passed to every callback.
 *  max_message caps a reassembled message (larger -> close 1009); 0 means
 *  WS_DEFAULT_MAX_MESSAGE. Never NULL (aborts on OOM). */
struct ws *ws_new(const struct ws_callbacks *cb, void *ud, size_t max_message);

/** Process bytes from the peer: fires on_message / on_close, answers pings
 *  with pongs, and sends queued output through cb->send. Returns TD_OK;
 *  TD_EPROTO after a protocol error (a close frame with 1002/1007/1009 has
 *  been sent and on_close fired); TD_ECLOSED if the ws had already finished
 *  (the bytes are ignored). Bytes after the peer's close frame are ignored. */
int ws_feed(struct ws *w, const uint8_t *data, size_t len);

/** Send one message as one frame (data is copied). Text must be valid UTF-8
 *  (TD_EINVAL otherwise). TD_ECLOSED once a close frame was queued, sent or
 *  received, or the ws finished. Inside a callback the frame is queued and
 *  sent when the outer ws_feed() returns. */
int ws_send(struct ws *w, enum ws_opcode op, const void *data, size_t len);

/** Send a ping with an empty payload (the pong is absorbed). TD_ECLOSED as ws_send. */
int ws_ping(struct ws *w);

/** Start a clean close with code (1000-1003, 1007-1011, 3000-4999, else
 *  TD_EINVAL) and reason (may be NULL; cut to WS_MAX_CLOSE_REASON bytes on a
 *  UTF-8 boundary). on_close fires when the peer answers; the owner should
 *  time out and drop the connection if it never does. TD_ECLOSED if a close
 *  was already queued, sent or received. */
int ws_close(struct ws *w, uint16_t code, const char *reason);

/** True once no more messages can be sent: a close frame was queued, sent or
 *  received, or the ws finished. */
bool ws_is_closed(const struct ws *w);

/** Free the session. NULL-safe. From inside one of w's callbacks the free is
 *  deferred until the outermost ws_* call returns; no callback fires after. */
void ws_free(struct ws *w);

#endif
