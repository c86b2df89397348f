/* SPDX-License-Identifier: MIT */
/* CSRF protection with signed double-submit tokens (OWASP CSRF Prevention
 * Cheat Sheet, "Signed Double-Submit Cookie"). Each browser gets a random
 * csrf cookie (auth_csrf_new_cookie); every state-changing form carries
 * token = base64url(HMAC-SHA256(key, "csrf:" || cookie)) (RFC 2104, RFC 4648
 * §5 without padding). A request is accepted only if the form token matches
 * the cookie it arrived with. An attacker on another origin can neither read
 * the cookie nor compute the HMAC without the server key, and a cookie planted
 * by a sibling subdomain is useless without its matching token. Binding the
 * cookie to the session (rotating it at login) is the caller's job. */
#ifndef TD_AUTH_CSRF_H
#define TD_AUTH_CSRF_H

#include <stdbool.h>
#include <stdint.h>

#define AUTH_CSRF_KEY_LEN 32
#define AUTH_CSRF_LEN 43 /* characters of a cookie value or a token, without the NUL */

struct auth_csrf; /* holds a copy of the 32-byte key */

/** New checker keeping a copy of key (the caller may wipe its own). Free with auth_csrf_free. */
struct auth_csrf *auth_csrf_new(const uint8_t key[AUTH_CSRF_KEY_LEN]);
/** Wipe the key and free. NULL-safe. */
void auth_csrf_free(struct auth_csrf *c);
/** A fresh random cookie value: 43 base64url characters and a NUL (256 bits). */
void auth_csrf_new_cookie(char out[AUTH_CSRF_LEN + 1]);
/** The form token for cookie: 43 base64url characters and a NUL. A NULL cookie
 *  gives an empty string, which auth_csrf_check always refuses. */
void auth_csrf_token(const struct auth_csrf *c, const char *cookie, char out[AUTH_CSRF_LEN + 1]);
/** True if token is the token for cookie. Constant time in the token's
 *  content; false if either is NULL, empty or not exactly 43 characters. */
bool auth_csrf_check(const struct auth_csrf *c, const char *cookie, const char *token);

#endif
