/* SPDX-License-Identifier: MIT */
/* TLS as a sans-I/O layer: an OpenSSL SSL object between two memory BIOs.
 * The caller (net/conn) feeds ciphertext in with tls_feed(), gets plaintext
 * back in a bounded buffer, and moves ciphertext for the peer out with
 * tls_take_output(); this module never touches a socket. A session may start
 * in the middle of a plain connection (XMPP STARTTLS, RFC 6120 §5.4): create it
 * at that point and feed it the bytes that follow. TLS 1.2 is the minimum
 * (RFC 8996 retires 1.0/1.1); the server offers ALPN "http/1.1" (RFC 7301), or
 * the protocol set with tls_ctx_set_alpn().
 * Channel bindings: tls-exporter (RFC 9266) and tls-server-end-point
 * (RFC 5929 §4). Renegotiation is refused. */
#ifndef TD_TLS_H
#define TD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Plaintext written before the handshake completes is held up to this much. */
#define TLS_MAX_PENDING_PLAIN (4u * 1024 * 1024)
/* Ciphertext fed but not yet decrypted (because plain_out was full) is held up
 * to this much; more is TD_ETOOBIG. */
#define TLS_MAX_PENDING_CIPHER (1u * 1024 * 1024)
/* Largest channel binding any type yields (EVP_MAX_MD_SIZE). */
#define TLS_CB_MAX 64

struct tls_ctx;     /* wraps SSL_CTX; shared by many sessions */
struct tls_session; /* one SSL object with its two memory BIOs */

/** Server context from PEM files (cert chain, private key). TD_EIO if a file
 * cannot be read, TD_EINVAL if its content is refused; *err (free()) then
 * names the file and OpenSSL's reason. */
int tls_ctx_new_server(const char *cert_file, const char *key_file, struct tls_ctx **out,
                       char **err);
/** Client context; verify=false skips certificate checks (loopback tests);
 * ca_file NULL means the system trust store. */
int tls_ctx_new_client(bool verify, const char *ca_file, struct tls_ctx **out, char **err);
/** Server context: offer proto by ALPN instead of "http/1.1" (e.g.
 * "xmpp-client" on the XEP-0368 direct TLS port). Applies to sessions made
 * afterwards. TD_EINVAL for a client context, an empty name or one over 63 bytes. */
int tls_ctx_set_alpn(struct tls_ctx *ctx, const char *proto);
/** Free a context; NULL-safe. Its sessions must be freed first. */
void tls_ctx_free(struct tls_ctx *ctx);

/** New session on ctx. sni: client side only (may be NULL); with a verifying
 * client context it is also the name the peer certificate must match.
 * NULL only if OpenSSL cannot allocate. */
struct tls_session *tls_session_new(struct tls_ctx *ctx, bool is_server, const char *sni);
/** NULL-safe. */
void tls_session_free(struct tls_session *s);

/** Feed ciphertext from the peer: drives the handshake, appends decrypted data
 * to plain_out and queues bytes for the peer. TD_OK; TD_EPROTO on a TLS failure
 * (a fatal alert may be queued: flush it and close); TD_ETOOBIG if plain_out's
 * ceiling is reached with more plaintext left (what fits is appended, the
 * rest stays inside the session). A close_notify from the peer is TD_OK with
 * tls_peer_closed() true. */
int tls_feed(struct tls_session *s, const void *in, size_t len, struct buf *plain_out);
/** Encrypt application data (copied). Before the handshake completes it is
 * held and sent once it does. TD_OK, TD_EPROTO, or TD_ETOOBIG past
 * TLS_MAX_PENDING_PLAIN held bytes. */
int tls_write(struct tls_session *s, const void *plain, size_t len);
/** Client side: queue the ClientHello. No-op on servers. TD_OK or TD_EPROTO. */
int tls_connect(struct tls_session *s);
/** Append pending ciphertext for the peer to out (up to out's ceiling).
 * Returns the number of bytes moved (0 = nothing). */
size_t tls_take_output(struct tls_session *s, struct buf *out);
bool tls_handshake_done(const struct tls_session *s);
/** True once the peer sent close_notify. */
bool tls_peer_closed(const struct tls_session *s);
/** Queue a close_notify (no-op before the handshake completes or after a failure). */
void tls_shutdown(struct tls_session *s);
/** "TLSv1.3" etc. once the handshake is done, else "". */
const char *tls_version(const struct tls_session *s);
/** Protocol chosen by ALPN ("http/1.1"), or "" if none. */
const char *tls_alpn(const struct tls_session *s);
/** OpenSSL's reason for the last failure of this session, or "". */
const char *tls_last_error(const struct tls_session *s);
/** Channel binding: type "tls-exporter" (RFC 9266, TLS 1.3 only, 32 bytes) or
 * "tls-server-end-point" (RFC 5929 §4.1). Writes to out (capacity *len) and
 * sets *len. TD_ENOTFOUND if unavailable, TD_EINVAL for an unknown type,
 * TD_ETOOBIG if *len is too small (TLS_CB_MAX always suffices). */
int tls_channel_binding(struct tls_session *s, const char *type, uint8_t *out, size_t *len);

/** Write a self-signed EC P-256 certificate (SHA-256, 10 years, CN and
 * subjectAltName common_name, localhost, 127.0.0.1, ::1) and its key (mode
 * 0600). TD_EEXIST (nothing created) if either file exists; TD_EINVAL for a
 * common_name that is not a plain host name; TD_EIO otherwise, with *err. */
int tls_selfsigned_generate(const char *cert_path, const char *key_path, const char *common_name,
                            char **err);

#endif
