/* SPDX-License-Identifier: MIT */
/* Password hashing with argon2id (RFC 9106) through libsodium's
 * crypto_pwhash_str, at the OPSLIMIT/MEMLIMIT_INTERACTIVE cost (t=2, 64 MiB),
 * stored as the PHC string ("$argon2id$v=19$m=...,t=...,p=...$salt$hash") so
 * the parameters travel with each hash and can be raised later
 * (auth_password_needs_rehash). A hash takes tens of milliseconds and 64 MiB,
 * so the loop thread never calls the blocking functions: it uses the _async
 * versions, which run on the libuv thread pool (uv_queue_work) and report
 * back on the loop thread. Passwords longer than AUTH_PASSWORD_MAX bytes are
 * refused before any hashing (a denial-of-service guard). Passwords are
 * opaque bytes here; Unicode normalisation (RFC 8265 OpaqueString) is the
 * caller's choice. This module never logs a password or a hash. */
#ifndef TD_AUTH_PASSWORD_H
#define TD_AUTH_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define AUTH_PASSWORD_MAX 1024     /* longer input is refused before hashing (DoS guard) */
/* Bytes of a hash string with its NUL (crypto_pwhash_STRBYTES). */
#define AUTH_PASSWORD_HASH_MAX 128

/** Hash pw[0..len) into out (a NUL-terminated PHC string). Blocking: thread
 *  pool or tools only. TD_OK; TD_EINVAL if len > AUTH_PASSWORD_MAX or pw is
 *  NULL with len > 0; TD_ENOMEM if argon2 could not get its memory. */
int auth_password_hash(const char *pw, size_t len, char out[AUTH_PASSWORD_HASH_MAX]);
/** True if pw[0..len) matches hash. Blocking. False for a malformed or
 *  unterminated (>= 128 bytes) hash and for len > AUTH_PASSWORD_MAX. */
bool auth_password_verify(const char *hash, const char *pw, size_t len);
/** True if hash was made with other parameters or algorithm than the current
 *  ones (or is malformed): rehash the password after the next good login. Cheap. */
bool auth_password_needs_rehash(const char *hash);

/* Completion callback, always called once on the loop thread for a call that
 * returned TD_OK. For hash: ok=true and hash = the new PHC string (valid only
 * during the call; copy it) on success, ok=false and hash=NULL on failure.
 * For verify and dummy: ok = the password matched; hash is NULL. */
typedef void auth_password_cb(void *ud, bool ok, const char *hash);

/** Hash on the thread pool. pw is copied (and wiped after use), so the caller
 *  may free it at once. TD_OK (cb will fire), TD_EINVAL (too long or NULL
 *  with len > 0; cb will not fire) or TD_EIO (uv_queue_work failed; cb will
 *  not fire). */
int auth_password_hash_async(uv_loop_t *loop, const char *pw, size_t len, auth_password_cb *cb,
                             void *ud);
/** Verify on the thread pool. hash and pw are copied. Returns as
 *  auth_password_hash_async, plus TD_EINVAL for a NULL or unterminated hash. */
int auth_password_verify_async(uv_loop_t *loop, const char *hash, const char *pw, size_t len,
                               auth_password_cb *cb, void *ud);
/** Verify pw against a fixed dummy hash with the current parameters; ok is
 *  always false. Call it when the account does not exist so that a login
 *  takes the same time either way (no username enumeration by timing).
 *  Returns as auth_password_hash_async. */
int auth_password_dummy_async(uv_loop_t *loop, const char *pw, size_t len, auth_password_cb *cb,
                              void *ud);

#endif
