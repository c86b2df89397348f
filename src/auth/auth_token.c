/* SPDX-License-Identifier: MIT */
/* Opaque token generation and hashing; see auth_token.h. Encoding uses
 * libsodium's constant-time base64 so the secret's bits do not steer table
 * lookups, and the raw random bytes are wiped after use. */
#include "auth/auth_token.h"

#include "core/err.h"

#include <sodium.h>

int auth_token_new(char out[AUTH_TOKEN_LEN + 1], uint8_t hash[AUTH_TOKEN_HASH_LEN])
{
    uint8_t raw[32];

    TD_ASSERT(sodium_init() >= 0);
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2base64(out, AUTH_TOKEN_LEN + 1, raw, sizeof(raw),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof(raw));
    auth_token_hash(out, AUTH_TOKEN_LEN, hash);
    return TD_OK;
}

void auth_token_hash(const char *token, size_t len, uint8_t hash[AUTH_TOKEN_HASH_LEN])
{
    static const unsigned char empty[1] = {0};

    TD_ASSERT(sodium_init() >= 0);
    crypto_hash_sha256(hash, token ? (const unsigned char *)token : empty, token ? len : 0);
}
