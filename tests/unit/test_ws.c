/* SPDX-License-Identifier: MIT */
/* Unit tests for src/http/ws.c: the RFC 6455 §1.3 accept key, framing of
 * messages from a (masking) test client, fragmentation, ping/pong, the close
 * handshake, protocol errors (1002/1007/1009), limits, re-entrancy and
 * deferred free. The test plays the client with a small frame encoder and
 * decodes the server's frames from what the send callback got. */
#include "core/err.h"
#include "http/ws.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- test peer: what the ws callbacks saw ---- */

struct peer {
    uint8_t *out; /* bytes the server sent */
    size_t out_len;
    size_t out_off; /* decoded so far */
    int nmsg;
    enum ws_opcode last_op;
    uint8_t *last; /* copy of the last message */
    size_t last_len;
    int nclose;
    uint16_t close_code;
    int nsend;
    bool fail_send;
    bool echo;          /* on_message echoes with ws_send */
    bool free_in_msg;   /* on_message calls ws_free */
    bool close_in_msg;  /* on_message calls ws_close */
    bool free_in_close; /* on_close calls ws_free */
    bool send_in_send;  /* on_send queues one more message with ws_send */
    struct ws *w;
};

static void on_message(void *ud, enum ws_opcode op, const uint8_t *data, size_t len)
{
    struct peer *p = ud;

    p->nmsg++;
    p->last_op = op;
    free(p->last);
    p->last = malloc(len + 1);
    assert_non_null(p->last);
    if (len > 0)
        memcpy(p->last, data, len);
    p->last[len] = 0;
    p->last_len = len;
    if (p->echo)
        assert_int_equal(ws_send(p->w, op, data, len), TD_OK);
    if (p->close_in_msg)
        assert_int_equal(ws_close(p->w, 1000, "enough"), TD_OK);
    if (p->free_in_msg) {
        ws_free(p->w);
        p->w = NULL;
    }
}

static int on_send(void *ud, const uint8_t *data, size_t len)
{
    struct peer *p = ud;

    p->nsend++;
    if (p->fail_send)
        return -1;
    if (p->send_in_send) {
        p->send_in_send = false;
        assert_int_equal(ws_send(p->w, WS_TEXT, "more", 4), TD_OK);
    }
    p->out = realloc(p->out, p->out_len + len);
    assert_non_null(p->out);
    memcpy(p->out + p->out_len, data, len);
    p->out_len += len;
    return 0;
}

static void on_close(void *ud, uint16_t code)
{
    struct peer *p = ud;

    p->nclose++;
    p->close_code = code;
    if (p->free_in_close) {
        ws_free(p->w);
        p->w = NULL;
    }
}

static const struct ws_callbacks cbs = { on_message, on_send, on_close };

static struct peer *peer_new(size_t max_message)
{
    struct peer *p = calloc(1, sizeof(*p));

    assert_non_null(p);
    p->w = ws_new(&cbs, p, max_message);
    assert_non_null(p->w);
    return p;
}

static void peer_free(struct peer *p)
{
    ws_free(p->w);
    free(p->out);
    free(p->last);
    free(p);
}

/* ---- client frame encoder (masked unless told otherwise) ---- */

/* Encode one frame into a new buffer; *n gets its size. ext forces the
 * length form: 0 = minimal, 2 = 16-bit, 8 = 64-bit. */
static uint8_t *enc_ex(bool fin, uint8_t rsv, uint8_t op, const void *payload, size_t len,
                       bool mask, int ext, uint64_t claimed_len, size_t *n)
{
    static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };
    uint8_t *f = malloc(14 + len);
    size_t i = 0;
    uint64_t L = claimed_len;

    assert_non_null(f);
    f[i++] = (uint8_t)((fin ? 0x80 : 0) | (rsv << 4) | op);
    if (ext == 0)
        ext = L < 126 ? 0 : L < 65536 ? 2 : 8;
    if (ext == 0) {
        f[i++] = (uint8_t)((mask ? 0x80 : 0) | L);
    } else if (ext == 2) {
        f[i++] = (uint8_t)((mask ? 0x80 : 0) | 126);
        f[i++] = (uint8_t)(L >> 8);
        f[i++] = (uint8_t)L;
    } else {
        f[i++] = (uint8_t)((mask ? 0x80 : 0) | 127);
        for (int k = 7; k >= 0; k--)
            f[i++] = (uint8_t)(L >> (8 * k));
    }
    if (mask) {
        memcpy(f + i, key, 4);
        i += 4;
    }
    for (size_t k = 0; k < len; k++)
        f[i + k] = ((const uint8_t *)payload)[k] ^ (mask ? key[k % 4] : 0);
    *n = i + len;
    return f;
}

static uint8_t *enc(bool fin, uint8_t op, const void *payload, size_t len, size_t *n)
{
    return enc_ex(fin, 0, op, payload, len, true, 0, len, n);
}

/* Encode and feed one frame; returns ws_feed's result. */
static int feed_frame(struct peer *p, bool fin, uint8_t op, const void *payload, size_t len)
{
    size_t n;
    uint8_t *f = enc(fin, op, payload, len, &n);
    int rc = ws_feed(p->w, f, n);

    free(f);
    return rc;
}

static int feed_raw(struct peer *p, const uint8_t *b, size_t n)
{
    return ws_feed(p->w, b, n);
}

/* ---- server frame decoder ---- */

struct frame {
    bool fin;
    uint8_t op;
    const uint8_t *payload;
    uint64_t len;
};

/* Decode the next server frame from p->out; false if none is complete. */
static bool next_frame(struct peer *p, struct frame *f)
{
    const uint8_t *b = p->out + p->out_off;
    size_t avail = p->out_len - p->out_off;
    size_t i = 2;
    uint64_t len;

    if (avail < 2)
        return false;
    assert_int_equal(b[0] & 0x70, 0);    /* no RSV bits */
    assert_int_equal(b[1] & 0x80, 0);    /* RFC 6455 §5.1: servers do not mask */
    f->fin = (b[0] & 0x80) != 0;
    f->op = b[0] & 0x0f;
    len = b[1] & 0x7f;
    if (len == 126) {
        if (avail < 4)
            return false;
        len = ((uint64_t)b[2] << 8) | b[3];
        i = 4;
    } else if (len == 127) {
        if (avail < 10)
            return false;
        len = 0;
        for (int k = 0; k < 8; k++)
            len = (len << 8) | b[2 + k];
        i = 10;
    }
    if (avail - i < len)
        return false;
    f->payload = b + i;
    f->len = len;
    p->out_off += i + (size_t)len;
    return true;
}

static void expect_frame(struct peer *p, uint8_t op, const void *payload, size_t len)
{
    struct frame f = {0};

    assert_true(next_frame(p, &f));
    assert_true(f.fin);
    assert_int_equal(f.op, op);
    assert_int_equal(f.len, len);
    if (len > 0)
        assert_memory_equal(f.payload, payload, len);
}

static void expect_close(struct peer *p, uint16_t code)
{
    struct frame f = {0};

    assert_true(next_frame(p, &f));
    assert_int_equal(f.op, 0x8);
    if (code == 1005) {
        assert_int_equal(f.len, 0);
    } else {
        assert_true(f.len >= 2);
        assert_int_equal((f.payload[0] << 8) | f.payload[1], code);
    }
}

static void expect_no_frame(struct peer *p)
{
    assert_int_equal(p->out_off, p->out_len);
}

/* Expect a protocol failure with code: close frame sent, on_close(code). */
static void expect_failed(struct peer *p, int rc, uint16_t code)
{
    assert_int_equal(rc, TD_EPROTO);
    expect_close(p, code);
    expect_no_frame(p);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, code);
    assert_true(ws_is_closed(p->w));
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_ECLOSED);
    assert_int_equal(feed_frame(p, true, 1, "late", 4), TD_ECLOSED);
    assert_int_equal(p->nclose, 1);
}

/* ---- accept key ---- */

static void test_accept_key_rfc_example(void **state)
{
    char out[29];

    (void)state;
    assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), TD_OK);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(strlen(out), 28);
}

static void test_accept_key_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ",     /* no padding */
        "dGhlIHNhbXBsZSBub25jZQ=",    /* 23 chars */
        "dGhlIHNhbXBsZSBub25jZQ===",  /* 25 chars */
        "dGhlIHNhbXBsZSBub25j*Q==",   /* not base64 */
        "AAAAAAAAAAAAAAAAAAAAAAA=",   /* 17 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAA",   /* 18 bytes */
        "dGhlIHNhbXBsZSBub25jZQ== ",  /* trailing space */
        "dGhlIHNhbXBsZSBub2=jZQ==",   /* padding in the middle */
    };
    char out[29];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(out, "garbage", 8);
        assert_int_equal(ws_accept_key(bad[i], out), TD_EINVAL);
        assert_string_equal(out, "");
    }
    assert_int_equal(ws_accept_key(NULL, out), TD_EINVAL);
}

/* ---- messages ---- */

static void test_text_and_binary(void **state)
{
    struct peer *p = peer_new(0);
    const uint8_t bin[] = { 0, 1, 2, 0xff, 0xfe };

    (void)state;
    assert_int_equal(feed_frame(p, true, 1, "hello", 5), TD_OK);
    assert_int_equal(p->nmsg, 1);
    assert_int_equal(p->last_op, WS_TEXT);
    assert_int_equal(p->last_len, 5);
    assert_string_equal((char *)p->last, "hello");

    assert_int_equal(feed_frame(p, true, 2, bin, sizeof(bin)), TD_OK);
    assert_int_equal(p->nmsg, 2);
    assert_int_equal(p->last_op, WS_BINARY);
    assert_int_equal(p->last_len, sizeof(bin));
    assert_memory_equal(p->last, bin, sizeof(bin));

    /* Empty text message and non-ASCII UTF-8. */
    assert_int_equal(feed_frame(p, true, 1, "", 0), TD_OK);
    assert_int_equal(p->nmsg, 3);
    assert_int_equal(p->last_len, 0);
    assert_int_equal(feed_frame(p, true, 1, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11), TD_OK);
    assert_int_equal(p->nmsg, 4);
    assert_int_equal(p->last_len, 11);

    /* Server to client. */
    assert_int_equal(ws_send(p->w, WS_TEXT, "hi", 2), TD_OK);
    expect_frame(p, 1, "hi", 2);
    assert_int_equal(ws_send(p->w, WS_BINARY, bin, sizeof(bin)), TD_OK);
    expect_frame(p, 2, bin, sizeof(bin));
    assert_int_equal(ws_send(p->w, WS_TEXT, "", 0), TD_OK);
    expect_frame(p, 1, "", 0);
    expect_no_frame(p);
    assert_int_equal(p->nclose, 0);
    assert_false(ws_is_closed(p->w));
    peer_free(p);
}

static void test_two_frames_one_feed(void **state)
{
    struct peer *p = peer_new(0);
    size_t n1, n2;
    uint8_t *f1 = enc(true, 1, "one", 3, &n1);
    uint8_t *f2 = enc(true, 1, "two", 3, &n2);
    uint8_t both[64];

    (void)state;
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    assert_int_equal(feed_raw(p, both, n1 + n2), TD_OK);
    assert_int_equal(p->nmsg, 2);
    assert_string_equal((char *)p->last, "two");
    free(f1);
    free(f2);
    peer_free(p);
}

static void test_byte_by_byte(void **state)
{
    struct peer *p = peer_new(0);
    uint8_t payload[300];
    size_t n1, n2;
    uint8_t *f1, *f2;

    (void)state;
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)('a' + i % 26);
    f1 = enc(true, 1, payload, sizeof(payload), &n1); /* 16-bit length */
    f2 = enc(true, 2, "xyz", 3, &n2);
    for (size_t i = 0; i < n1; i++) {
        assert_int_equal(feed_raw(p, f1 + i, 1), TD_OK);
        assert_int_equal(p->nmsg, i + 1 == n1 ? 1 : 0);
    }
    assert_int_equal(p->last_len, sizeof(payload));
    assert_memory_equal(p->last, payload, sizeof(payload));
    for (size_t i = 0; i < n2; i++)
        assert_int_equal(feed_raw(p, f2 + i, 1), TD_OK);
    assert_int_equal(p->nmsg, 2);
    assert_int_equal(p->last_op, WS_BINARY);
    assert_string_equal((char *)p->last, "xyz");
    /* Zero-length feeds are harmless. */
    assert_int_equal(feed_raw(p, f2, 0), TD_OK);
    free(f1);
    free(f2);
    peer_free(p);
}

static void test_fragmented(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, false, 1, "Hel", 3), TD_OK);
    assert_int_equal(feed_frame(p, false, 0, "lo", 2), TD_OK);
    /* RFC 6455 §5.4: control frames may come between fragments. */
    assert_int_equal(feed_frame(p, true, 9, "mid", 3), TD_OK);
    expect_frame(p, 0xa, "mid", 3);
    assert_int_equal(p->nmsg, 0);
    /* A UTF-8 sequence split across fragments is fine. */
    assert_int_equal(feed_frame(p, false, 0, " \xc3", 2), TD_OK);
    assert_int_equal(feed_frame(p, true, 0, "\xa9!", 2), TD_OK);
    assert_int_equal(p->nmsg, 1);
    assert_int_equal(p->last_op, WS_TEXT);
    assert_string_equal((char *)p->last, "Hello \xc3\xa9!");

    /* Binary, with an empty first fragment. */
    assert_int_equal(feed_frame(p, false, 2, "", 0), TD_OK);
    assert_int_equal(feed_frame(p, true, 0, "\x00\x01", 2), TD_OK);
    assert_int_equal(p->nmsg, 2);
    assert_int_equal(p->last_op, WS_BINARY);
    assert_int_equal(p->last_len, 2);
    assert_int_equal(p->nclose, 0);
    peer_free(p);
}

static void test_ping_pong(void **state)
{
    struct peer *p = peer_new(0);
    uint8_t big[125];

    (void)state;
    memset(big, 'p', sizeof(big));
    assert_int_equal(feed_frame(p, true, 9, "abc", 3), TD_OK);
    expect_frame(p, 0xa, "abc", 3);
    assert_int_equal(feed_frame(p, true, 9, "", 0), TD_OK);
    expect_frame(p, 0xa, "", 0);
    assert_int_equal(feed_frame(p, true, 9, big, sizeof(big)), TD_OK);
    expect_frame(p, 0xa, big, sizeof(big));
    /* Unsolicited pongs are ignored (§5.5.3). */
    assert_int_equal(feed_frame(p, true, 0xa, "x", 1), TD_OK);
    expect_no_frame(p);
    assert_int_equal(p->nmsg, 0);
    /* Our own ping. */
    assert_int_equal(ws_ping(p->w), TD_OK);
    expect_frame(p, 0x9, "", 0);
    peer_free(p);
}

/* ---- close handshake ---- */

static void test_client_close(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, true, 8, "\x03\xe8" "bye", 5), TD_OK);
    expect_close(p, 1000);
    expect_no_frame(p);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1000);
    assert_true(ws_is_closed(p->w));
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_ECLOSED);
    assert_int_equal(ws_ping(p->w), TD_ECLOSED);
    assert_int_equal(ws_close(p->w, 1000, NULL), TD_ECLOSED);
    assert_int_equal(feed_frame(p, true, 1, "late", 4), TD_ECLOSED);
    expect_no_frame(p);
    assert_int_equal(p->nmsg, 0);
    assert_int_equal(p->nclose, 1);
    peer_free(p);
}

static void test_client_close_other_code(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, true, 8, "\x0f\xa0", 2), TD_OK); /* 4000 */
    expect_close(p, 4000);
    assert_int_equal(p->close_code, 4000);
    peer_free(p);
}

static void test_client_close_no_code(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, true, 8, "", 0), TD_OK);
    expect_close(p, 1005);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1005);
    peer_free(p);
}

static void test_frames_after_close_ignored(void **state)
{
    struct peer *p = peer_new(0);
    size_t n1, n2;
    uint8_t *f1 = enc(true, 8, "\x03\xe9", 2, &n1);
    uint8_t *f2 = enc(true, 1, "after", 5, &n2);
    uint8_t both[64];

    (void)state;
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    assert_int_equal(feed_raw(p, both, n1 + n2), TD_OK);
    assert_int_equal(p->nmsg, 0);
    assert_int_equal(p->close_code, 1001);
    expect_close(p, 1001);
    expect_no_frame(p);
    free(f1);
    free(f2);
    peer_free(p);
}

static void test_client_close_byte_by_byte(void **state)
{
    struct peer *p = peer_new(0);
    size_t n;
    uint8_t *f = enc(true, 8, "\x03\xe8" "caf\xc3\xa9", 7, &n);

    (void)state;
    p->free_in_close = true; /* and free from inside on_close */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(p->nclose, 0);
        assert_int_equal(feed_raw(p, f + i, 1), TD_OK);
    }
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1000);
    assert_null(p->w);
    expect_close(p, 1000);
    free(f);
    peer_free(p);
}

static void test_send_from_send_callback(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    p->send_in_send = true;
    assert_int_equal(ws_send(p->w, WS_TEXT, "first", 5), TD_OK);
    expect_frame(p, 1, "first", 5);
    expect_frame(p, 1, "more", 4);
    expect_no_frame(p);
    peer_free(p);
}

static void test_server_close(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(ws_close(p->w, 999, "x"), TD_EINVAL);
    assert_int_equal(ws_close(p->w, 1005, "x"), TD_EINVAL);
    assert_int_equal(ws_close(p->w, 1000, "done"), TD_OK);
    {
        struct frame f;

        assert_true(next_frame(p, &f));
        assert_int_equal(f.op, 8);
        assert_int_equal(f.len, 6);
        assert_memory_equal(f.payload, "\x03\xe8" "done", 6);
    }
    assert_true(ws_is_closed(p->w));
    assert_int_equal(p->nclose, 0);
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_ECLOSED);
    assert_int_equal(ws_close(p->w, 1000, NULL), TD_ECLOSED);
    /* The peer answers; only then is the WebSocket finished. */
    assert_int_equal(feed_frame(p, true, 8, "\x03\xe8", 2), TD_OK);
    expect_no_frame(p);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1000);
    peer_free(p);
}

static void test_server_close_long_reason(void **state)
{
    struct peer *p = peer_new(0);
    char reason[300];
    struct frame f = {0};

    (void)state;
    /* 'a' then 2-byte UTF-8 characters, so byte 123 falls inside one. */
    reason[0] = 'a';
    for (size_t i = 1; i + 1 < sizeof(reason) - 1; i += 2) {
        reason[i] = (char)0xc3;
        reason[i + 1] = (char)0xa9;
    }
    reason[sizeof(reason) - 1] = 0;
    reason[sizeof(reason) - 2] = 0;
    assert_int_equal(ws_close(p->w, 1001, reason), TD_OK);
    assert_true(next_frame(p, &f));
    assert_int_equal(f.op, 8);
    assert_true(f.len <= 125);
    assert_int_equal(f.len, 2 + 123);
    assert_int_equal(f.payload[f.len - 1], 0xa9);
    peer_free(p);
}

/* ---- protocol errors ---- */

static void test_unmasked_frame(void **state)
{
    struct peer *p = peer_new(0);
    size_t n;
    uint8_t *f = enc_ex(true, 0, 1, "hello", 5, false, 0, 5, &n);
    int rc = feed_raw(p, f, n);

    (void)state;
    assert_int_equal(p->nmsg, 0);
    expect_failed(p, rc, 1002);
    free(f);
    peer_free(p);
}

/* Feed one raw frame built by enc_ex and expect failure with code. */
static void check_bad_frame(bool fin, uint8_t rsv, uint8_t op, const void *pl, size_t len,
                            int ext, uint64_t claimed, uint16_t code)
{
    struct peer *p = peer_new(1024);
    size_t n;
    uint8_t *f = enc_ex(fin, rsv, op, pl, len, true, ext, claimed, &n);
    int rc = feed_raw(p, f, n);

    assert_int_equal(p->nmsg, 0);
    expect_failed(p, rc, code);
    free(f);
    peer_free(p);
}

static void test_bad_frames(void **state)
{
    uint8_t big[126];

    (void)state;
    memset(big, 'x', sizeof(big));
    check_bad_frame(true, 4, 1, "a", 1, 0, 1, 1002);     /* RSV1 without extension */
    check_bad_frame(true, 1, 2, "a", 1, 0, 1, 1002);     /* RSV3 */
    check_bad_frame(true, 0, 3, "a", 1, 0, 1, 1002);     /* reserved data opcode */
    check_bad_frame(true, 0, 0xb, "a", 1, 0, 1, 1002);   /* reserved control opcode */
    check_bad_frame(true, 0, 0, "a", 1, 0, 1, 1002);     /* continuation with no message */
    check_bad_frame(false, 0, 9, "a", 1, 0, 1, 1002);    /* fragmented ping */
    check_bad_frame(false, 0, 8, "", 0, 0, 0, 1002);     /* fragmented close */
    check_bad_frame(true, 0, 9, big, sizeof(big), 0, sizeof(big), 1002); /* ping > 125 */
    check_bad_frame(true, 0, 8, big, sizeof(big), 0, sizeof(big), 1002); /* close > 125 */
    check_bad_frame(true, 0, 8, "\x03", 1, 0, 1, 1002);  /* 1-byte close body */
    check_bad_frame(true, 0, 8, "\x03\xed", 2, 0, 2, 1002); /* close code 1005 on the wire */
    check_bad_frame(true, 0, 8, "\x00\x01", 2, 0, 2, 1002); /* close code 1 */
    check_bad_frame(true, 0, 1, "abc", 3, 2, 3, 1002);   /* non-minimal 16-bit length */
    check_bad_frame(true, 0, 1, "abc", 3, 8, 3, 1002);   /* non-minimal 64-bit length */
    check_bad_frame(true, 0, 2, "", 0, 8, 1ull << 63, 1002); /* length MSB set */
    check_bad_frame(true, 0, 1, "\xff", 1, 0, 1, 1007);  /* invalid UTF-8 */
    check_bad_frame(true, 0, 8, "\x03\xe8\xff", 3, 0, 3, 1007); /* close reason not UTF-8 */
    check_bad_frame(true, 0, 1, "\xed\xa0\x80", 3, 0, 3, 1007); /* surrogate */
    check_bad_frame(true, 0, 1, "\xc3", 1, 0, 1, 1007);  /* truncated sequence */
    check_bad_frame(true, 0, 1, "\xc0\xaf", 2, 0, 2, 1007); /* overlong */
}

static void test_new_message_inside_fragmented(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, false, 1, "a", 1), TD_OK);
    /* RFC 6455 §5.4: a new data frame before the FIN fragment. */
    expect_failed(p, feed_frame(p, true, 1, "b", 1), 1002);
    assert_int_equal(p->nmsg, 0);
    peer_free(p);
}

static void test_invalid_utf8_fragmented(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(feed_frame(p, false, 1, "ok", 2), TD_OK);
    /* Ends the message in the middle of a 3-byte sequence. */
    expect_failed(p, feed_frame(p, true, 0, "\xe2\x82", 2), 1007);
    assert_int_equal(p->nmsg, 0);
    peer_free(p);
}

static void test_messages_before_error_delivered(void **state)
{
    struct peer *p = peer_new(0);
    size_t n1, n2;
    uint8_t *f1 = enc(true, 1, "good", 4, &n1);
    uint8_t *f2 = enc_ex(true, 0, 9, "x", 1, true, 0, 1, &n2);
    uint8_t both[64];

    (void)state;
    f2[0] &= 0x7f; /* fragmented ping */
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    {
        int rc = feed_raw(p, both, n1 + n2);

        assert_int_equal(p->nmsg, 1);
        assert_string_equal((char *)p->last, "good");
        expect_failed(p, rc, 1002);
    }
    free(f1);
    free(f2);
    peer_free(p);
}

static void test_too_big(void **state)
{
    uint8_t payload[1025];

    (void)state;
    memset(payload, 'b', sizeof(payload));
    /* Exactly the limit is fine. */
    {
        struct peer *p = peer_new(1024);

        assert_int_equal(feed_frame(p, true, 2, payload, 1024), TD_OK);
        assert_int_equal(p->nmsg, 1);
        assert_int_equal(p->last_len, 1024);
        peer_free(p);
    }
    /* One byte more is not. */
    {
        struct peer *p = peer_new(1024);

        expect_failed(p, feed_frame(p, true, 2, payload, 1025), 1009);
        assert_int_equal(p->nmsg, 0);
        peer_free(p);
    }
    /* A header claiming 2^62 bytes: refused before allocating anything
     * (ASan would report the allocation otherwise). */
    {
        struct peer *p = peer_new(1024);
        size_t n;
        uint8_t *f = enc_ex(true, 0, 2, "", 0, true, 8, 1ull << 62, &n);

        expect_failed(p, feed_raw(p, f, n), 1009);
        free(f);
        peer_free(p);
    }
    /* Fragments that add up past the limit. */
    {
        struct peer *p = peer_new(1024);

        assert_int_equal(feed_frame(p, false, 1, payload, 600), TD_OK);
        expect_failed(p, feed_frame(p, true, 0, payload, 600), 1009);
        assert_int_equal(p->nmsg, 0);
        peer_free(p);
    }
}

static void test_64bit_length(void **state)
{
    struct peer *p = peer_new(100000);
    size_t len = 70000, n;
    uint8_t *payload = malloc(len);
    uint8_t *f;
    struct frame fr;

    (void)state;
    assert_non_null(payload);
    for (size_t i = 0; i < len; i++)
        payload[i] = (uint8_t)(i * 7);
    p->echo = true;
    f = enc(true, 2, payload, len, &n);
    assert_int_equal(f[1] & 0x7f, 127);
    /* In two uneven pieces. */
    assert_int_equal(feed_raw(p, f, 5000), TD_OK);
    assert_int_equal(p->nmsg, 0);
    assert_int_equal(feed_raw(p, f + 5000, n - 5000), TD_OK);
    assert_int_equal(p->nmsg, 1);
    assert_int_equal(p->last_len, len);
    assert_memory_equal(p->last, payload, len);
    /* The echo went out with a 64-bit length. */
    assert_true(next_frame(p, &fr));
    assert_int_equal(p->out[1] & 0x7f, 127);
    assert_int_equal(fr.op, 2);
    assert_int_equal(fr.len, len);
    assert_memory_equal(fr.payload, payload, len);
    free(f);
    free(payload);
    peer_free(p);
}

/* Concatenate two encoded frames into a new buffer; *n gets its size. */
static uint8_t *cat_frames(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, size_t *n)
{
    uint8_t *r = malloc(na + nb);

    assert_non_null(r);
    memcpy(r, a, na);
    memcpy(r + na, b, nb);
    *n = na + nb;
    return r;
}

/* A message and the peer's close frame in one ws_feed(): the echo queued by
 * on_message goes out before the close reply (ws.h: frames queued in a
 * callback are sent when ws_feed() returns; RFC 6455 §5.5.1 lets data
 * precede our close frame). Also with the input cut at every offset. */
static void test_message_then_close_one_feed(void **state)
{
    size_t n1, n2, n;
    uint8_t *f1 = enc(true, 1, "early", 5, &n1);
    uint8_t *f2 = enc(true, 8, "\x03\xe9" "bye", 5, &n2);
    uint8_t *both = cat_frames(f1, n1, f2, n2, &n);

    (void)state;
    for (size_t cut = n; cut > 0; cut--) {
        struct peer *p = peer_new(0);

        p->echo = true;
        assert_int_equal(feed_raw(p, both, cut), TD_OK);
        if (cut < n)
            assert_int_equal(feed_raw(p, both + cut, n - cut), TD_OK);
        assert_int_equal(p->nmsg, 1);
        assert_string_equal((char *)p->last, "early");
        expect_frame(p, 1, "early", 5);
        expect_close(p, 1001);
        expect_no_frame(p);
        assert_int_equal(p->nclose, 1);
        assert_int_equal(p->close_code, 1001);
        peer_free(p);
    }
    free(f1);
    free(f2);
    free(both);
}

/* Two messages, a ping and the close in one feed, with on_message closing
 * on the second: echoes and pong go out, then our close, and the peer's
 * close is not answered again. */
static void test_messages_ping_close_one_feed(void **state)
{
    struct peer *p = peer_new(0);
    size_t n1, n2, n3, n4, n12, n123, n;
    uint8_t *f1 = enc(true, 2, "\x01\x02", 2, &n1);
    uint8_t *f2 = enc(true, 9, "pi", 2, &n2);
    uint8_t *f3 = enc(true, 1, "last", 4, &n3);
    uint8_t *f4 = enc(true, 8, "\x03\xe8", 2, &n4);
    uint8_t *b12 = cat_frames(f1, n1, f2, n2, &n12);
    uint8_t *b123 = cat_frames(b12, n12, f3, n3, &n123);
    uint8_t *all = cat_frames(b123, n123, f4, n4, &n);
    struct frame fr;
    bool seen_pong = false, seen_bin = false, seen_text = false;

    (void)state;
    p->echo = true;
    assert_int_equal(feed_raw(p, all, n - n3 - n4), TD_OK);
    p->close_in_msg = true;
    assert_int_equal(feed_raw(p, all + n - n3 - n4, n3 + n4), TD_OK);
    assert_int_equal(p->nmsg, 2);
    /* The first feed sent the binary echo and the pong. */
    for (int k = 0; k < 3; k++) {
        assert_true(next_frame(p, &fr));
        if (fr.op == 0xa) {
            seen_pong = true;
            assert_memory_equal(fr.payload, "pi", 2);
        } else if (fr.op == 2) {
            seen_bin = true;
            assert_memory_equal(fr.payload, "\x01\x02", 2);
        } else {
            assert_int_equal(fr.op, 1);
            seen_text = true;
            assert_memory_equal(fr.payload, "last", 4);
        }
    }
    assert_true(seen_pong && seen_bin && seen_text);
    expect_close(p, 1000);
    expect_no_frame(p);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1000);
    free(f1);
    free(f2);
    free(f3);
    free(f4);
    free(b12);
    free(b123);
    free(all);
    peer_free(p);
}

/* Feed buf in pieces of chunk bytes; returns the first result that is not
 * TD_OK, or TD_OK. Stops once the ws is freed. */
static int feed_chunked(struct peer *p, const uint8_t *b, size_t n, size_t chunk)
{
    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        int rc = feed_raw(p, b + i, k);

        if (rc != TD_OK)
            return rc;
    }
    return TD_OK;
}

/* fuzz/corpus/ws/regress-close-reason-bad-utf8-split: a close reason that
 * is not UTF-8, split over several ws_feed() calls, was echoed back
 * (wslay 1.1.1 checks close reasons per chunk, skipping 2 bytes of each).
 * Every split must fail with 1007, and every split of a valid multi-byte
 * reason must be answered with 1000. */
static void test_close_reason_split(void **state)
{
    static const char *bad[] = {
        "\x03\xe8\xb9\xce\x9b",         /* the fuzzer's input: stray continuation */
        "\x03\xe8" "ab\xc3(cd",         /* missing continuation byte */
        "\x03\xe8" "abcdef\xed\xa0\x80", /* surrogate at the end */
        "\x03\xe8" "xy\xe2\x82",        /* truncated at the end */
    };
    const char good[] = "\x03\xe8" "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80!";
    size_t glen = sizeof(good) - 1;

    (void)state;
    for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
        size_t n;
        uint8_t *f = enc(true, 8, bad[b], strlen(bad[b]), &n);

        for (size_t chunk = 1; chunk <= n; chunk++) {
            struct peer *p = peer_new(0);

            expect_failed(p, feed_chunked(p, f, n, chunk), 1007);
            peer_free(p);
        }
        free(f);
    }
    {
        size_t n;
        uint8_t *f = enc(true, 8, good, glen, &n);

        for (size_t chunk = 1; chunk <= n; chunk++) {
            struct peer *p = peer_new(0);
            struct frame fr;

            assert_int_equal(feed_chunked(p, f, n, chunk), TD_OK);
            assert_true(next_frame(p, &fr));
            assert_int_equal(fr.op, 8);
            assert_int_equal(fr.len, glen);
            assert_memory_equal(fr.payload, good, glen);
            expect_no_frame(p);
            assert_int_equal(p->nclose, 1);
            assert_int_equal(p->close_code, 1000);
            peer_free(p);
        }
        free(f);
    }
}

/* The close frame straddles wslay's 4 KiB input buffer inside one feed. */
static void test_close_reason_across_input_buffer(void **state)
{
    const char bad[] = "\x03\xe8" "0123456789\xc3";
    const char good[] = "\x03\xe8" "0123456789\xc3\xa9";

    (void)state;
    for (size_t pad = 4060; pad < 4100; pad++) {
        uint8_t *payload = calloc(1, pad);
        size_t n1, n2, n3, n;
        uint8_t *f1, *f2, *f3, *all;
        struct peer *p;

        assert_non_null(payload);
        f1 = enc(true, 2, payload, pad, &n1);
        f2 = enc(true, 8, bad, sizeof(bad) - 1, &n2);
        all = cat_frames(f1, n1, f2, n2, &n);
        p = peer_new(0);
        expect_failed(p, feed_raw(p, all, n), 1007);
        assert_int_equal(p->nmsg, 1);
        peer_free(p);
        free(f2);
        free(all);

        f3 = enc(true, 8, good, sizeof(good) - 1, &n3);
        all = cat_frames(f1, n1, f3, n3, &n);
        p = peer_new(0);
        assert_int_equal(feed_raw(p, all, n), TD_OK);
        expect_close(p, 1000);
        assert_int_equal(p->nclose, 1);
        assert_int_equal(p->close_code, 1000);
        peer_free(p);
        free(f1);
        free(f3);
        free(all);
        free(payload);
    }
}

/* Close frames refused before wslay sees them: unmasked, RSV bit set. */
static void test_bad_close_frames(void **state)
{
    struct peer *p = peer_new(0);
    size_t n;
    uint8_t *f = enc_ex(true, 0, 8, "\x03\xe8", 2, false, 0, 2, &n);

    (void)state;
    expect_failed(p, feed_raw(p, f, n), 1002);
    free(f);
    peer_free(p);
    check_bad_frame(true, 4, 8, "\x03\xe8", 2, 0, 2, 1002);       /* RSV1 */
    check_bad_frame(true, 0, 8, "\x04\x00", 2, 0, 2, 1002);       /* 1024 */
    check_bad_frame(true, 0, 8, "\x0b\xb7", 2, 0, 2, 1002);       /* 2999 */
    check_bad_frame(true, 0, 8, "\x13\x88", 2, 0, 2, 1002);       /* 5000 */
}

/* ---- re-entrancy, failures, freeing ---- */

static void test_echo_from_on_message(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    p->echo = true;
    assert_int_equal(feed_frame(p, true, 1, "ping me", 7), TD_OK);
    expect_frame(p, 1, "ping me", 7);
    assert_int_equal(feed_frame(p, false, 2, "ab", 2), TD_OK);
    expect_no_frame(p);
    assert_int_equal(feed_frame(p, true, 0, "cd", 2), TD_OK);
    expect_frame(p, 2, "abcd", 4);
    /* Output of one ws_feed goes out in one send call. */
    {
        int before = p->nsend;

        assert_int_equal(feed_frame(p, true, 1, "again", 5), TD_OK);
        assert_int_equal(p->nsend, before + 1);
        expect_frame(p, 1, "again", 5);
    }
    peer_free(p);
}

static void test_close_from_on_message(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    p->close_in_msg = true;
    assert_int_equal(feed_frame(p, true, 1, "bye", 3), TD_OK);
    assert_true(ws_is_closed(p->w));
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_ECLOSED);
    expect_close(p, 1000);
    assert_int_equal(p->nclose, 0);
    p->close_in_msg = false;
    assert_int_equal(feed_frame(p, true, 8, "\x03\xe8", 2), TD_OK);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1000);
    expect_no_frame(p);
    peer_free(p);
}

static void test_free_from_on_message(void **state)
{
    struct peer *p = peer_new(0);
    size_t n1, n2;
    uint8_t *f1 = enc(true, 1, "one", 3, &n1);
    uint8_t *f2 = enc(true, 1, "two", 3, &n2);
    uint8_t both[64];

    (void)state;
    memcpy(both, f1, n1);
    memcpy(both + n1, f2, n2);
    p->echo = true;
    p->free_in_msg = true;
    /* Freed after the first message: the second is not delivered, nothing
     * is sent, and ASan sees no use after free. */
    assert_int_equal(ws_feed(p->w, both, n1 + n2), TD_OK);
    assert_null(p->w);
    assert_int_equal(p->nmsg, 1);
    assert_int_equal(p->nclose, 0);
    assert_int_equal(p->nsend, 0);
    free(f1);
    free(f2);
    peer_free(p);
}

static void test_send_failure(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    p->fail_send = true;
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_OK);
    assert_int_equal(p->nclose, 1);
    assert_int_equal(p->close_code, 1006);
    assert_true(ws_is_closed(p->w));
    assert_int_equal(ws_send(p->w, WS_TEXT, "x", 1), TD_ECLOSED);
    assert_int_equal(feed_frame(p, true, 1, "x", 1), TD_ECLOSED);
    assert_int_equal(p->nclose, 1);
    peer_free(p);
}

static void test_send_args(void **state)
{
    struct peer *p = peer_new(0);

    (void)state;
    assert_int_equal(ws_send(p->w, WS_TEXT, "\xff", 1), TD_EINVAL);
    assert_int_equal(ws_send(p->w, WS_TEXT, "\xe2\x82", 2), TD_EINVAL);
    assert_int_equal(ws_send(p->w, (enum ws_opcode)9, "x", 1), TD_EINVAL);
    assert_int_equal(ws_send(p->w, WS_BINARY, NULL, 3), TD_EINVAL);
    assert_int_equal(ws_send(p->w, WS_BINARY, "\xff", 1), TD_OK);
    expect_frame(p, 2, "\xff", 1);
    expect_no_frame(p);
    ws_free(NULL);
    peer_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_accept_key_invalid),
        cmocka_unit_test(test_text_and_binary),
        cmocka_unit_test(test_two_frames_one_feed),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_fragmented),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_client_close),
        cmocka_unit_test(test_client_close_other_code),
        cmocka_unit_test(test_client_close_no_code),
        cmocka_unit_test(test_frames_after_close_ignored),
        cmocka_unit_test(test_client_close_byte_by_byte),
        cmocka_unit_test(test_send_from_send_callback),
        cmocka_unit_test(test_server_close),
        cmocka_unit_test(test_server_close_long_reason),
        cmocka_unit_test(test_unmasked_frame),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_new_message_inside_fragmented),
        cmocka_unit_test(test_invalid_utf8_fragmented),
        cmocka_unit_test(test_messages_before_error_delivered),
        cmocka_unit_test(test_too_big),
        cmocka_unit_test(test_64bit_length),
        cmocka_unit_test(test_echo_from_on_message),
        cmocka_unit_test(test_close_from_on_message),
        cmocka_unit_test(test_free_from_on_message),
        cmocka_unit_test(test_send_failure),
        cmocka_unit_test(test_send_args),
        cmocka_unit_test(test_message_then_close_one_feed),
        cmocka_unit_test(test_messages_ping_close_one_feed),
        cmocka_unit_test(test_close_reason_split),
        cmocka_unit_test(test_close_reason_across_input_buffer),
        cmocka_unit_test(test_bad_close_frames),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
