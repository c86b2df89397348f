/* SPDX-License-Identifier: MIT */
/* Unit tests for net/tls: a client and a server session pumped against each
 * other in memory, with a self-signed certificate made in a temp dir. The .c
 * is included so tests can reach the SSL object (ALPN offers, TLS 1.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "net/tls.c"

struct fixture {
    char dir[64];
    char cert[128];
    char key[128];
    struct tls_ctx *server;
    struct tls_ctx *client;
};

static struct fixture fx;

static int group_setup(void **state)
{
    char *err = NULL;
    int rc;

    (void)state;
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_tls.XXXXXX");
    if (mkdtemp(fx.dir) == NULL)
        return -1;
    snprintf(fx.cert, sizeof(fx.cert), "%s/cert.pem", fx.dir);
    snprintf(fx.key, sizeof(fx.key), "%s/key.pem", fx.dir);
    rc = tls_selfsigned_generate(fx.cert, fx.key, "chat.example", &err);
    if (rc != TD_OK) {
        fprintf(stderr, "generate: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    if (tls_ctx_new_server(fx.cert, fx.key, &fx.server, &err) != TD_OK) {
        fprintf(stderr, "server ctx: %s\n", err ? err : "?");
        free(err);
        return -1;
    }
    if (tls_ctx_new_client(false, NULL, &fx.client, &err) != TD_OK) {
        free(err);
        return -1;
    }
    return 0;
}

static void rm_dir(const char *dir)
{
    static const char *names[] = {"cert.pem", "key.pem", "c2.pem",  "k2.pem",
                                  "junk.pem", "x.pem",   "only.pem"};
    char path[192];

    for (size_t i = 0; i < TD_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int group_teardown(void **state)
{
    (void)state;
    tls_ctx_free(fx.client);
    tls_ctx_free(fx.server);
    rm_dir(fx.dir);
    return 0;
}

/* One pair of sessions plus the plaintext each side has received. */
struct pair {
    struct tls_session *c;
    struct tls_session *s;
    struct buf c_plain; /* what the client decrypted */
    struct buf s_plain; /* what the server decrypted */
    int c_rc;           /* last non-OK tls_feed result on the client */
    int s_rc;
};

static void pair_init(struct pair *p, struct tls_ctx *client_ctx, const char *sni)
{
    memset(p, 0, sizeof(*p));
    p->c = tls_session_new(client_ctx ? client_ctx : fx.client, false, sni);
    p->s = tls_session_new(fx.server, true, NULL);
    assert_non_null(p->c);
    assert_non_null(p->s);
    buf_init(&p->c_plain, 0);
    buf_init(&p->s_plain, 0);
}

static void pair_free(struct pair *p)
{
    tls_session_free(p->c);
    tls_session_free(p->s);
    buf_free(&p->c_plain);
    buf_free(&p->s_plain);
}

/* Move ciphertext both ways until neither side has anything to say, feeding
 * it in slices of at most slice bytes (0 = all at once). Stops early on an
 * error, recording it in c_rc/s_rc. */
static void pump_sliced(struct pair *p, size_t slice)
{
    struct buf wire;

    buf_init(&wire, 0);
    for (int round = 0; round < 10000; round++) {
        size_t moved = 0;
        struct tls_session *from[2] = {p->c, p->s};
        struct tls_session *to[2] = {p->s, p->c};
        struct buf *plain[2] = {&p->s_plain, &p->c_plain};
        int *rcs[2] = {&p->s_rc, &p->c_rc};

        for (int i = 0; i < 2; i++) {
            size_t n = tls_take_output(from[i], &wire);
            size_t off = 0;

            moved += n;
            while (off < wire.len) {
                size_t k = wire.len - off;
                int rc;

                if (slice && k > slice)
                    k = slice;
                rc = tls_feed(to[i], wire.data + off, k, plain[i]);
                off += k;
                if (rc != TD_OK) {
                    *rcs[i] = rc;
                    buf_free(&wire);
                    return;
                }
            }
            buf_reset(&wire);
        }
        if (moved == 0)
            break;
    }
    buf_free(&wire);
}

static void pump(struct pair *p)
{
    pump_sliced(p, 0);
}

static void handshake(struct pair *p)
{
    assert_int_equal(tls_connect(p->c), TD_OK);
    pump(p);
    assert_int_equal(p->c_rc, TD_OK);
    assert_int_equal(p->s_rc, TD_OK);
    assert_true(tls_handshake_done(p->c));
    assert_true(tls_handshake_done(p->s));
}

static void test_handshake_and_small_data(void **state)
{
    struct pair p;

    (void)state;
    pair_init(&p, NULL, "chat.example");
    assert_string_equal(tls_version(p.c), "");
    assert_false(tls_handshake_done(p.c));
    handshake(&p);
    assert_string_equal(tls_version(p.c), "TLSv1.3");
    assert_string_equal(tls_version(p.s), "TLSv1.3");
    assert_string_equal(tls_alpn(p.s), ""); /* client offered none */

    assert_int_equal(tls_write(p.c, "hello server", 12), TD_OK);
    assert_int_equal(tls_write(p.s, "hello client", 12), TD_OK);
    assert_int_equal(tls_write(p.s, "", 0), TD_OK);
    pump(&p);
    assert_int_equal(p.s_plain.len, 12);
    assert_memory_equal(p.s_plain.data, "hello server", 12);
    assert_int_equal(p.c_plain.len, 12);
    assert_memory_equal(p.c_plain.data, "hello client", 12);
    pair_free(&p);
}

static void fill_pattern(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((i * 131u + seed) ^ (i >> 9));
}

static void test_one_mib_both_ways(void **state)
{
    const size_t total = 1024 * 1024;
    unsigned char *up = malloc(total);
    unsigned char *down = malloc(total);
    struct pair p;
    size_t off = 0;
    size_t piece = 1;

    (void)state;
    assert_non_null(up);
    assert_non_null(down);
    fill_pattern(up, total, 7);
    fill_pattern(down, total, 99);
    pair_init(&p, NULL, NULL);
    handshake(&p);
    /* Pieces of growing, odd sizes, pumped now and then. */
    while (off < total) {
        size_t k = total - off < piece ? total - off : piece;
        assert_int_equal(tls_write(p.c, up + off, k), TD_OK);
        assert_int_equal(tls_write(p.s, down + off, k), TD_OK);
        off += k;
        piece = piece * 3 + 1;
        if (piece > 70000)
            piece = 333;
        if (off % 3 == 0)
            pump(&p);
    }
    pump(&p);
    assert_int_equal(p.c_rc, TD_OK);
    assert_int_equal(p.s_rc, TD_OK);
    assert_int_equal(p.s_plain.len, total);
    assert_int_equal(p.c_plain.len, total);
    assert_memory_equal(p.s_plain.data, up, total);
    assert_memory_equal(p.c_plain.data, down, total);
    pair_free(&p);
    free(up);
    free(down);
}

static void test_write_before_handshake(void **state)
{
    struct pair p;

    (void)state;
    pair_init(&p, NULL, NULL);
    /* Both sides write before any byte moved; the client even before connect. */
    assert_int_equal(tls_write(p.c, "<stream:stream>", 15), TD_OK);
    assert_int_equal(tls_write(p.s, "early", 5), TD_OK);
    assert_int_equal(tls_connect(p.c), TD_OK);
    assert_int_equal(tls_connect(p.s), TD_OK); /* no-op on a server */
    pump(&p);
    assert_int_equal(p.c_rc, TD_OK);
    assert_int_equal(p.s_rc, TD_OK);
    assert_int_equal(p.s_plain.len, 15);
    assert_memory_equal(p.s_plain.data, "<stream:stream>", 15);
    assert_int_equal(p.c_plain.len, 5);
    assert_memory_equal(p.c_plain.data, "early", 5);
    pair_free(&p);
}

static void test_byte_at_a_time(void **state)
{
    struct pair p;

    (void)state;
    pair_init(&p, NULL, NULL);
    assert_int_equal(tls_write(p.c, "slow", 4), TD_OK);
    assert_int_equal(tls_connect(p.c), TD_OK);
    pump_sliced(&p, 1);
    assert_int_equal(p.c_rc, TD_OK);
    assert_int_equal(p.s_rc, TD_OK);
    assert_true(tls_handshake_done(p.s));
    assert_int_equal(p.s_plain.len, 4);
    assert_memory_equal(p.s_plain.data, "slow", 4);
    pair_free(&p);
}

static void test_garbage_to_server(void **state)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    struct tls_session *s = tls_session_new(fx.server, true, NULL);
    struct buf plain;
    struct buf out;
    unsigned char junk[4096];

    (void)state;
    buf_init(&plain, 1024);
    buf_init(&out, 0);
    assert_int_equal(tls_feed(s, http, sizeof(http) - 1, &plain), TD_EPROTO);
    assert_int_equal(plain.len, 0);
    assert_false(tls_handshake_done(s));
    assert_true(strlen(tls_last_error(s)) > 0);
    (void)tls_take_output(s, &out); /* an alert, or nothing: must not crash */
    /* Everything after a failure fails the same way. */
    assert_int_equal(tls_feed(s, "x", 1, &plain), TD_EPROTO);
    assert_int_equal(tls_write(s, "x", 1), TD_EPROTO);
    tls_shutdown(s);
    tls_session_free(s);

    /* A plausible record header with random contents. */
    s = tls_session_new(fx.server, true, NULL);
    fill_pattern(junk, sizeof(junk), 3);
    junk[0] = 0x16;
    junk[1] = 0x03;
    junk[2] = 0x01;
    junk[3] = 0x0f;
    junk[4] = 0xf0;
    assert_int_equal(tls_feed(s, junk, sizeof(junk), &plain), TD_EPROTO);
    tls_session_free(s);

    /* Huge record length: must fail, not wait for 64 KiB of nothing forever. */
    s = tls_session_new(fx.server, true, NULL);
    junk[3] = 0xff;
    junk[4] = 0xff;
    assert_int_equal(tls_feed(s, junk, 5, &plain), TD_EPROTO);
    tls_session_free(s);
    buf_free(&plain);
    buf_free(&out);
}

static void test_tampered_record(void **state)
{
    struct pair p;
    struct buf wire;
    struct buf plain;

    (void)state;
    pair_init(&p, NULL, NULL);
    handshake(&p);
    buf_init(&wire, 0);
    buf_init(&plain, 0);
    assert_int_equal(tls_write(p.c, "secret message", 14), TD_OK);
    assert_true(tls_take_output(p.c, &wire) > 0);
    wire.data[wire.len - 3] ^= 0x40;
    assert_int_equal(tls_feed(p.s, wire.data, wire.len, &plain), TD_EPROTO);
    assert_int_equal(plain.len, 0);
    buf_reset(&wire);
    assert_true(tls_take_output(p.s, &wire) > 0); /* bad_record_mac alert */
    buf_free(&wire);
    buf_free(&plain);
    pair_free(&p);
}

static void test_plain_ceiling(void **state)
{
    const size_t total = 100000;
    unsigned char *data = malloc(total);
    struct pair p;
    struct buf wire;
    struct buf small;
    struct buf all;
    int rc;

    (void)state;
    assert_non_null(data);
    fill_pattern(data, total, 5);
    pair_init(&p, NULL, NULL);
    handshake(&p);
    assert_int_equal(tls_write(p.s, data, total), TD_OK);
    buf_init(&wire, 0);
    buf_init(&small, 1000);
    buf_init(&all, 0);
    assert_true(tls_take_output(p.s, &wire) > total);
    rc = tls_feed(p.c, wire.data, wire.len, &small);
    assert_int_equal(rc, TD_ETOOBIG);
    assert_int_equal(small.len, 1000);
    /* The rest waits inside the session; drain it by feeding nothing. */
    for (int i = 0; i < 1000 && rc == TD_ETOOBIG; i++) {
        assert_int_equal(buf_append(&all, small.data, small.len), TD_OK);
        buf_reset(&small);
        rc = tls_feed(p.c, NULL, 0, &small);
    }
    assert_int_equal(rc, TD_OK);
    assert_int_equal(buf_append(&all, small.data, small.len), TD_OK);
    assert_int_equal(all.len, total);
    assert_memory_equal(all.data, data, total);

    /* Ciphertext piling up unread is capped too. */
    {
        unsigned char *big = calloc(1, TLS_MAX_PENDING_CIPHER + 1);
        assert_non_null(big);
        buf_reset(&small);
        assert_int_equal(tls_feed(p.c, big, TLS_MAX_PENDING_CIPHER + 1, &small), TD_ETOOBIG);
        free(big);
    }
    buf_free(&wire);
    buf_free(&small);
    buf_free(&all);
    pair_free(&p);
    free(data);
}

static void test_pending_plain_cap(void **state)
{
    struct tls_session *c = tls_session_new(fx.client, false, NULL);
    unsigned char *big = calloc(1, TLS_MAX_PENDING_PLAIN);

    (void)state;
    assert_non_null(big);
    assert_int_equal(tls_write(c, big, TLS_MAX_PENDING_PLAIN), TD_OK);
    assert_int_equal(tls_write(c, "x", 1), TD_ETOOBIG);
    tls_session_free(c);
    free(big);
}

static void test_take_output_ceiling(void **state)
{
    struct pair p;
    struct buf out;
    struct buf rest;
    size_t n;

    (void)state;
    pair_init(&p, NULL, NULL);
    assert_int_equal(tls_connect(p.c), TD_OK);
    buf_init(&out, 10);
    buf_init(&rest, 0);
    assert_int_equal(tls_take_output(p.c, &out), 10);
    assert_int_equal(tls_take_output(p.c, &out), 0); /* full */
    n = tls_take_output(p.c, &rest);
    assert_true(n > 0);
    assert_int_equal(tls_take_output(p.c, &rest), 0);
    assert_int_equal((unsigned char)out.data[0], 0x16); /* handshake record */
    buf_free(&out);
    buf_free(&rest);
    pair_free(&p);
}

static void test_shutdown(void **state)
{
    struct pair p;

    (void)state;
    pair_init(&p, NULL, NULL);
    handshake(&p);
    assert_int_equal(tls_write(p.c, "bye", 3), TD_OK);
    tls_shutdown(p.c);
    tls_shutdown(p.c); /* twice is harmless */
    pump(&p);
    assert_int_equal(p.s_rc, TD_OK);
    assert_true(tls_peer_closed(p.s));
    assert_false(tls_peer_closed(p.c));
    assert_int_equal(p.s_plain.len, 3);
    /* Shutdown before a handshake queues nothing. */
    {
        struct tls_session *s = tls_session_new(fx.server, true, NULL);
        struct buf out;
        buf_init(&out, 0);
        tls_shutdown(s);
        assert_int_equal(tls_take_output(s, &out), 0);
        tls_session_free(s);
        buf_free(&out);
    }
    pair_free(&p);
}

static void test_channel_binding(void **state)
{
    uint8_t a[TLS_CB_MAX], b[TLS_CB_MAX], c[TLS_CB_MAX];
    size_t alen = sizeof(a), blen = sizeof(b), clen = sizeof(c);
    struct pair p, q;

    (void)state;
    pair_init(&p, NULL, NULL);
    assert_int_equal(tls_channel_binding(p.c, "tls-exporter", a, &alen), TD_ENOTFOUND);
    handshake(&p);
    assert_int_equal(tls_channel_binding(p.c, "tls-exporter", a, &alen), TD_OK);
    assert_int_equal(tls_channel_binding(p.s, "tls-exporter", b, &blen), TD_OK);
    assert_int_equal(alen, 32);
    assert_int_equal(blen, 32);
    assert_memory_equal(a, b, 32);

    /* Another connection binds to something else. */
    pair_init(&q, NULL, NULL);
    handshake(&q);
    assert_int_equal(tls_channel_binding(q.s, "tls-exporter", c, &clen), TD_OK);
    assert_memory_not_equal(a, c, 32);

    /* tls-server-end-point: SHA-256 of the certificate (ecdsa-with-SHA256). */
    alen = sizeof(a);
    blen = sizeof(b);
    assert_int_equal(tls_channel_binding(p.c, "tls-server-end-point", a, &alen), TD_OK);
    assert_int_equal(tls_channel_binding(p.s, "tls-server-end-point", b, &blen), TD_OK);
    assert_int_equal(alen, 32);
    assert_int_equal(blen, 32);
    assert_memory_equal(a, b, 32);

    alen = 16;
    assert_int_equal(tls_channel_binding(p.c, "tls-exporter", a, &alen), TD_ETOOBIG);
    alen = sizeof(a);
    assert_int_equal(tls_channel_binding(p.c, "tls-unique", a, &alen), TD_EINVAL);
    pair_free(&p);
    pair_free(&q);
}

static void test_tls12(void **state)
{
    uint8_t a[TLS_CB_MAX], b[TLS_CB_MAX];
    size_t alen = sizeof(a), blen = sizeof(b);
    struct pair p;

    (void)state;
    pair_init(&p, NULL, NULL);
    assert_int_equal(SSL_set_max_proto_version(p.c->ssl, TLS1_2_VERSION), 1);
    handshake(&p);
    assert_string_equal(tls_version(p.s), "TLSv1.2");
    assert_int_equal(tls_channel_binding(p.s, "tls-exporter", a, &alen), TD_ENOTFOUND);
    alen = sizeof(a);
    assert_int_equal(tls_channel_binding(p.c, "tls-server-end-point", a, &alen), TD_OK);
    assert_int_equal(tls_channel_binding(p.s, "tls-server-end-point", b, &blen), TD_OK);
    assert_memory_equal(a, b, 32);
    assert_int_equal(tls_write(p.c, "ping", 4), TD_OK);
    pump(&p);
    assert_int_equal(p.s_plain.len, 4);
    pair_free(&p);

    /* TLS 1.1 is refused. */
    pair_init(&p, NULL, NULL);
    SSL_set_min_proto_version(p.c->ssl, TLS1_VERSION);
    SSL_set_security_level(p.c->ssl, 0);
    assert_int_equal(SSL_set_cipher_list(p.c->ssl, "DEFAULT:@SECLEVEL=0"), 1);
    assert_int_equal(SSL_set_max_proto_version(p.c->ssl, TLS1_1_VERSION), 1);
    assert_int_equal(tls_connect(p.c), TD_OK);
    pump(&p);
    assert_false(tls_handshake_done(p.s));
    assert_int_equal(p.s_rc, TD_EPROTO);
    assert_non_null(strstr(tls_last_error(p.s), "protocol"));
    pair_free(&p);
}

static void test_alpn(void **state)
{
    static const unsigned char offer[] = "\x02h2\x08http/1.1";
    static const unsigned char xmpp[] = "\x0bxmpp-client";
    struct pair p;

    (void)state;
    pair_init(&p, NULL, NULL);
    assert_int_equal(SSL_set_alpn_protos(p.c->ssl, offer, sizeof(offer) - 1), 0);
    handshake(&p);
    assert_string_equal(tls_alpn(p.s), "http/1.1");
    assert_string_equal(tls_alpn(p.c), "http/1.1");
    pair_free(&p);

    /* No overlap: carry on without ALPN. */
    pair_init(&p, NULL, NULL);
    assert_int_equal(SSL_set_alpn_protos(p.c->ssl, xmpp, sizeof(xmpp) - 1), 0);
    handshake(&p);
    assert_string_equal(tls_alpn(p.s), "");
    pair_free(&p);
}

static void test_verify(void **state)
{
    struct tls_ctx *vc = NULL;
    char *err = NULL;
    struct pair p;
    static const char *good[] = {"chat.example", "localhost", "127.0.0.1", "::1"};

    (void)state;
    assert_int_equal(tls_ctx_new_client(true, fx.cert, &vc, &err), TD_OK);
    for (size_t i = 0; i < TD_ARRAY_LEN(good); i++) {
        pair_init(&p, vc, good[i]);
        handshake(&p);
        pair_free(&p);
    }
    pair_init(&p, vc, "evil.example");
    assert_int_equal(tls_connect(p.c), TD_OK);
    pump(&p);
    assert_int_equal(p.c_rc, TD_EPROTO);
    assert_false(tls_handshake_done(p.c));
    assert_non_null(strstr(tls_last_error(p.c), "certificate verify failed"));
    pair_free(&p);
    tls_ctx_free(vc);

    /* Trusting the system store only: our self-signed cert is refused. */
    assert_int_equal(tls_ctx_new_client(true, NULL, &vc, &err), TD_OK);
    pair_init(&p, vc, "localhost");
    assert_int_equal(tls_connect(p.c), TD_OK);
    pump(&p);
    assert_int_equal(p.c_rc, TD_EPROTO);
    pair_free(&p);
    tls_ctx_free(vc);

    assert_int_equal(tls_ctx_new_client(true, "/nonexistent/ca.pem", &vc, &err), TD_EIO);
    assert_null(vc);
    assert_non_null(strstr(err, "/nonexistent/ca.pem"));
    free(err);
}

static void test_selfsigned_no_overwrite(void **state)
{
    char c2[160], k2[160], path[160];
    char *err = NULL;
    struct stat st;
    X509 *x;
    FILE *f;

    (void)state;
    /* Both exist, or only one: refused, nothing touched. */
    assert_int_equal(tls_selfsigned_generate(fx.cert, fx.key, "x.example", &err), TD_EEXIST);
    assert_non_null(err);
    free(err);
    snprintf(path, sizeof(path), "%s/only.pem", fx.dir);
    assert_int_equal(tls_selfsigned_generate(path, fx.key, "x.example", &err), TD_EEXIST);
    free(err);
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(tls_selfsigned_generate(fx.cert, path, "x.example", &err), TD_EEXIST);
    free(err);
    assert_int_not_equal(stat(path, &st), 0);

    /* A common name that would smuggle config syntax is refused. */
    snprintf(c2, sizeof(c2), "%s/c2.pem", fx.dir);
    snprintf(k2, sizeof(k2), "%s/k2.pem", fx.dir);
    assert_int_equal(tls_selfsigned_generate(c2, k2, "a,IP:1.2.3.4", &err), TD_EINVAL);
    free(err);
    assert_int_equal(tls_selfsigned_generate(c2, k2, "", &err), TD_EINVAL);
    free(err);
    assert_int_not_equal(stat(c2, &st), 0);
    assert_int_not_equal(stat(k2, &st), 0);

    /* The key is private; the certificate says what the brief asks. */
    assert_int_equal(stat(fx.key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    f = fopen(fx.cert, "r");
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    assert_int_equal(X509_check_host(x, "chat.example", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(x, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(x, "::1", 0), 1);
    assert_int_equal(X509_check_host(x, "other.example", 0, 0, NULL), 0);
    assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    assert_true(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
    {
        int days = 0, secs = 0;
        assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x),
                                        X509_get0_notAfter(x)), 1);
        assert_true(days >= 3649 && days <= 3651);
    }
    X509_free(x);

    /* "localhost" as the name makes a valid cert as well. */
    assert_int_equal(tls_selfsigned_generate(c2, k2, "localhost", &err), TD_OK);
    assert_null(err);
    unlink(c2);
    unlink(k2);
}

static void test_bad_cert_path(void **state)
{
    char *err = NULL;
    struct tls_ctx *ctx = (void *)1;
    char junk[160], c2[160], k2[160];
    FILE *f;

    (void)state;
    assert_int_equal(tls_ctx_new_server("/nonexistent/dir/cert.pem", fx.key, &ctx, &err),
                     TD_EIO);
    assert_null(ctx);
    assert_non_null(err);
    assert_non_null(strstr(err, "/nonexistent/dir/cert.pem"));
    free(err);

    assert_int_equal(tls_ctx_new_server(fx.cert, "/nonexistent/key.pem", &ctx, &err), TD_EIO);
    assert_non_null(strstr(err, "/nonexistent/key.pem"));
    free(err);

    /* A file that is not PEM: named, with OpenSSL's reason. */
    snprintf(junk, sizeof(junk), "%s/junk.pem", fx.dir);
    f = fopen(junk, "w");
    assert_non_null(f);
    fputs("this is not a certificate\n", f);
    fclose(f);
    assert_int_equal(tls_ctx_new_server(junk, fx.key, &ctx, &err), TD_EINVAL);
    assert_non_null(strstr(err, junk));
    assert_true(strlen(err) > strlen(junk) + 25);
    free(err);
    assert_int_equal(tls_ctx_new_server(fx.cert, junk, &ctx, &err), TD_EINVAL);
    assert_non_null(strstr(err, junk));
    free(err);

    /* A key that belongs to another certificate. */
    snprintf(c2, sizeof(c2), "%s/c2.pem", fx.dir);
    snprintf(k2, sizeof(k2), "%s/k2.pem", fx.dir);
    assert_int_equal(tls_selfsigned_generate(c2, k2, "other.example", &err), TD_OK);
    assert_int_not_equal(tls_ctx_new_server(fx.cert, k2, &ctx, &err), TD_OK);
    assert_null(ctx);
    assert_non_null(strstr(err, k2));
    free(err);
    unlink(c2);
    unlink(k2);

    /* NULL out-params for err are tolerated. */
    assert_int_equal(tls_ctx_new_server("/nonexistent/c.pem", fx.key, &ctx, NULL), TD_EIO);
    tls_ctx_free(NULL);
    tls_session_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_and_small_data),
        cmocka_unit_test(test_one_mib_both_ways),
        cmocka_unit_test(test_write_before_handshake),
        cmocka_unit_test(test_byte_at_a_time),
        cmocka_unit_test(test_garbage_to_server),
        cmocka_unit_test(test_tampered_record),
        cmocka_unit_test(test_plain_ceiling),
        cmocka_unit_test(test_pending_plain_cap),
        cmocka_unit_test(test_take_output_ceiling),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_channel_binding),
        cmocka_unit_test(test_tls12),
        cmocka_unit_test(test_alpn),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_selfsigned_no_overwrite),
        cmocka_unit_test(test_bad_cert_path),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
