/* SPDX-License-Identifier: MIT */
/* Opaque bearer tokens (session cookies, API and OAuth tokens): 32 bytes from
 * the OS CSPRNG (randombytes_buf, 256 bits, so they cannot be guessed) as
 * unpadded base64url (RFC 4648 §5), 43 characters. Only the SHA-256 of the
 * token string is stored, so a leaked database holds no usable tokens; a
 * lookup hashes the presented token and finds the row by that hash. A slow
 * hash is not needed: the input already has full entropy. */
#ifndef TD_AUTH_TOKEN_H
#define TD_AUTH_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_LEN 43      /* characters of a token, without the NUL */
#define AUTH_TOKEN_HASH_LEN 32 /* bytes of its SHA-256 */

/** Make a new token: out gets 43 base64url characters and a NUL, hash the
 *  SHA-256 of those 43 characters. Always TD_OK (aborts if libsodium cannot start). */
int auth_token_new(char out[AUTH_TOKEN_LEN + 1], uint8_t hash[AUTH_TOKEN_HASH_LEN]);
/** SHA-256 of token[0..len), for looking up a presented token. token may be NULL if len is 0. */
void auth_token_hash(const char *token, size_t len, uint8_t hash[AUTH_TOKEN_HASH_LEN]);

#endif
