/* SPDX-License-Identifier: MIT */
/* JOSE for the OpenID Connect provider and relying party: signing keys
 * (RSA 2048, P-256, Ed25519) wrapped with their kid and algorithm, PKCS#8 PEM
 * for storage, public JWK/JWKS export and import (RFC 7517 §4-5, RFC 7518
 * §6.2-6.3, RFC 8037 §2), JWK thumbprints as kids (RFC 7638 §3), compact JWS
 * signing and verification of JWTs (RFC 7515 §5.1-5.2 and §7.1, RFC 7519
 * §7.2), id_token claim checks (OpenID Connect Core §3.1.3.7) and at_hash /
 * c_hash (Core §3.1.3.6, §3.3.2.11). Only RS256, ES256 (signature as raw
 * R||S, RFC 7518 §3.4) and EdDSA with Ed25519 (RFC 8037 §3.1) exist here;
 * "none", HMAC and everything else are refused, and a token's alg must equal
 * the algorithm bound to the key it names, so no alg-confusion is possible.
 * This is the only code that touches key cryptography; it uses OpenSSL 3 EVP
 * only. Keys are immutable after creation. Nothing here fetches keys (jku,
 * x5u and embedded jwk headers are ignored) or reads the clock. */
#ifndef TD_OAUTH_JOSE_H
#define TD_OAUTH_JOSE_H

#include "core/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOSE_MAX_TOKEN 16384  /* bytes of a compact JWS we accept to verify */
#define JOSE_MAX_PEM 16384    /* bytes of a PEM private key we accept */
#define JOSE_MAX_KID 128      /* bytes of a kid (ours are 43) */
#define JOSE_MAX_JWKS_KEYS 32 /* keys imported from one JWKS */
#define JOSE_MAX_LEEWAY 600   /* seconds of clock skew jose_jwt_check_claims allows at most */

enum jose_alg {
    JOSE_RS256, /* RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3 */
    JOSE_ES256, /* ECDSA P-256 with SHA-256, RFC 7518 §3.4 */
    JOSE_EDDSA, /* EdDSA with Ed25519, RFC 8037 §3.1 */
};

struct jose_key; /* EVP_PKEY + kid + alg; private or public-only; immutable */

/** "RS256", "ES256" or "EdDSA". */
const char *jose_alg_name(enum jose_alg a);
/** Parse an alg name (case-sensitive, RFC 7515 §4.1.1). TD_EINVAL for anything else,
 *  including "none" and HMAC algorithms. */
int jose_alg_parse(const char *name, enum jose_alg *out);

/** Generate a new private key for alg (RSA 2048 with e=65537, P-256, Ed25519); its kid is
 *  the RFC 7638 thumbprint. CPU-heavy for RSA (tens of ms): call from a worker thread.
 *  TD_OK (*out owned by the caller) or TD_EIO. */
int jose_key_generate(enum jose_alg alg, struct jose_key **out);
/** Append the private key as PKCS#8 PEM ("BEGIN PRIVATE KEY", unencrypted) for storage.
 *  TD_EINVAL for a public-only key, TD_ETOOBIG if out's ceiling is reached, TD_EIO. */
int jose_key_to_pem(const struct jose_key *k, struct buf *out);
/** Load a PEM private key (PKCS#8 or traditional, never encrypted) for alg; the key type
 *  must match alg (RSA of 2048..8192 bits, P-256, Ed25519); kid = thumbprint.
 *  TD_ETOOBIG past JOSE_MAX_PEM, TD_EINVAL for anything unusable. */
int jose_key_from_pem(enum jose_alg alg, const char *pem, size_t len, struct jose_key **out);
/** Public JWK: {"kty","use":"sig","alg","kid", "n","e" | "crv","x","y" | "crv","x"}.
 *  New reference for the caller; NULL only if OpenSSL fails. */
json_t *jose_key_public_jwk(const struct jose_key *k);
/** JWKS {"keys":[...]} of the public halves of keys[0..n). New reference; NULL on failure. */
json_t *jose_jwks(struct jose_key *const *keys, size_t n);
/** Import one public JWK. kty RSA (alg RS256, 2048..8192 bits), EC (crv P-256, alg ES256)
 *  or OKP (crv Ed25519, alg EdDSA); "alg" and "use" are checked when present ("sig");
 *  private members (d, p, q, dp, dq, qi, oth, k) are refused. kid = the JWK's "kid", or
 *  the thumbprint when absent. TD_OK or TD_EINVAL (the caller skips such keys). */
int jose_key_from_jwk(const json_t *jwk, struct jose_key **out);
/** Import the usable keys of a JWKS document (unusable ones are skipped, at most
 *  JOSE_MAX_JWKS_KEYS kept). *keys is a new array (free with jose_keys_free).
 *  TD_EINVAL if jwks is not {"keys":[...]}, TD_ENOTFOUND if no key was usable. */
int jose_jwks_import(const json_t *jwks, struct jose_key ***keys, size_t *nkeys);
/** Free keys[0..n) and the array. NULL-safe. */
void jose_keys_free(struct jose_key **keys, size_t n);
/** Append the RFC 7638 thumbprint (base64url SHA-256, 43 chars). TD_OK, TD_ETOOBIG, TD_EIO. */
int jose_key_thumbprint(const struct jose_key *k, struct buf *out);
/** The key's kid (NUL-terminated, owned by the key). */
const char *jose_key_kid(const struct jose_key *k);
enum jose_alg jose_key_alg(const struct jose_key *k);
bool jose_key_is_private(const struct jose_key *k);
/** Another reference to k (thread-safe): a worker thread can sign with a key while the
 *  loop replaces its key set. Each reference is dropped with jose_key_free(). */
struct jose_key *jose_key_ref(const struct jose_key *k);
/** Drop a reference; the last one frees the key. NULL-safe. */
void jose_key_free(struct jose_key *k);

/** Sign input[0..len) (a JWS signing input) and append the base64url signature; ES256
 *  signatures are raw R||S (64 bytes). TD_EINVAL for a public-only key, TD_ETOOBIG, TD_EIO. */
int jose_sign_input(const struct jose_key *k, const void *input, size_t len, struct buf *out);
/** Append a compact JWS of the claims object with header {"alg","kid","typ":"JWT"}.
 *  TD_EINVAL if claims is not an object or the key is public-only, TD_ETOOBIG, TD_EIO.
 *  On error out is left as it was. */
int jose_sign_jwt(const struct jose_key *k, const json_t *claims, struct buf *out);
/** Verify a compact JWS token[0..len) against keys[0..nkeys) and return its payload object
 *  in *claims (caller decrefs). The key is the one whose kid equals the header's kid, or,
 *  without a kid, the only key of the header's alg. Checks no claims (see
 *  jose_jwt_check_claims). *why gets a static reason on failure (never NULL).
 *  Returns TD_OK; TD_ETOOBIG past JOSE_MAX_TOKEN; TD_EINVAL for malformed tokens (segments,
 *  base64url, JSON, header members); TD_EDENIED for a refused alg ("none", unsupported,
 *  crit, or differing from the key's) or a bad signature; TD_ENOTFOUND if no key fits. */
int jose_verify_jwt(const char *token, size_t len, struct jose_key *const *keys, size_t nkeys,
                    json_t **claims, const char **why);
/** id_token checks (OIDC Core §3.1.3.7): iss equals iss; sub is a non-empty string; aud is
 *  aud or an array containing it; azp, if present, equals aud; exp > now - leeway; iat
 *  present and <= now + leeway; nbf, if present, <= now + leeway; nonce equals nonce when
 *  nonce is non-NULL. leeway_s is clamped to 0..JOSE_MAX_LEEWAY. iss and aud are required.
 *  TD_OK, TD_EDENIED (*why says which check) or TD_EINVAL for bad arguments. */
int jose_jwt_check_claims(const json_t *claims, const char *iss, const char *aud, const char *nonce,
                          int64_t now_s, int leeway_s, const char **why);
/** at_hash / c_hash (OIDC Core §3.1.3.6): base64url of the left half of the hash of the
 *  ASCII token: SHA-256 for RS256/ES256, SHA-512 for EdDSA (the hash Ed25519 uses
 *  internally, as OIDF conformance and most libraries do). Appends 22 or 43 chars.
 *  TD_OK, TD_ETOOBIG or TD_EIO. */
int jose_half_hash(enum jose_alg alg, const char *token, size_t len, struct buf *out);

#endif
