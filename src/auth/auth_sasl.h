/* SPDX-License-Identifier: MIT */
/* Server side of a SASL exchange (RFC 4422) as the XMPP session drives it
 * (RFC 6120 §6): one struct auth_sasl per authentication attempt, fed the
 * base64-decoded client messages, answering with the next server message,
 * success data or an RFC 6120 §6.5 failure condition. Sans-I/O: no socket,
 * no loop, no store; credentials come through callbacks.
 * Mechanisms: PLAIN (RFC 4616), SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802,
 * RFC 7677) with their -PLUS channel-binding variants (RFC 5802 §6; the
 * binding data — tls-exporter per RFC 9266 or tls-server-end-point per
 * RFC 5929 — comes from the TLS layer), and OAUTHBEARER (RFC 7628: a
 * bearer token checked through a callback; a refused token gets the §3.2.2
 * error challenge, the client's dummy %x01 answer, then the failure). Unknown SCRAM users get a
 * deterministic fake salt and fail only at the final step (RFC 5802 §9).
 * What this module leaves to the session: offering PLAIN only over TLS
 * (encryption-required), attempt counting and rate limits, <abort/>, and
 * mapping authcid to a JID. The authzid must be absent or equal to the
 * authcid unless the check_authzid callback decides otherwise. */
#ifndef TD_AUTH_SASL_H
#define TD_AUTH_SASL_H

#include "auth/auth_scram.h"
#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_SASL_MSG_MAX 4096      /* longest client message accepted (decoded) */
#define AUTH_SASL_NAME_MAX 1024     /* longest authcid/authzid (bytes, unescaped) */
#define AUTH_SASL_NONCE_MAX 512     /* longest client nonce */
#define AUTH_SASL_CB_MAX 256        /* most channel-binding data bytes */
#define AUTH_SASL_PASSWORD_MAX 1024 /* longer PLAIN passwords fail unchecked (argon2 cap) */

enum auth_sasl_mech {
    AUTH_SASL_PLAIN,
    AUTH_SASL_SCRAM_SHA1,
    AUTH_SASL_SCRAM_SHA1_PLUS,
    AUTH_SASL_SCRAM_SHA256,
    AUTH_SASL_SCRAM_SHA256_PLUS,
    AUTH_SASL_OAUTHBEARER,
};

/** Map an IANA mechanism name (exact, upper case, e.g. "SCRAM-SHA-256-PLUS")
 *  to *out. TD_OK or TD_ENOTFOUND (unsupported; RFC 6120 invalid-mechanism). */
int auth_sasl_mech_parse(const char *name, enum auth_sasl_mech *out);
/** The IANA name of m, for the <mechanisms/> feature. */
const char *auth_sasl_mech_name(enum auth_sasl_mech m);

struct auth_sasl;

/* Callbacks from the session (which reads the store). They are called only
 * from inside auth_sasl_step, on the caller's thread. */
struct auth_sasl_cbs {
    /* SCRAM: fill *out for authcid (an unescaped username, NUL-terminated,
     * valid UTF-8) and hash h. TD_OK; TD_ENOTFOUND if there is no such user
     * or no credential for h (the exchange goes on with a fake salt and
     * fails at the end); any other code fails with temporary-auth-failure. */
    int (*get_scram)(void *ud, const char *authcid, enum auth_scram_hash h,
                     struct auth_scram_cred *out);
    /* PLAIN: check password[0..len) (NUL-terminated too; valid until return,
     * copy it) for authcid. Return TD_EAGAIN and later call
     * auth_sasl_plain_result() (argon2 runs off the loop), or answer at once
     * with TD_OK (good), TD_EDENIED/TD_ENOTFOUND (bad), other (temporary
     * failure). */
    int (*check_plain)(void *ud, const char *authcid, const char *password, size_t len);
    /* Optional (NULL: the authzid must equal the authcid). TD_OK if authcid
     * may act as authzid (e.g. its own bare JID), anything else refuses
     * with invalid-authzid. */
    int (*check_authzid)(void *ud, const char *authcid, const char *authzid);
    /* OAUTHBEARER: check token[0..len) (NUL-terminated). TD_OK and *authcid
     * (the token's user, malloc'd; the caller's authzid is then checked
     * against it); TD_EDENIED with err_json filled (the RFC 7628 §3.2.2
     * error object, e.g. {"status":"invalid_token","scope":"chat"}); other
     * codes fail with temporary-auth-failure. NULL: the mechanism fails. */
    int (*check_bearer)(void *ud, const char *token, size_t len, char **authcid,
                        struct buf *err_json);
};

/** Start an attempt with mechanism m. cb is copied; ud is passed back.
 *  cb_type/cb_data[0..cb_len): the channel binding the transport can give
 *  (type name such as "tls-exporter", copied), or NULL/0 without one; a
 *  -PLUS mechanism without it fails at the first step (invalid-mechanism).
 *  plus_offered: the server advertised -PLUS mechanisms on this stream (a
 *  client flag 'y' is then a downgrade). Never NULL (aborts on OOM); an
 *  over-long cb_len also makes the first step fail. */
struct auth_sasl *auth_sasl_new(enum auth_sasl_mech m, const struct auth_sasl_cbs *cb, void *ud,
                                const char *cb_type, const uint8_t *cb_data, size_t cb_len,
                                bool plus_offered);
/** Feed one client message in[0..in_len) (base64-decoded; in may be NULL when
 *  in_len is 0). out is reset, then receives the server data. Returns:
 *  - TD_OK, *done=false: send *out as a <challenge/> (may be empty);
 *  - TD_OK, *done=true: authenticated; send *out (SCRAM "v=...", PLAIN
 *    empty) with <success/>; auth_sasl_authcid() names the user;
 *  - TD_EDENIED: failed; *condition is the RFC 6120 §6.5 element name
 *    ("not-authorized", "malformed-request", "invalid-authzid",
 *    "invalid-mechanism", "temporary-auth-failure", ...); the object stays
 *    failed and later steps repeat the condition;
 *  - TD_EAGAIN: PLAIN waits for auth_sasl_plain_result (out empty).
 *  An empty first message means "no initial response" (RFC 6120 §6.4.2):
 *  the server answers with an empty challenge, once. Callbacks may fire.
 *  condition is set on every return (NULL unless TD_EDENIED). */
int auth_sasl_step(struct auth_sasl *s, const char *in, size_t in_len, struct buf *out, bool *done,
                   const char **condition);
/** Deliver check_plain's asynchronous answer; then call auth_sasl_step(s,
 *  NULL, 0, ...) for the outcome. Ignored unless s is waiting for it. */
void auth_sasl_plain_result(struct auth_sasl *s, bool ok);
/** The authenticated username after success, else NULL. Owned by s. */
const char *auth_sasl_authcid(const struct auth_sasl *s);
/** Free s, wiping keys and nonces. NULL-safe. */
void auth_sasl_free(struct auth_sasl *s);

/** Tests only: use nonce (printable ASCII without ',', copied) as the SCRAM
 *  server nonce instead of a random one. Call before the first step. */
void auth_sasl__set_nonce(struct auth_sasl *s, const char *nonce);

#endif
