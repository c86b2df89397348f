/* SPDX-License-Identifier: MIT */
/* TLS over two OpenSSL memory BIOs, with no I/O of its own: the network BIO
 * pair is ours (rbio holds ciphertext from the peer, wbio ciphertext for it),
 * and net/conn moves the bytes between them and the libuv stream. That makes
 * STARTTLS (RFC 6120 §5.4.3.3) a matter of creating a session mid-stream; the
 * caller must drop any plaintext it buffered before that point (the
 * CVE-2011-0411 injection). Plaintext written before the handshake is done is
 * held and sent after it. Servers: TLS 1.2+ (RFC 8996), ECDHE AEAD suites for
 * 1.2 (Mozilla "intermediate"), OpenSSL's 1.3 defaults, ALPN "http/1.1"
 * or one protocol set per context ("xmpp-client" for XEP-0368) (RFC 7301
 * §3.2: without an overlap we carry on without ALPN rather than send
 * no_application_protocol, so XMPP clients offering "xmpp-client" during
 * STARTTLS still work), renegotiation off. Channel bindings per RFC 9266 (tls-exporter) and
 * RFC 5929 §4.1 (tls-server-end-point). Self-signed certificates for first
 * start are made here too, with OpenSSL 3 APIs only. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/err.h"

/* Bytes moved per SSL_read/BIO_read call: one TLS record's worth. */
#define TLS_CHUNK 16384

/* TLS 1.2 suites: ECDHE with AEAD only (forward secrecy, no CBC). */
#define TLS12_CIPHERS                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                          \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                          \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/* Default ALPN protocol list in wire format (RFC 7301 §3.1). */
static const unsigned char alpn_server[] = "\x08http/1.1";

struct tls_ctx {
    SSL_CTX *ssl_ctx; /* owned */
    bool is_server;
    bool verify; /* client: check the peer certificate and name */
    unsigned char alpn[64]; /* server: the protocol offered, wire format */
    size_t alpn_len;
};

struct tls_session {
    SSL *ssl;               /* owned; owns rbio and wbio */
    BIO *rbio;              /* ciphertext from the peer, read by OpenSSL */
    BIO *wbio;              /* ciphertext for the peer, written by OpenSSL */
    struct buf pending;     /* plaintext written before the handshake finished */
    bool is_server;
    bool handshake_done;
    bool failed;            /* a fatal error happened; every call now fails */
    bool peer_closed;       /* close_notify received */
    char alpn[32];          /* selected ALPN protocol, NUL-terminated, or "" */
    char err[200];          /* last OpenSSL reason, or "" */
};

/* ---- error text ---- */

/* Append the reasons in OpenSSL's error queue (oldest first) to b, emptying
 * the queue. Appends "unknown error" if it was empty. */
static void append_openssl_errors(struct buf *b)
{
    const char *data;
    int flags;
    unsigned long e;
    int n = 0;

    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *reason = ERR_reason_error_string(e);
        char tmp[256];

        if (reason == NULL) {
            ERR_error_string_n(e, tmp, sizeof(tmp));
            reason = tmp;
        }
        /* Several entries often say the same; keep the first few. */
        if (n < 3) {
            buf_printf(b, "%s%s", n ? "; " : "", reason);
            if ((flags & ERR_TXT_STRING) && data && *data)
                buf_printf(b, " (%s)", data);
        }
        n++;
    }
    if (n == 0)
        buf_appends(b, "unknown error");
}

/* Set *err (if err is non-NULL) to "<what> <file>: <OpenSSL reasons>". */
static void set_err(char **err, const char *what, const char *file)
{
    struct buf b;

    buf_init(&b, 0);
    if (file)
        buf_printf(&b, "%s %s: ", what, file);
    else
        buf_printf(&b, "%s: ", what);
    append_openssl_errors(&b);
    if (err)
        *err = buf_steal(&b, NULL);
    else
        buf_free(&b);
}

/* Set *err to "<what> <file>: <text>" (no OpenSSL queue involved). */
static void set_err_text(char **err, const char *what, const char *file, const char *text)
{
    struct buf b;

    ERR_clear_error();
    buf_init(&b, 0);
    buf_printf(&b, "%s %s: %s", what, file, text);
    if (err)
        *err = buf_steal(&b, NULL);
    else
        buf_free(&b);
}

/* Mark s failed and keep OpenSSL's reason for tls_last_error(). */
static int session_fail(struct tls_session *s, const char *what)
{
    struct buf b;
    size_t n;

    s->failed = true;
    buf_init(&b, 0);
    buf_printf(&b, "%s: ", what);
    append_openssl_errors(&b);
    n = b.len < sizeof(s->err) - 1 ? b.len : sizeof(s->err) - 1;
    memcpy(s->err, b.data, n);
    s->err[n] = '\0';
    buf_free(&b);
    return TD_EPROTO;
}

/* ---- contexts ---- */

/* RFC 7301 §3.2: pick the context's protocol ("http/1.1", or "xmpp-client"
 * for XEP-0368 direct TLS) if the client offers it; otherwise go on without
 * ALPN (NOACK) instead of failing the handshake. */
static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                          const unsigned char *in, unsigned int inlen, void *arg)
{
    const struct tls_ctx *ctx = arg;
    unsigned char *sel = NULL;
    unsigned char sel_len = 0;

    (void)ssl;
    if (SSL_select_next_proto(&sel, &sel_len, ctx->alpn, (unsigned int)ctx->alpn_len, in,
                              inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    *outlen = sel_len;
    return SSL_TLSEXT_ERR_OK;
}

/* Settings shared by both sides. Returns false if OpenSSL refused one. */
static bool ctx_common(SSL_CTX *c)
{
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1)
        return false;
    if (SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1)
        return false;
    /* Renegotiation is a DoS lever and needless with TLS 1.2+; compression is
     * CRIME. Idle XMPP sessions are many, so drop read/write buffers when
     * empty. Memory BIOs never short-write, so the SSL_write modes stay off. */
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    return true;
}

/* Contract in tls.h. */
int tls_ctx_new_server(const char *cert_file, const char *key_file, struct tls_ctx **out,
                       char **err)
{
    static const unsigned char sid_ctx[] = "tandem";
    SSL_CTX *c = NULL;
    int rc = TD_EINVAL;

    *out = NULL;
    if (err)
        *err = NULL;
    ERR_clear_error();
    if (cert_file == NULL || key_file == NULL) {
        set_err_text(err, "tls:", "server", "certificate and key files are required");
        return TD_EINVAL;
    }
    /* Say which file is missing in plain words before OpenSSL tries it. */
    if (access(cert_file, R_OK) != 0) {
        set_err_text(err, "cannot read certificate", cert_file, strerror(errno));
        return TD_EIO;
    }
    if (access(key_file, R_OK) != 0) {
        set_err_text(err, "cannot read private key", key_file, strerror(errno));
        return TD_EIO;
    }
    c = SSL_CTX_new(TLS_server_method());
    if (c == NULL || !ctx_common(c)) {
        set_err(err, "tls: cannot set up server context for", cert_file);
        goto out;
    }
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
        set_err(err, "cannot load certificate", cert_file);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1) {
        set_err(err, "cannot load private key", key_file);
        goto out;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        set_err(err, "private key does not match certificate", key_file);
        goto out;
    }
    /* Resumption needs a session id context when client certs may be asked. */
    SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
    *out = td_calloc(1, sizeof(**out));
    (*out)->ssl_ctx = c;
    (*out)->is_server = true;
    memcpy((*out)->alpn, alpn_server, sizeof(alpn_server) - 1);
    (*out)->alpn_len = sizeof(alpn_server) - 1;
    SSL_CTX_set_alpn_select_cb(c, alpn_select_cb, *out);
    c = NULL;
    rc = TD_OK;
out:
    SSL_CTX_free(c); /* NULL-safe */
    return rc;
}

/* Contract in tls.h. */
int tls_ctx_new_client(bool verify, const char *ca_file, struct tls_ctx **out, char **err)
{
    SSL_CTX *c = NULL;
    int rc = TD_EINVAL;

    *out = NULL;
    if (err)
        *err = NULL;
    ERR_clear_error();
    if (ca_file && access(ca_file, R_OK) != 0) {
        set_err_text(err, "cannot read CA file", ca_file, strerror(errno));
        return TD_EIO;
    }
    c = SSL_CTX_new(TLS_client_method());
    if (c == NULL || !ctx_common(c)) {
        set_err(err, "tls: cannot set up client context", NULL);
        goto out;
    }
    if (verify) {
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        if (ca_file) {
            if (SSL_CTX_load_verify_locations(c, ca_file, NULL) != 1) {
                set_err(err, "cannot load CA file", ca_file);
                goto out;
            }
        } else if (SSL_CTX_set_default_verify_paths(c) != 1) {
            set_err(err, "tls: cannot load the system trust store", NULL);
            goto out;
        }
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    }
    *out = td_calloc(1, sizeof(**out));
    (*out)->ssl_ctx = c;
    (*out)->verify = verify;
    c = NULL;
    rc = TD_OK;
out:
    SSL_CTX_free(c);
    return rc;
}

/* Contract in tls.h. */
int tls_ctx_set_alpn(struct tls_ctx *ctx, const char *proto)
{
    size_t n = strlen(proto);

    if (!ctx->is_server || n == 0 || n + 1 > sizeof(ctx->alpn))
        return TD_EINVAL;
    ctx->alpn[0] = (unsigned char)n;
    memcpy(ctx->alpn + 1, proto, n);
    ctx->alpn_len = n + 1;
    return TD_OK;
}

/* Contract in tls.h. */
void tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

/* ---- sessions ---- */

/* Client: send SNI (RFC 6066 §3 forbids IP literals there) and, when
 * verifying, require the certificate to match sni (RFC 6125). */
static bool session_set_peer_name(struct tls_session *s, struct tls_ctx *ctx, const char *sni)
{
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, sni, ip) == 1 || inet_pton(AF_INET6, sni, ip) == 1;

    if (!is_ip && SSL_set_tlsext_host_name(s->ssl, sni) != 1)
        return false;
    if (!ctx->verify)
        return true;
    if (is_ip)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), sni) == 1;
    SSL_set_hostflags(s->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(s->ssl, sni) == 1;
}

/* Contract in tls.h. */
struct tls_session *tls_session_new(struct tls_ctx *ctx, bool is_server, const char *sni)
{
    struct tls_session *s;

    TD_ASSERT(ctx != NULL);
    ERR_clear_error();
    s = td_calloc(1, sizeof(*s));
    s->is_server = is_server;
    buf_init(&s->pending, TLS_MAX_PENDING_PLAIN);
    s->ssl = SSL_new(ctx->ssl_ctx);
    s->rbio = BIO_new(BIO_s_mem());
    s->wbio = BIO_new(BIO_s_mem());
    if (s->ssl == NULL || s->rbio == NULL || s->wbio == NULL) {
        BIO_free(s->rbio);
        BIO_free(s->wbio);
        s->rbio = s->wbio = NULL;
        goto fail;
    }
    /* An empty rbio means "no data yet", not end of stream. */
    BIO_set_mem_eof_return(s->rbio, -1);
    SSL_set_bio(s->ssl, s->rbio, s->wbio); /* the SSL owns both now */
    if (is_server) {
        SSL_set_accept_state(s->ssl);
    } else {
        SSL_set_connect_state(s->ssl);
        if (sni && *sni && !session_set_peer_name(s, ctx, sni))
            goto fail;
    }
    return s;
fail:
    ERR_clear_error();
    tls_session_free(s);
    return NULL;
}

/* Contract in tls.h. */
void tls_session_free(struct tls_session *s)
{
    if (s == NULL)
        return;
    SSL_free(s->ssl); /* frees rbio and wbio */
    buf_free(&s->pending);
    free(s);
}

/* Encrypt len bytes into wbio. Memory BIOs grow, so SSL_write_ex writes all
 * or fails. */
static int write_now(struct tls_session *s, const void *p, size_t len)
{
    size_t written = 0;

    if (len == 0)
        return TD_OK;
    if (SSL_write_ex(s->ssl, p, len, &written) != 1 || written != len)
        return session_fail(s, "write");
    return TD_OK;
}

/* Push the handshake on; once it completes, record ALPN and send held data.
 * TD_OK (done or waiting for the peer) or TD_EPROTO. */
static int advance_handshake(struct tls_session *s)
{
    const unsigned char *alpn = NULL;
    unsigned int alpn_len = 0;
    int r;
    int rc;

    if (s->handshake_done)
        return TD_OK;
    r = SSL_do_handshake(s->ssl);
    if (r != 1) {
        int e = SSL_get_error(s->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return TD_OK;
        return session_fail(s, "handshake");
    }
    s->handshake_done = true;
    SSL_get0_alpn_selected(s->ssl, &alpn, &alpn_len);
    if (alpn && alpn_len > 0 && alpn_len < sizeof(s->alpn)) {
        memcpy(s->alpn, alpn, alpn_len);
        s->alpn[alpn_len] = '\0';
    }
    rc = write_now(s, s->pending.data, s->pending.len);
    buf_free(&s->pending);
    return rc;
}

/* Room left in b under its ceiling (TLS_CHUNK if it has none). */
static size_t room_in(const struct buf *b)
{
    if (b->max == 0)
        return TLS_CHUNK;
    return b->len < b->max ? b->max - b->len : 0;
}

/* Decrypt what the peer sent into plain_out until OpenSSL wants more input. */
static int read_plain(struct tls_session *s, struct buf *plain_out)
{
    unsigned char chunk[TLS_CHUNK];

    for (;;) {
        size_t room = room_in(plain_out);
        size_t got = 0;
        int r;

        if (room == 0) {
            /* Full: is there more? SSL_peek_ex processes records without
             * consuming the plaintext, which then waits for the next call. */
            r = SSL_peek_ex(s->ssl, chunk, 1, &got);
            if (r == 1)
                return TD_ETOOBIG;
        } else {
            r = SSL_read_ex(s->ssl, chunk, room < sizeof(chunk) ? room : sizeof(chunk), &got);
            if (r == 1) {
                /* Fits: got <= room. */
                int rc = buf_append(plain_out, chunk, got);
                TD_ASSERT(rc == TD_OK);
                continue;
            }
        }
        switch (SSL_get_error(s->ssl, r)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            return TD_OK;
        case SSL_ERROR_ZERO_RETURN:
            s->peer_closed = true;
            return TD_OK;
        default:
            return session_fail(s, "read");
        }
    }
}

/* Contract in tls.h. */
int tls_feed(struct tls_session *s, const void *in, size_t len, struct buf *plain_out)
{
    const unsigned char *p = in;
    int rc;

    if (s->failed)
        return TD_EPROTO;
    ERR_clear_error();
    if (BIO_ctrl_pending(s->rbio) + len > TLS_MAX_PENDING_CIPHER)
        return TD_ETOOBIG;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        int w = BIO_write(s->rbio, p, n);
        if (w <= 0)
            return session_fail(s, "buffer");
        p += w;
        len -= (size_t)w;
    }
    rc = advance_handshake(s);
    if (rc != TD_OK || !s->handshake_done)
        return rc;
    if (s->peer_closed) {
        /* Nothing after close_notify is read (RFC 8446 §6.1); drop it. */
        (void)BIO_reset(s->rbio);
        return TD_OK;
    }
    return read_plain(s, plain_out);
}

/* Contract in tls.h. */
int tls_write(struct tls_session *s, const void *plain, size_t len)
{
    if (s->failed)
        return TD_EPROTO;
    if (len == 0)
        return TD_OK;
    ERR_clear_error();
    if (!s->handshake_done)
        return buf_append(&s->pending, plain, len);
    return write_now(s, plain, len);
}

/* Contract in tls.h. */
int tls_connect(struct tls_session *s)
{
    if (s->is_server)
        return TD_OK;
    if (s->failed)
        return TD_EPROTO;
    ERR_clear_error();
    return advance_handshake(s);
}

/* Contract in tls.h. */
size_t tls_take_output(struct tls_session *s, struct buf *out)
{
    unsigned char chunk[TLS_CHUNK];
    size_t moved = 0;

    for (;;) {
        size_t want = BIO_ctrl_pending(s->wbio);
        size_t room = room_in(out);
        int n;
        int rc;

        if (want == 0 || room == 0)
            break;
        if (want > room)
            want = room;
        if (want > sizeof(chunk))
            want = sizeof(chunk);
        n = BIO_read(s->wbio, chunk, (int)want);
        if (n <= 0)
            break;
        rc = buf_append(out, chunk, (size_t)n); /* fits: n <= room */
        TD_ASSERT(rc == TD_OK);
        moved += (size_t)n;
    }
    return moved;
}

bool tls_handshake_done(const struct tls_session *s)
{
    return s->handshake_done;
}

bool tls_peer_closed(const struct tls_session *s)
{
    return s->peer_closed;
}

/* Contract in tls.h. Safe to call more than once. */
void tls_shutdown(struct tls_session *s)
{
    if (s->failed || !s->handshake_done)
        return;
    if (SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN)
        return;
    ERR_clear_error();
    (void)SSL_shutdown(s->ssl); /* 0 = sent, waiting for the peer's: fine */
    ERR_clear_error();
}

const char *tls_version(const struct tls_session *s)
{
    return s->handshake_done ? SSL_get_version(s->ssl) : "";
}

const char *tls_alpn(const struct tls_session *s)
{
    return s->alpn;
}

const char *tls_last_error(const struct tls_session *s)
{
    return s->err;
}

/* RFC 5929 §4.1: hash the server certificate with its signature's hash,
 * SHA-256 if that is MD5 or SHA-1. No defined hash (e.g. Ed25519) means no
 * binding (RFC 5929 leaves it undefined). */
static int server_end_point(struct tls_session *s, uint8_t *out, size_t *len)
{
    X509 *cert = s->is_server ? SSL_get_certificate(s->ssl) : SSL_get0_peer_certificate(s->ssl);
    const EVP_MD *md;
    unsigned char md_buf[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int md_nid = NID_undef;

    if (cert == NULL)
        return TD_ENOTFOUND;
    if (!OBJ_find_sigid_algs(X509_get_signature_nid(cert), &md_nid, NULL) ||
        md_nid == NID_undef)
        return TD_ENOTFOUND;
    if (md_nid == NID_md5 || md_nid == NID_sha1)
        md_nid = NID_sha256;
    md = EVP_get_digestbynid(md_nid);
    if (md == NULL || X509_digest(cert, md, md_buf, &md_len) != 1) {
        ERR_clear_error();
        return TD_ENOTFOUND;
    }
    if (*len < md_len)
        return TD_ETOOBIG;
    memcpy(out, md_buf, md_len);
    *len = md_len;
    return TD_OK;
}

/* Contract in tls.h. */
int tls_channel_binding(struct tls_session *s, const char *type, uint8_t *out, size_t *len)
{
    static const char label[] = "EXPORTER-Channel-Binding"; /* RFC 9266 §2 */

    if (!s->handshake_done || s->failed)
        return TD_ENOTFOUND;
    ERR_clear_error();
    if (strcmp(type, "tls-exporter") == 0) {
        /* RFC 9266 §2: 32 bytes, empty context; defined for TLS 1.3 here
         * (1.2 would need extended master secret, §4.2). */
        if (SSL_version(s->ssl) < TLS1_3_VERSION)
            return TD_ENOTFOUND;
        if (*len < 32)
            return TD_ETOOBIG;
        if (SSL_export_keying_material(s->ssl, out, 32, label, sizeof(label) - 1, NULL, 0, 0) !=
            1) {
            ERR_clear_error();
            return TD_ENOTFOUND;
        }
        *len = 32;
        return TD_OK;
    }
    if (strcmp(type, "tls-server-end-point") == 0)
        return server_end_point(s, out, len);
    return TD_EINVAL;
}

/* ---- self-signed certificates ---- */

/* A host name we can put into a config string safely: letters, digits, '-',
 * '.', 1..253 bytes (RFC 1035 §2.3.4). */
static bool is_plain_hostname(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return false;
    }
    return true;
}

/* Add one X.509v3 extension given in OpenSSL config syntax. */
static bool add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    bool ok;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return false;
    ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Build and sign the certificate for pkey. NULL on failure (queue set). */
static X509 *make_cert(EVP_PKEY *pkey, const char *cn)
{
    X509 *x = X509_new();
    X509_NAME *name;
    unsigned char serial[16];
    BIGNUM *bn = NULL;
    struct buf san;
    bool ok = false;

    buf_init(&san, 0);
    if (x == NULL)
        goto out;
    /* RFC 5280 §4.1.2.2: positive, at most 20 octets; 127 random bits. */
    if (RAND_bytes(serial, sizeof(serial)) != 1)
        goto out;
    serial[0] &= 0x7f;
    bn = BN_bin2bn(serial, sizeof(serial), NULL);
    if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
        goto out;
    if (X509_set_version(x, X509_VERSION_3) != 1)
        goto out;
    /* Back-date an hour for clocks that lag. */
    if (X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), 3650, 0, NULL) == NULL)
        goto out;
    name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1)
        goto out;
    if (X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1)
        goto out;
    buf_printf(&san, "DNS:%s,", cn);
    if (strcmp(cn, "localhost") == 0)
        buf_reset(&san);
    buf_appends(&san, "DNS:localhost,IP:127.0.0.1,IP:::1");
    /* A leaf, not a CA: browsers refuse CA certificates as server certs. */
    if (!add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, NID_subject_key_identifier, "hash") ||
        !add_ext(x, NID_subject_alt_name, san.data))
        goto out;
    if (X509_sign(x, pkey, EVP_sha256()) <= 0)
        goto out;
    ok = true;
out:
    BN_free(bn);
    buf_free(&san);
    if (!ok) {
        X509_free(x);
        x = NULL;
    }
    return x;
}

/* Create path exclusively with mode and open it for writing. NULL + errno. */
static FILE *create_excl(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *f;

    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (f == NULL) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return f;
}

/* Contract in tls.h. */
int tls_selfsigned_generate(const char *cert_path, const char *key_path, const char *common_name,
                            char **err)
{
    EVP_PKEY *pkey = NULL;
    X509 *x = NULL;
    FILE *kf = NULL;
    FILE *cf = NULL;
    bool key_made = false;
    bool cert_made = false;
    struct stat st;
    int rc = TD_EIO;

    if (err)
        *err = NULL;
    ERR_clear_error();
    if (stat(cert_path, &st) == 0 || stat(key_path, &st) == 0) {
        set_err_text(err, "refusing to overwrite", stat(cert_path, &st) == 0 ? cert_path : key_path,
                     "file exists");
        return TD_EEXIST;
    }
    if (common_name == NULL || !is_plain_hostname(common_name)) {
        set_err_text(err, "tls: bad common name for", cert_path, "not a plain host name");
        return TD_EINVAL;
    }
    pkey = EVP_EC_gen("P-256");
    if (pkey == NULL) {
        set_err(err, "cannot generate key for", key_path);
        goto out;
    }
    x = make_cert(pkey, common_name);
    if (x == NULL) {
        set_err(err, "cannot build certificate", cert_path);
        goto out;
    }
    kf = create_excl(key_path, 0600);
    if (kf == NULL) {
        rc = errno == EEXIST ? TD_EEXIST : TD_EIO;
        set_err_text(err, "cannot create", key_path, strerror(errno));
        goto out;
    }
    key_made = true;
    if (PEM_write_PrivateKey(kf, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        set_err(err, "cannot write private key", key_path);
        goto out;
    }
    if (fclose(kf) != 0) {
        kf = NULL;
        set_err_text(err, "cannot write private key", key_path, strerror(errno));
        goto out;
    }
    kf = NULL;
    cf = create_excl(cert_path, 0644);
    if (cf == NULL) {
        rc = errno == EEXIST ? TD_EEXIST : TD_EIO;
        set_err_text(err, "cannot create", cert_path, strerror(errno));
        goto out;
    }
    cert_made = true;
    if (PEM_write_X509(cf, x) != 1) {
        set_err(err, "cannot write certificate", cert_path);
        goto out;
    }
    if (fclose(cf) != 0) {
        cf = NULL;
        set_err_text(err, "cannot write certificate", cert_path, strerror(errno));
        goto out;
    }
    cf = NULL;
    rc = TD_OK;
out:
    if (kf)
        fclose(kf);
    if (cf)
        fclose(cf);
    if (rc != TD_OK) {
        /* Remove only what this call created. */
        if (key_made)
            unlink(key_path);
        if (cert_made)
            unlink(cert_path);
    }
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}
