/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for the server-side WebSocket session of http/ws.h
 * (RFC 6455 framing §5, close handshake §5.5.1, status codes §7.4, UTF-8
 * text §8.1). Input layout: byte 0 picks the behaviour (bits 0-5: feed chunk
 * size, 0 = all at once; bit 6: the send callback fails from its fourth call
 * on; bit 7: the owner calls ws_free() from on_close), byte 1 picks what
 * on_message does besides echoing (ws_ping, ws_close with a fuzzed code,
 * ws_free), the rest are the bytes from the client, given to ws_feed() in
 * chunks. Checked contracts (__builtin_trap() on violation): ws_feed returns
 * only TD_OK/TD_EPROTO/TD_ECLOSED, TD_ECLOSED once finished; on_close fires
 * at most once and nothing fires after it; text messages are UTF-8 and
 * messages respect max_message; every byte the server sends parses as a
 * sequence of complete, unmasked, well-formed frames (§5.2) with control
 * payloads of at most 125 bytes, and nothing is sent after a close frame. */
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "http/ws.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FZ_MAX_MESSAGE 4096
#define FZ_MAX_OUT (1024 * 1024)

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

struct fz {
    struct ws *w;
    uint8_t mode;      /* byte 0 */
    uint8_t action;    /* byte 1 */
    int sends;         /* calls of the send callback */
    int closes;        /* calls of on_close */
    unsigned messages; /* calls of on_message */
    bool send_failed;  /* the send callback returned -1 */
    bool freed;        /* ws_free() was called */
    bool out_full;     /* out hit its ceiling; skip the output check */
    struct buf out;    /* everything the server sent */
};

static void on_message(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct fz *f = ud;
    int rc;

    CHECK(!f->freed && f->closes == 0);
    CHECK(op == WS_TEXT || op == WS_BINARY);
    CHECK(len <= FZ_MAX_MESSAGE);
    if (op == WS_TEXT)
        CHECK(utf8_valid((const char *)data, len));
    f->messages++;
    rc = ws_send(f->w, op, data, len);
    CHECK(rc == TD_OK || rc == TD_ECLOSED);
    switch ((f->action >> ((f->messages % 4) * 2)) & 3) {
    case 1:
        rc = ws_ping(f->w);
        CHECK(rc == TD_OK || rc == TD_ECLOSED);
        break;
    case 2: {
        /* A close code from the message itself, so invalid ones are tried too. */
        uint16_t code = len >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : WS_CLOSE_NORMAL;
        char reason[200];
        size_t rlen = len > 2 ? len - 2 : 0;

        if (rlen >= sizeof(reason))
            rlen = sizeof(reason) - 1; /* longer than WS_MAX_CLOSE_REASON: cut by ws */
        if (rlen > 0)
            memcpy(reason, data + 2, rlen);
        reason[rlen] = '\0';
        rc = ws_close(f->w, code, len > 2 ? reason : NULL);
        CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ECLOSED);
        break;
    }
    case 3:
        if (f->action & 1) {
            ws_free(f->w);
            f->freed = true;
        }
        break;
    default:
        break;
    }
}

static int on_send(void *ud, const uint8_t *data, size_t len)
{
    struct fz *f = ud;

    CHECK(!f->freed);
    f->sends++;
    if ((f->mode & 0x40) && f->sends > 3) {
        f->send_failed = true;
        return -1;
    }
    if (!f->out_full && buf_append(&f->out, data, len) != TD_OK)
        f->out_full = true;
    return 0;
}

static void on_close(void *ud, uint16_t code)
{
    struct fz *f = ud;

    CHECK(!f->freed);
    f->closes++;
    CHECK(f->closes == 1);
    CHECK(code >= 1000 && code <= 4999);
    if (f->mode & 0x80) {
        ws_free(f->w);
        f->freed = true;
    }
}

/* The server's byte stream must be whole frames (RFC 6455 §5.2), unmasked
 * (§5.1), no RSV bits (no extension was negotiated), known opcodes, control
 * frames unfragmented and at most 125 bytes (§5.5), nothing after a close. */
static void check_output(const uint8_t *p, size_t len)
{
    size_t i = 0;
    bool closed = false;

    while (i < len) {
        uint8_t b0, b1, op;
        uint64_t plen;

        CHECK(!closed);
        CHECK(len - i >= 2);
        b0 = p[i];
        b1 = p[i + 1];
        i += 2;
        op = b0 & 0x0f;
        CHECK((b0 & 0x70) == 0);
        CHECK((b1 & 0x80) == 0);
        CHECK(op == 0 || op == 1 || op == 2 || op == 8 || op == 9 || op == 10);
        plen = b1 & 0x7f;
        if (plen == 126) {
            CHECK(len - i >= 2);
            plen = (uint64_t)p[i] << 8 | p[i + 1];
            CHECK(plen >= 126);
            i += 2;
        } else if (plen == 127) {
            CHECK(len - i >= 8);
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = plen << 8 | p[i + k];
            CHECK(plen > 0xffff);
            i += 8;
        }
        if (op >= 8) {
            CHECK(b0 & 0x80);
            CHECK(plen <= 125);
        }
        CHECK(len - i >= plen);
        if (op == 1 && (b0 & 0x80))
            CHECK(utf8_valid((const char *)p + i, (size_t)plen));
        if (op == 8) {
            CHECK(plen != 1);
            if (plen >= 2) {
                uint16_t code = (uint16_t)(p[i] << 8 | p[i + 1]);

                CHECK(code >= 1000 && code != 1004 && code != 1005 && code != 1006 &&
                      code != 1015 && code <= 4999);
                CHECK(utf8_valid((const char *)p + i + 2, (size_t)plen - 2));
            }
            closed = true;
        }
        i += (size_t)plen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ws_callbacks cb = {on_message, on_send, on_close};
    struct fz f;
    size_t chunk, i;

    if (size < 2)
        return 0;
    memset(&f, 0, sizeof(f));
    f.mode = data[0];
    f.action = data[1];
    buf_init(&f.out, FZ_MAX_OUT);
    log_set_level(LOG_ERR);
    data += 2;
    size -= 2;
    chunk = f.mode & 0x3f;
    if (chunk == 0)
        chunk = size ? size : 1;

    f.w = ws_new(&cb, &f, FZ_MAX_MESSAGE);
    for (i = 0; i < size && !f.freed; i += chunk) {
        size_t n = size - i < chunk ? size - i : chunk;
        bool was_finished = f.closes > 0;
        int rc = ws_feed(f.w, data + i, n);

        CHECK(rc == TD_OK || rc == TD_EPROTO || rc == TD_ECLOSED);
        if (was_finished)
            CHECK(rc == TD_ECLOSED);
        /* ws_free() inside a callback silences on_close for good. */
        if (rc == TD_EPROTO)
            CHECK(f.closes == 1 || f.freed);
    }
    if (!f.freed) {
        if (f.closes > 0)
            CHECK(ws_is_closed(f.w));
        ws_free(f.w);
    }
    if (!f.send_failed && !f.out_full)
        check_output((const uint8_t *)f.out.data, f.out.len);
    buf_free(&f.out);
    return 0;
}
