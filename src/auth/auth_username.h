/* SPDX-License-Identifier: MIT */
/* Username policy. A name is 1 to 30 ASCII letters, digits or underscores,
 * Mastodon's rule for local accounts (so the name also works as an
 * ActivityPub/WebFinger handle) and a valid XMPP localpart (RFC 7622 §3.3:
 * only IdentifierClass code points, none of the forbidden " & ' / : < > @).
 * Names are case-insensitive: store and look them up lowercased
 * (auth_username_lower). Names that could be confused with the site's own
 * paths, services or staff are reserved. */
#ifndef TD_AUTH_USERNAME_H
#define TD_AUTH_USERNAME_H

#define AUTH_USERNAME_MAX 30

/** NULL if name is acceptable, else a short user-facing reason:
 *  "Usernames are 1 to 30 characters: letters a–z, digits and underscore." or
 *  "That name is reserved." A NULL name gets the first reason. */
const char *auth_username_check(const char *name);
/** Copy at most AUTH_USERNAME_MAX bytes of name into out, ASCII-lowercased,
 *  NUL-terminated (other bytes are copied unchanged). A NULL name gives "". */
void auth_username_lower(const char *name, char out[AUTH_USERNAME_MAX + 1]);

#endif
