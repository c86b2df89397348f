/* SPDX-License-Identifier: MIT */
/* SCRAM credentials (RFC 5802 §3, RFC 7677): from a password, a salt and an
 * iteration count derive SaltedPassword = PBKDF2-HMAC-H(SASLprep(password),
 * salt, i), then StoredKey = H(HMAC(SaltedPassword, "Client Key")) and
 * ServerKey = HMAC(SaltedPassword, "Server Key"). Only those two keys, the
 * salt and the count are kept (never the password), in the RFC 5803 text
 * form "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>".
 * Derivation is CPU-heavy (PBKDF2): callers on the loop thread run it on the
 * thread pool; every function here is synchronous, allocation-free apart
 * from the output buffer, and thread-safe. SASLprep (RFC 4013) is partial:
 * the password must be valid UTF-8; non-ASCII spaces (C.1.2) map to U+0020,
 * "commonly mapped to nothing" characters (B.1) are removed, and prohibited
 * output (C.2.1/C.2.2 controls, C.3 private use, C.4 non-characters, C.6,
 * C.7, C.8, C.9) is refused. NFKC normalisation, the bidi rule (§6) and the
 * unassigned-code-point check are not done: ASCII passwords and non-ASCII
 * passwords already in NFKC form (what keyboards produce almost always)
 * derive the same keys as a client doing full SASLprep. */
#ifndef TD_AUTH_SCRAM_H
#define TD_AUTH_SCRAM_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Iteration counts. RFC 7677 §4 asks for at least 4096. The derived keys sit
 * in the database beside the argon2id hash and are the weaker verifier of
 * the two, so we ask more for SHA-256 (10000, as Prosody does; a phone
 * computes it in well under a second and clients cache SaltedPassword);
 * SHA-1 is for old clients only and stays at the 4096 they all expect. */
#define AUTH_SCRAM_ITER_MIN 4096
#define AUTH_SCRAM_ITER_MAX 1000000 /* bounds client work and a stored string's claim */
#define AUTH_SCRAM_ITER_SHA1 4096
#define AUTH_SCRAM_ITER_SHA256 10000
#define AUTH_SCRAM_SALT_LEN 16       /* random salt made by auth_scram_derive */
#define AUTH_SCRAM_SALT_MAX 32       /* most salt bytes accepted anywhere */
#define AUTH_SCRAM_KEY_MAX 32        /* SHA-256 output */
#define AUTH_SCRAM_PASSWORD_MAX 1024 /* longer passwords are refused (DoS guard) */

enum auth_scram_hash { AUTH_SCRAM_SHA1, AUTH_SCRAM_SHA256 };

struct auth_scram_cred {
    enum auth_scram_hash hash;
    uint8_t salt[AUTH_SCRAM_SALT_MAX];
    size_t salt_len;     /* 1..AUTH_SCRAM_SALT_MAX */
    uint32_t iterations; /* AUTH_SCRAM_ITER_MIN..AUTH_SCRAM_ITER_MAX */
    uint8_t stored_key[AUTH_SCRAM_KEY_MAX];
    uint8_t server_key[AUTH_SCRAM_KEY_MAX];
    size_t key_len; /* 20 (SHA-1) or 32 (SHA-256) */
};

/** Output bytes of hash h (20 or 32). */
size_t auth_scram_hash_len(enum auth_scram_hash h);
/** Mechanism-style name: "SCRAM-SHA-1" or "SCRAM-SHA-256". */
const char *auth_scram_hash_name(enum auth_scram_hash h);

/** Derive credentials for password[0..len) with a fresh random 16-byte salt.
 *  iterations 0 picks the default for h (AUTH_SCRAM_ITER_SHA1/_SHA256).
 *  Blocking (PBKDF2). TD_OK, or TD_EINVAL for a password that is empty, too
 *  long, not UTF-8 or refused by SASLprep, or iterations out of range;
 *  *out is zeroed on error. */
int auth_scram_derive(enum auth_scram_hash h, const char *password, size_t len, uint32_t iterations,
                      struct auth_scram_cred *out);
/** As auth_scram_derive with the given salt (1..32 bytes) and a non-zero
 *  iteration count (test vectors, re-deriving). */
int auth_scram_derive_salted(enum auth_scram_hash h, const char *password, size_t len,
                             const uint8_t *salt, size_t salt_len, uint32_t iterations,
                             struct auth_scram_cred *out);
/** True if password[0..len) is the one c was derived from: PBKDF2 with c's
 *  salt and count, then StoredKey compared in constant time (how a server
 *  checks SASL PLAIN against its SCRAM keys). Blocking. */
bool auth_scram_check(const struct auth_scram_cred *c, const char *password, size_t len);
/** auth_scram_check on libuv's thread pool; password and c are copied (the
 *  copy is wiped). c NULL: run the same work against a fixed dummy
 *  credential (an unknown account takes as long) and report false. cb gets
 *  (ud, ok, NULL) on the loop thread. TD_EINVAL for bad arguments, TD_EIO if
 *  the work cannot be queued. */
typedef void auth_scram_check_cb(void *ud, bool ok, const char *unused);
int auth_scram_check_async(uv_loop_t *loop, const struct auth_scram_cred *c,
                           const char *password, size_t len, auth_scram_check_cb *cb, void *ud);
/** Append the RFC 5803 text form of c to out. TD_OK; TD_EINVAL for an
 *  inconsistent c; TD_ETOOBIG at out's ceiling (out is then unchanged). */
int auth_scram_cred_format(const struct auth_scram_cred *c, struct buf *out);
/** Parse the RFC 5803 text form (NUL-terminated) strictly: known mechanism
 *  name, decimal count in range without leading zeros, canonical base64,
 *  keys of the hash's length. TD_OK or TD_EINVAL (*out zeroed). */
int auth_scram_cred_parse(const char *s, struct auth_scram_cred *out);

/* For auth_sasl.c (module-internal). */
/** out[0..hash_len) = HMAC-H(key, data). */
void auth_scram__hmac(enum auth_scram_hash h, const uint8_t *key, size_t key_len, const void *data,
                      size_t len, uint8_t *out);
/** out[0..hash_len) = H(data). */
void auth_scram__digest(enum auth_scram_hash h, const void *data, size_t len, uint8_t *out);

#endif
