/* SPDX-License-Identifier: MIT */
/* JOSE: keys, JWK/JWKS, RFC 7638 thumbprints, compact JWS sign/verify and
 * id_token claim checks, over OpenSSL 3 EVP and jansson. Implements RFC 7515
 * §5.1 (signing) and §5.2 (validation, with §4.1.11: any "crit" header is
 * refused because we understand no extensions), RFC 7518 §3.3 (RS256, keys of
 * at least 2048 bits), §3.4 (ES256, R||S each 32 bytes; DER is converted at
 * the OpenSSL boundary), §6.2.1 (EC x/y must be full length), §6.3.1 (RSA
 * n/e without leading zeros on export), RFC 8037 §2-3 (OKP Ed25519), RFC 7638
 * §3.2-3.3 (canonical thumbprint input) and OIDC Core §3.1.3.6-3.1.3.7.
 * Deliberate choices: the key decides the algorithm (a token whose alg differs
 * from its key's is refused before any cryptography); tokens, headers and
 * signatures are size-capped and JSON nesting is capped before jansson parses
 * anything; OpenSSL's error queue is cleared on every failure so it does not
 * leak into the TLS code sharing the thread; key material is never logged. */
#include "oauth/jose.h"

#include "core/codec.h"
#include "core/err.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RSA_MIN_BITS 2048 /* RFC 7518 §3.3: 2048 or larger */
#define RSA_MAX_BITS 8192 /* bounds verification cost and buffers */
#define RSA_MAX_BYTES (RSA_MAX_BITS / 8)
#define RSA_MAX_E_BYTES 8 /* public exponents are 3 bytes in practice */
#define P256_BYTES 32     /* RFC 7518 §6.2.1.2: x, y exactly 32 bytes */
#define ED25519_BYTES 32  /* RFC 8037 §2 */
#define SIG_MAX RSA_MAX_BYTES
#define HEADER_MAX_B64 2048 /* a JOSE header has a handful of short members */
#define JSON_MAX_DEPTH 16   /* JWT claims are flat; nested objects stay shallow */
#define SUB_MAX 255         /* OIDC Core §2: sub at most 255 ASCII characters */

struct jose_key {
    atomic_int refs;   /* references beyond the first (jose_key_ref) */
    EVP_PKEY *pkey;    /* owned */
    enum jose_alg alg; /* the only alg this key signs or verifies */
    bool is_private;   /* pkey holds the private half */
    char kid[JOSE_MAX_KID + 1];
};

/* Clear OpenSSL's thread-local error queue and return rc. */
static int ossl_fail(int rc)
{
    ERR_clear_error();
    return rc;
}

const char *jose_alg_name(enum jose_alg a)
{
    switch (a) {
    case JOSE_RS256: return "RS256";
    case JOSE_ES256: return "ES256";
    case JOSE_EDDSA: return "EdDSA";
    }
    return "?";
}

int jose_alg_parse(const char *name, enum jose_alg *out)
{
    if (name == NULL)
        return TD_EINVAL;
    /* RFC 7515 §4.1.1: the value is case-sensitive. */
    if (strcmp(name, "RS256") == 0)
        *out = JOSE_RS256;
    else if (strcmp(name, "ES256") == 0)
        *out = JOSE_ES256;
    else if (strcmp(name, "EdDSA") == 0)
        *out = JOSE_EDDSA;
    else
        return TD_EINVAL;
    return TD_OK;
}

const char *jose_key_kid(const struct jose_key *k)
{
    return k->kid;
}

enum jose_alg jose_key_alg(const struct jose_key *k)
{
    return k->alg;
}

bool jose_key_is_private(const struct jose_key *k)
{
    return k->is_private;
}

struct jose_key *jose_key_ref(const struct jose_key *k)
{
    /* The count is bookkeeping, not part of the (immutable) key. */
    struct jose_key *m = (struct jose_key *)k;

    atomic_fetch_add(&m->refs, 1);
    return m;
}

void jose_key_free(struct jose_key *k)
{
    if (k == NULL)
        return;
    if (atomic_fetch_sub(&k->refs, 1) > 0)
        return; /* another holder remains */
    EVP_PKEY_free(k->pkey);
    free(k);
}

void jose_keys_free(struct jose_key **keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        jose_key_free(keys[i]);
    free(keys);
}

/* Append base64url of a non-negative big number: minimal big-endian bytes
 * (RFC 7518 §6.3.1.1), or exactly pad bytes when pad > 0 (§6.2.1.2). */
static int b64url_bn(struct buf *out, const BIGNUM *bn, int pad)
{
    uint8_t tmp[RSA_MAX_BYTES];
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    int rc;

    if (n <= 0 || n > (int)sizeof(tmp))
        return TD_EIO;
    if (pad > 0 ? BN_bn2binpad(bn, tmp, pad) != pad : BN_bn2bin(bn, tmp) != n)
        return ossl_fail(TD_EIO);
    rc = codec_b64url_encode(out, tmp, (size_t)n);
    OPENSSL_cleanse(tmp, sizeof(tmp));
    return rc;
}

/* Append base64url of the public numbers of k: RSA n and e, EC x and y, OKP x
 * (b unused). These are the inputs of both the JWK and the thumbprint. */
static int key_pub_parts(const struct jose_key *k, struct buf *a, struct buf *b)
{
    BIGNUM *x = NULL, *y = NULL;
    uint8_t raw[ED25519_BYTES];
    size_t raw_len = sizeof(raw);
    int rc = TD_EIO;

    switch (k->alg) {
    case JOSE_RS256:
        if (!EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_N, &x) ||
            !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_RSA_E, &y))
            goto out;
        rc = b64url_bn(a, x, 0);
        if (rc == TD_OK)
            rc = b64url_bn(b, y, 0);
        break;
    case JOSE_ES256:
        if (!EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
            !EVP_PKEY_get_bn_param(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y))
            goto out;
        rc = b64url_bn(a, x, P256_BYTES);
        if (rc == TD_OK)
            rc = b64url_bn(b, y, P256_BYTES);
        break;
    case JOSE_EDDSA:
        if (!EVP_PKEY_get_raw_public_key(k->pkey, raw, &raw_len) || raw_len != ED25519_BYTES)
            goto out;
        rc = codec_b64url_encode(a, raw, raw_len);
        break;
    }
out:
    BN_free(x);
    BN_free(y);
    return rc == TD_EIO ? ossl_fail(rc) : rc;
}

int jose_key_thumbprint(const struct jose_key *k, struct buf *out)
{
    struct buf a, b, canon;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc;

    buf_init(&a, 0);
    buf_init(&b, 0);
    buf_init(&canon, 0);
    rc = key_pub_parts(k, &a, &b);
    if (rc != TD_OK)
        goto out;
    /* RFC 7638 §3.2-3.3: required members only, lexicographic order, no
     * whitespace. base64url and the fixed names need no JSON escaping. */
    switch (k->alg) {
    case JOSE_RS256:
        rc = buf_printf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b.data, a.data);
        break;
    case JOSE_ES256:
        rc = buf_printf(&canon, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                        a.data, b.data);
        break;
    case JOSE_EDDSA:
        rc = buf_printf(&canon, "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}", a.data);
        break;
    }
    if (rc != TD_OK)
        goto out;
    if (!EVP_Digest(canon.data, canon.len, md, &md_len, EVP_sha256(), NULL)) {
        rc = ossl_fail(TD_EIO);
        goto out;
    }
    rc = codec_b64url_encode(out, md, md_len);
out:
    buf_free(&a);
    buf_free(&b);
    buf_free(&canon);
    return rc;
}

/* Wrap pkey (ownership passes in, freed on error) as a key with kid = kid, or
 * the thumbprint when kid is NULL. */
static int key_wrap(EVP_PKEY *pkey, enum jose_alg alg, bool is_private, const char *kid,
                    struct jose_key **out)
{
    struct jose_key *k = td_calloc(1, sizeof(*k));
    struct buf tp;
    int rc = TD_OK;

    k->pkey = pkey;
    k->alg = alg;
    k->is_private = is_private;
    if (kid != NULL) {
        size_t n = strlen(kid);
        if (n == 0 || n > JOSE_MAX_KID) {
            rc = TD_EINVAL;
            goto out;
        }
        memcpy(k->kid, kid, n + 1);
    } else {
        buf_init(&tp, JOSE_MAX_KID);
        rc = jose_key_thumbprint(k, &tp);
        if (rc == TD_OK)
            memcpy(k->kid, tp.data, tp.len + 1);
        buf_free(&tp);
    }
out:
    if (rc != TD_OK) {
        jose_key_free(k);
        k = NULL;
    }
    *out = k;
    return rc;
}

/* Does pkey have the type alg needs (and for RSA a usable size)? */
static bool pkey_fits_alg(EVP_PKEY *pkey, enum jose_alg alg)
{
    char group[32];
    int bits;

    switch (alg) {
    case JOSE_RS256:
        if (!EVP_PKEY_is_a(pkey, "RSA"))
            return false;
        bits = EVP_PKEY_get_bits(pkey);
        return bits >= RSA_MIN_BITS && bits <= RSA_MAX_BITS;
    case JOSE_ES256:
        if (!EVP_PKEY_is_a(pkey, "EC"))
            return false;
        if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                            NULL))
            return false;
        return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0;
    case JOSE_EDDSA: return EVP_PKEY_is_a(pkey, "ED25519");
    }
    return false;
}

int jose_key_generate(enum jose_alg alg, struct jose_key **out)
{
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    switch (alg) {
    case JOSE_RS256: pkey = EVP_RSA_gen(RSA_MIN_BITS); break;
    case JOSE_ES256: pkey = EVP_EC_gen("P-256"); break;
    case JOSE_EDDSA: pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
    }
    if (pkey == NULL)
        return ossl_fail(TD_EIO);
    return key_wrap(pkey, alg, true, NULL, out);
}

int jose_key_to_pem(const struct jose_key *k, struct buf *out)
{
    BIO *bio = NULL;
    char *p = NULL;
    long n;
    int rc = TD_EIO;

    if (!k->is_private)
        return TD_EINVAL;
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        goto out;
    /* PEM_write_bio_PrivateKey writes PKCS#8 ("BEGIN PRIVATE KEY"). */
    if (!PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL))
        goto out;
    n = BIO_get_mem_data(bio, &p);
    if (n <= 0 || p == NULL)
        goto out;
    rc = buf_append(out, p, (size_t)n);
out:
    if (bio != NULL) {
        /* The BIO held the private key in clear; wipe it before freeing. */
        n = BIO_get_mem_data(bio, &p);
        if (n > 0 && p != NULL)
            OPENSSL_cleanse(p, (size_t)n);
        BIO_free(bio);
    }
    return rc == TD_EIO ? ossl_fail(rc) : rc;
}

/* Never prompt on a terminal for a passphrase: encrypted keys simply fail. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

int jose_key_from_pem(enum jose_alg alg, const char *pem, size_t len, struct jose_key **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    int rc = TD_EINVAL;

    *out = NULL;
    if (len > JOSE_MAX_PEM)
        return TD_ETOOBIG;
    if (pem == NULL || len == 0)
        return TD_EINVAL;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = TD_EIO;
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    if (pkey == NULL || !pkey_fits_alg(pkey, alg))
        goto out;
    rc = key_wrap(pkey, alg, true, NULL, out);
    pkey = NULL; /* owned by the key now, or freed */
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc == TD_OK ? rc : ossl_fail(rc);
}

json_t *jose_key_public_jwk(const struct jose_key *k)
{
    struct buf a, b;
    json_t *jwk = NULL;

    buf_init(&a, 0);
    buf_init(&b, 0);
    if (key_pub_parts(k, &a, &b) != TD_OK)
        goto out;
    jwk = json_object();
    if (jwk == NULL)
        goto out;
    switch (k->alg) {
    case JOSE_RS256: json_object_set_new(jwk, "kty", json_string("RSA")); break;
    case JOSE_ES256:
        json_object_set_new(jwk, "kty", json_string("EC"));
        json_object_set_new(jwk, "crv", json_string("P-256"));
        break;
    case JOSE_EDDSA:
        json_object_set_new(jwk, "kty", json_string("OKP"));
        json_object_set_new(jwk, "crv", json_string("Ed25519"));
        break;
    }
    json_object_set_new(jwk, "use", json_string("sig"));
    json_object_set_new(jwk, "alg", json_string(jose_alg_name(k->alg)));
    json_object_set_new(jwk, "kid", json_string(k->kid));
    if (k->alg == JOSE_RS256) {
        json_object_set_new(jwk, "n", json_string(a.data));
        json_object_set_new(jwk, "e", json_string(b.data));
    } else {
        json_object_set_new(jwk, "x", json_string(a.data));
        if (k->alg == JOSE_ES256)
            json_object_set_new(jwk, "y", json_string(b.data));
    }
out:
    buf_free(&a);
    buf_free(&b);
    return jwk;
}

json_t *jose_jwks(struct jose_key *const *keys, size_t n)
{
    json_t *arr = json_array();
    json_t *jwks;

    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *jwk = jose_key_public_jwk(keys[i]);
        if (jwk == NULL || json_array_append_new(arr, jwk) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    jwks = json_object();
    if (jwks == NULL || json_object_set_new(jwks, "keys", arr) != 0) {
        json_decref(jwks);
        return NULL;
    }
    return jwks;
}

/* Decode the base64url string member name of jwk into out[0..cap). */
static int jwk_bytes(const json_t *jwk, const char *name, uint8_t *out, size_t cap, size_t *out_len)
{
    const json_t *v = json_object_get(jwk, name);

    if (!json_is_string(v))
        return TD_EINVAL;
    return codec_b64url_decode(json_string_value(v), json_string_length(v), out, cap, out_len);
}

/* Build a public EVP_PKEY of key type name from params. */
static EVP_PKEY *pkey_from_params(const char *name, OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL);
    EVP_PKEY *pkey = NULL;

    if (ctx == NULL)
        return NULL;
    if (EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

static EVP_PKEY *jwk_rsa(const json_t *jwk)
{
    uint8_t n[RSA_MAX_BYTES], e[RSA_MAX_E_BYTES];
    size_t n_len, e_len;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY *pkey = NULL;

    if (jwk_bytes(jwk, "n", n, sizeof(n), &n_len) != TD_OK ||
        jwk_bytes(jwk, "e", e, sizeof(e), &e_len) != TD_OK)
        return NULL;
    /* RFC 7518 §6.3.1: minimal encodings; e must be odd and > 1. */
    if (n_len == 0 || n[0] == 0 || e_len == 0 || e[0] == 0 || (e[e_len - 1] & 1) == 0 ||
        (e_len == 1 && e[0] == 1))
        return NULL;
    bn_n = BN_bin2bn(n, (int)n_len, NULL);
    bn_e = BN_bin2bn(e, (int)e_len, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn_n == NULL || bn_e == NULL || bld == NULL)
        goto out;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e))
        goto out;
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL)
        goto out;
    pkey = pkey_from_params("RSA", params);
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    return pkey;
}

static EVP_PKEY *jwk_ec(const json_t *jwk)
{
    uint8_t point[1 + 2 * P256_BYTES];
    size_t x_len, y_len;
    char group[] = "prime256v1";
    OSSL_PARAM params[3];
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *ctx;
    int ok;

    /* RFC 7518 §6.2.1.2-3: x and y are exactly the coordinate size. */
    if (jwk_bytes(jwk, "x", point + 1, P256_BYTES, &x_len) != TD_OK || x_len != P256_BYTES ||
        jwk_bytes(jwk, "y", point + 1 + P256_BYTES, P256_BYTES, &y_len) != TD_OK ||
        y_len != P256_BYTES)
        return NULL;
    point[0] = 0x04; /* SEC 1 uncompressed point */
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    pkey = pkey_from_params("EC", params);
    if (pkey == NULL)
        return NULL;
    /* The point must lie on the curve (and not be the point at infinity). */
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    ok = ctx != NULL && EVP_PKEY_public_check(ctx) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    return pkey;
}

static EVP_PKEY *jwk_okp(const json_t *jwk)
{
    uint8_t x[ED25519_BYTES];
    size_t x_len;

    if (jwk_bytes(jwk, "x", x, sizeof(x), &x_len) != TD_OK || x_len != ED25519_BYTES)
        return NULL;
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, x_len);
}

/* Is member name, if present, a string equal to want? Absent counts as equal. */
static bool member_absent_or_is(const json_t *obj, const char *name, const char *want)
{
    const json_t *v = json_object_get(obj, name);

    if (v == NULL)
        return true;
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

int jose_key_from_jwk(const json_t *jwk, struct jose_key **out)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
    const char *kty, *crv, *kid = NULL;
    const json_t *v;
    enum jose_alg alg;
    EVP_PKEY *pkey = NULL;

    *out = NULL;
    if (!json_is_object(jwk))
        return TD_EINVAL;
    /* A partner publishing private key material is broken; never hold it. */
    for (size_t i = 0; i < TD_ARRAY_LEN(private_members); i++) {
        if (json_object_get(jwk, private_members[i]) != NULL)
            return TD_EINVAL;
    }
    kty = json_string_value(json_object_get(jwk, "kty"));
    crv = json_string_value(json_object_get(jwk, "crv"));
    if (kty == NULL)
        return TD_EINVAL;
    if (strcmp(kty, "RSA") == 0 && crv == NULL)
        alg = JOSE_RS256;
    else if (strcmp(kty, "EC") == 0 && crv != NULL && strcmp(crv, "P-256") == 0)
        alg = JOSE_ES256;
    else if (strcmp(kty, "OKP") == 0 && crv != NULL && strcmp(crv, "Ed25519") == 0)
        alg = JOSE_EDDSA;
    else
        return TD_EINVAL;
    /* RFC 7517 §4.2, §4.4: a key meant for encryption or another alg is not ours to use. */
    if (!member_absent_or_is(jwk, "use", "sig") ||
        !member_absent_or_is(jwk, "alg", jose_alg_name(alg)))
        return TD_EINVAL;
    v = json_object_get(jwk, "kid");
    if (v != NULL) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            json_string_length(v) > JOSE_MAX_KID)
            return TD_EINVAL;
        kid = json_string_value(v);
    }
    switch (alg) {
    case JOSE_RS256: pkey = jwk_rsa(jwk); break;
    case JOSE_ES256: pkey = jwk_ec(jwk); break;
    case JOSE_EDDSA: pkey = jwk_okp(jwk); break;
    }
    if (pkey == NULL || !pkey_fits_alg(pkey, alg)) {
        EVP_PKEY_free(pkey);
        return ossl_fail(TD_EINVAL);
    }
    return key_wrap(pkey, alg, false, kid, out);
}

int jose_jwks_import(const json_t *jwks, struct jose_key ***keys, size_t *nkeys)
{
    const json_t *arr = json_object_get(jwks, "keys");
    struct jose_key **v;
    size_t i, n = 0;

    *keys = NULL;
    *nkeys = 0;
    if (!json_is_array(arr))
        return TD_EINVAL;
    v = td_calloc(JOSE_MAX_JWKS_KEYS, sizeof(*v));
    for (i = 0; i < json_array_size(arr) && n < JOSE_MAX_JWKS_KEYS; i++) {
        if (jose_key_from_jwk(json_array_get(arr, i), &v[n]) == TD_OK)
            n++;
    }
    if (n == 0) {
        free(v);
        return TD_ENOTFOUND;
    }
    *keys = v;
    *nkeys = n;
    return TD_OK;
}

/* The digest alg uses, or NULL for EdDSA (which hashes internally). */
static const EVP_MD *alg_md(enum jose_alg alg)
{
    return alg == JOSE_EDDSA ? NULL : EVP_sha256();
}

int jose_sign_input(const struct jose_key *k, const void *input, size_t len, struct buf *out)
{
    EVP_MD_CTX *mctx = NULL;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    uint8_t rs[2 * P256_BYTES];
    ECDSA_SIG *es = NULL;
    int rc = TD_EIO;

    if (!k->is_private)
        return TD_EINVAL;
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL)
        goto out;
    if (EVP_DigestSignInit(mctx, NULL, alg_md(k->alg), NULL, k->pkey) != 1)
        goto out;
    if (EVP_DigestSign(mctx, NULL, &sig_len, input, len) != 1 || sig_len == 0 || sig_len > SIG_MAX)
        goto out;
    sig = td_malloc(sig_len);
    if (EVP_DigestSign(mctx, sig, &sig_len, input, len) != 1)
        goto out;
    if (k->alg == JOSE_ES256) {
        /* RFC 7518 §3.4: JWS wants R||S as two 32-byte integers, OpenSSL gives DER. */
        const unsigned char *p = sig;
        const BIGNUM *r, *s;

        es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
        if (es == NULL)
            goto out;
        ECDSA_SIG_get0(es, &r, &s);
        if (BN_bn2binpad(r, rs, P256_BYTES) != P256_BYTES ||
            BN_bn2binpad(s, rs + P256_BYTES, P256_BYTES) != P256_BYTES)
            goto out;
        rc = codec_b64url_encode(out, rs, sizeof(rs));
    } else {
        rc = codec_b64url_encode(out, sig, sig_len);
    }
out:
    ECDSA_SIG_free(es);
    free(sig);
    EVP_MD_CTX_free(mctx);
    return rc == TD_EIO ? ossl_fail(rc) : rc;
}

/* Verify sig[0..sig_len) (JOSE form) over input with k. true if valid. */
static bool verify_sig(const struct jose_key *k, const void *input, size_t len, const uint8_t *sig,
                       size_t sig_len)
{
    EVP_MD_CTX *mctx = NULL;
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned char *der = NULL;
    const uint8_t *vsig = sig;
    size_t vlen = sig_len;
    bool ok = false;

    switch (k->alg) {
    case JOSE_RS256:
        /* RFC 8017 §8.2.2: the signature is exactly the modulus length. */
        if (sig_len != (size_t)EVP_PKEY_get_size(k->pkey))
            goto out;
        break;
    case JOSE_ES256: {
        int der_len;

        /* RFC 7518 §3.4: exactly 64 bytes; re-encode as DER for OpenSSL. */
        if (sig_len != 2 * P256_BYTES)
            goto out;
        es = ECDSA_SIG_new();
        r = BN_bin2bn(sig, P256_BYTES, NULL);
        s = BN_bin2bn(sig + P256_BYTES, P256_BYTES, NULL);
        if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
            goto out;
        r = s = NULL; /* owned by es */
        der_len = i2d_ECDSA_SIG(es, &der);
        if (der_len <= 0)
            goto out;
        vsig = der;
        vlen = (size_t)der_len;
        break;
    }
    case JOSE_EDDSA:
        if (sig_len != 64) /* RFC 8032 §5.1.6 */
            goto out;
        break;
    }
    mctx = EVP_MD_CTX_new();
    if (mctx == NULL)
        goto out;
    if (EVP_DigestVerifyInit(mctx, NULL, alg_md(k->alg), NULL, k->pkey) != 1)
        goto out;
    ok = EVP_DigestVerify(mctx, vsig, vlen, input, len) == 1;
out:
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    if (!ok)
        ERR_clear_error();
    return ok;
}

int jose_sign_jwt(const struct jose_key *k, const json_t *claims, struct buf *out)
{
    json_t *hdr = NULL;
    char *hdr_s = NULL, *claims_s = NULL;
    size_t start = out->len;
    int rc = TD_EINVAL;

    if (!json_is_object(claims) || !k->is_private)
        return TD_EINVAL;
    hdr = json_pack("{s:s, s:s, s:s}", "alg", jose_alg_name(k->alg), "kid", k->kid, "typ", "JWT");
    if (hdr == NULL) {
        rc = TD_ENOMEM;
        goto out;
    }
    hdr_s = json_dumps(hdr, JSON_COMPACT);
    claims_s = json_dumps(claims, JSON_COMPACT);
    if (hdr_s == NULL || claims_s == NULL) {
        rc = TD_ENOMEM;
        goto out;
    }
    rc = codec_b64url_encode(out, hdr_s, strlen(hdr_s));
    if (rc == TD_OK)
        rc = buf_putc(out, '.');
    if (rc == TD_OK)
        rc = codec_b64url_encode(out, claims_s, strlen(claims_s));
    if (rc != TD_OK)
        goto out;
    /* RFC 7515 §5.1 step 5: sign ASCII(b64(header) '.' b64(payload)). */
    rc = buf_putc(out, '.');
    if (rc == TD_OK)
        rc = jose_sign_input(k, out->data + start, out->len - start - 1, out);
out:
    if (rc != TD_OK && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    free(hdr_s);
    free(claims_s);
    json_decref(hdr);
    return rc;
}

/* Is JSON text p[0..n) nested at most max deep? A cheap scan ahead of jansson
 * (whose own limit is 2048) so hostile nesting costs nothing. */
static bool json_depth_ok(const uint8_t *p, size_t n, int max)
{
    int depth = 0;
    bool in_str = false;

    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

/* Decode base64url seg[0..len) and parse it as a JSON object (duplicate
 * members refused: RFC 7515 §5.2 step 4). NULL if anything is wrong. */
static json_t *seg_json_object(const char *seg, size_t len)
{
    size_t cap = CODEC_B64_DECODED_MAX(len), n;
    uint8_t *raw;
    json_t *j = NULL;
    json_error_t err;

    if (len == 0)
        return NULL;
    raw = td_malloc(cap);
    if (codec_b64url_decode(seg, len, raw, cap, &n) != TD_OK || n == 0)
        goto out;
    if (!json_depth_ok(raw, n, JSON_MAX_DEPTH))
        goto out;
    j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, &err);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
out:
    free(raw);
    return j;
}

/* Pick the verification key for header alg/kid; see jose_verify_jwt. */
static int pick_key(struct jose_key *const *keys, size_t nkeys, enum jose_alg alg, const char *kid,
                    const struct jose_key **out, const char **why)
{
    const struct jose_key *found = NULL;
    size_t matches = 0;

    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i] == NULL)
            continue;
        if (kid != NULL) {
            if (strcmp(keys[i]->kid, kid) == 0) {
                found = keys[i];
                matches++;
            }
        } else if (keys[i]->alg == alg) {
            found = keys[i];
            matches++;
        }
    }
    if (matches == 0) {
        *why = kid != NULL ? "no key with this kid" : "no key for this alg";
        return TD_ENOTFOUND;
    }
    if (matches > 1) {
        *why = "more than one key fits; kid needed";
        return TD_ENOTFOUND;
    }
    /* The key decides the algorithm (RFC 8725 §3.1): no alg confusion. */
    if (found->alg != alg) {
        *why = "alg differs from the key's alg";
        return TD_EDENIED;
    }
    *out = found;
    return TD_OK;
}

int jose_verify_jwt(const char *token, size_t len, struct jose_key *const *keys, size_t nkeys,
                    json_t **claims, const char **why)
{
    const char *dot1, *dot2, *sig_b64;
    const char *alg_s, *kid = NULL;
    const json_t *v;
    const struct jose_key *key = NULL;
    json_t *hdr = NULL, *payload = NULL;
    uint8_t sig[SIG_MAX];
    size_t hdr_len, sig_len, sig_b64_len;
    enum jose_alg alg;
    int rc;

    *claims = NULL;
    *why = "ok";
    if (len > JOSE_MAX_TOKEN) {
        *why = "token too long";
        return TD_ETOOBIG;
    }
    rc = TD_EINVAL;
    if (token == NULL || len == 0) {
        *why = "empty token";
        goto out;
    }
    /* RFC 7515 §7.1: exactly three segments. */
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        *why = "not three segments";
        goto out;
    }
    hdr_len = (size_t)(dot1 - token);
    if (hdr_len > HEADER_MAX_B64) {
        *why = "header too long";
        goto out;
    }
    hdr = seg_json_object(token, hdr_len);
    if (hdr == NULL) {
        *why = "header is not a base64url JSON object";
        goto out;
    }
    v = json_object_get(hdr, "alg");
    alg_s = json_string_value(v);
    if (alg_s == NULL) {
        *why = "header alg missing";
        goto out;
    }
    rc = TD_EDENIED;
    if (strcmp(alg_s, "none") == 0) {
        *why = "alg none refused"; /* RFC 8725 §3.1 */
        goto out;
    }
    if (jose_alg_parse(alg_s, &alg) != TD_OK) {
        *why = "unsupported alg";
        goto out;
    }
    if (json_object_get(hdr, "crit") != NULL) {
        *why = "crit header not supported"; /* RFC 7515 §4.1.11 */
        goto out;
    }
    v = json_object_get(hdr, "kid");
    if (v != NULL) {
        kid = json_string_value(v);
        if (kid == NULL) {
            rc = TD_EINVAL;
            *why = "header kid is not a string";
            goto out;
        }
    }
    rc = pick_key(keys, nkeys, alg, kid, &key, why);
    if (rc != TD_OK)
        goto out;
    sig_b64 = dot2 + 1;
    sig_b64_len = len - (size_t)(sig_b64 - token);
    if (codec_b64url_decode(sig_b64, sig_b64_len, sig, sizeof(sig), &sig_len) != TD_OK) {
        rc = TD_EINVAL;
        *why = "signature is not base64url";
        goto out;
    }
    /* RFC 7515 §5.2 step 8: the signing input is everything before the second dot. */
    if (!verify_sig(key, token, (size_t)(dot2 - token), sig, sig_len)) {
        rc = TD_EDENIED;
        *why = "signature does not verify";
        goto out;
    }
    /* The payload is parsed only once its origin is proven. */
    payload = seg_json_object(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (payload == NULL) {
        rc = TD_EINVAL;
        *why = "payload is not a base64url JSON object";
        goto out;
    }
    *claims = payload;
    rc = TD_OK;
out:
    json_decref(hdr);
    return rc;
}

/* Seconds value of a NumericDate member (RFC 7519 §2), false if absent or not a number. */
static bool claim_time(const json_t *claims, const char *name, double *out)
{
    const json_t *v = json_object_get(claims, name);

    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

/* Is member name a string exactly equal to want? */
static bool claim_str_is(const json_t *claims, const char *name, const char *want)
{
    const json_t *v = json_object_get(claims, name);
    size_t n = strlen(want);

    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), want, n) == 0;
}

int jose_jwt_check_claims(const json_t *claims, const char *iss, const char *aud, const char *nonce,
                          int64_t now_s, int leeway_s, const char **why)
{
    const json_t *v;
    double now = (double)now_s, leeway, t;
    bool aud_ok = false;

    *why = "ok";
    if (!json_is_object(claims) || iss == NULL || aud == NULL) {
        *why = "bad arguments";
        return TD_EINVAL;
    }
    leeway = leeway_s < 0 ? 0 : leeway_s > JOSE_MAX_LEEWAY ? JOSE_MAX_LEEWAY : leeway_s;
    if (!claim_str_is(claims, "iss", iss)) {
        *why = "iss mismatch"; /* Core §3.1.3.7 step 2 */
        return TD_EDENIED;
    }
    v = json_object_get(claims, "sub");
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > SUB_MAX) {
        *why = "sub missing or invalid"; /* Core §2 */
        return TD_EDENIED;
    }
    /* Core §3.1.3.7 step 3: aud contains our client_id. */
    v = json_object_get(claims, "aud");
    if (json_is_string(v)) {
        aud_ok = claim_str_is(claims, "aud", aud);
    } else if (json_is_array(v)) {
        size_t i, n = strlen(aud);
        const json_t *e;

        json_array_foreach(v, i, e)
        {
            if (json_is_string(e) && json_string_length(e) == n &&
                memcmp(json_string_value(e), aud, n) == 0)
                aud_ok = true;
        }
    }
    if (!aud_ok) {
        *why = "aud mismatch";
        return TD_EDENIED;
    }
    /* Core §3.1.3.7 step 5: if azp is present it is our client_id. */
    if (json_object_get(claims, "azp") != NULL && !claim_str_is(claims, "azp", aud)) {
        *why = "azp mismatch";
        return TD_EDENIED;
    }
    /* Core §3.1.3.7 step 9; RFC 7519 §4.1.4. */
    if (!claim_time(claims, "exp", &t)) {
        *why = "exp missing";
        return TD_EDENIED;
    }
    if (!(now < t + leeway)) {
        *why = "token expired";
        return TD_EDENIED;
    }
    /* Core §3.1.3.7 step 10: iat is required; refuse one from the future. */
    if (!claim_time(claims, "iat", &t)) {
        *why = "iat missing";
        return TD_EDENIED;
    }
    if (!(t <= now + leeway)) {
        *why = "iat in the future";
        return TD_EDENIED;
    }
    /* RFC 7519 §4.1.5. */
    if (json_object_get(claims, "nbf") != NULL &&
        (!claim_time(claims, "nbf", &t) || !(t <= now + leeway))) {
        *why = "not yet valid (nbf)";
        return TD_EDENIED;
    }
    /* Core §3.1.3.7 step 11. */
    if (nonce != NULL && !claim_str_is(claims, "nonce", nonce)) {
        *why = json_object_get(claims, "nonce") ? "nonce mismatch" : "nonce missing";
        return TD_EDENIED;
    }
    return TD_OK;
}

int jose_half_hash(enum jose_alg alg, const char *token, size_t len, struct buf *out)
{
    const EVP_MD *md = alg == JOSE_EDDSA ? EVP_sha512() : EVP_sha256();
    uint8_t h[EVP_MAX_MD_SIZE];
    unsigned int h_len = 0;

    if (token == NULL && len > 0)
        return TD_EINVAL;
    if (!EVP_Digest(token ? token : "", len, h, &h_len, md, NULL))
        return ossl_fail(TD_EIO);
    return codec_b64url_encode(out, h, h_len / 2);
}
