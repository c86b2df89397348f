/* SPDX-License-Identifier: MIT */
/* Account and web-session services: the one place where a new account's
 * fields are judged, an account is created, and a login session is started,
 * resolved or ended. The web pages, the command line and (later) OAuth and
 * the messenger all call these; none of them touches the session table or
 * the account rules directly. Password hashing itself is auth_password's
 * job; callers hash (off the loop on the server) and pass the hash in. */
#ifndef TD_AUTH_ACCOUNT_H
#define TD_AUTH_ACCOUNT_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_DISPLAY_NAME_MAX 64 /* code points */
#define AUTH_BIO_MAX 500         /* code points */
#define AUTH_SESSION_TOKEN_LEN 43

/** NULL if pw is an acceptable new password, else a user-facing reason. */
const char *auth_password_policy(const char *pw, size_t len, size_t min_len);
/** NULL if the profile fields are acceptable, else a user-facing reason. */
const char *auth_profile_check(const char *display_name, const char *bio);

/** Create an account with an already hashed password (may be NULL: no
 * password login). The name must have passed auth_username_check().
 * TD_EEXIST if the name is taken (case-insensitively). out may be NULL. */
int auth_account_create(struct store *st, const char *username, const char *password_hash,
                        bool is_admin, struct account *out);

/** Start a session for account_id: writes the cookie token (43 chars + NUL)
 * to token; only its hash is stored. */
int auth_session_start(struct store *st, int64_t account_id, int days, const char *user_agent,
                       const char *address, char token[AUTH_SESSION_TOKEN_LEN + 1]);
/** The account behind a session token. TD_ENOTFOUND for unknown or expired
 * sessions, TD_EDENIED (and the session deleted) for a disabled account. */
int auth_session_resolve(struct store *st, const char *token, struct account *out);
/** When the session behind token logged in (ms since the epoch). */
int auth_session_auth_time(struct store *st, const char *token, int64_t *auth_time);
/** End one session. */
int auth_session_end(struct store *st, const char *token);
/** End every session of an account except the one holding keep_token (may be NULL). */
int auth_session_end_others(struct store *st, int64_t account_id, const char *keep_token);

/** Unix time in milliseconds. */
int64_t auth_now_ms(void);

#endif
