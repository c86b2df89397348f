/* SPDX-License-Identifier: MIT */
/* Unit tests for oauth/jose: generate/sign/verify for RS256, ES256 and EdDSA,
 * PEM and JWK round trips, the RFC 7638 §3.1 and RFC 8037 §A.3 thumbprints,
 * the RFC 7515 §A.2/§A.3 and RFC 8037 §A.4 signature vectors, and hostile
 * tokens: tampering, alg none, alg confusion, unknown kids, malformed and
 * oversized input, plus the OIDC id_token claim checks and at_hash. */
#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "oauth/jose.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- fixtures: one key per alg, generated once (RSA keygen is slow) ---- */

static struct jose_key *g_key[3]; /* indexed by enum jose_alg */

static int group_setup(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++) {
        if (jose_key_generate((enum jose_alg)a, &g_key[a]) != TD_OK)
            return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++)
        jose_key_free(g_key[a]);
    return 0;
}

/* ---- RFC vectors ---- */

/* RFC 7638 §3.1 (also RFC 7517 §A.1): thumbprint NzbLsXh8... */
static const char RFC7638_JWK[] =
    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86z"
    "wu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN"
    "5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
    "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8"
    "awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
static const char RFC7638_TP[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* RFC 7515 §A.2: RS256 over {"iss":"joe",\r\n "exp":1300819380,\r\n ...}. */
static const char RFC7515_A2_JWK[] =
    "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-V"
    "aw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7"
    "OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3"
    "qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRW"
    "yuXpoQ\",\"e\":\"AQAB\"}";
static const char RFC7515_PAYLOAD[] = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9l"
                                      "eGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
static const char RFC7515_A2_TOKEN[] =
    "eyJhbGciOiJSUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5"
    "jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb"
    "1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QO"
    "YEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/* RFC 7515 §A.3: ES256, same payload, raw R||S signature. */
static const char RFC7515_A3_JWK[] =
    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char RFC7515_A3_TOKEN[] =
    "eyJhbGciOiJFUzI1NiJ9."
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    "."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/* RFC 8037 §A.1-A.4: Ed25519 key, thumbprint and signature of "Example of Ed25519 signing". */
static const char RFC8037_D[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
static const char RFC8037_JWK[] =
    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
static const char RFC8037_TP[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
static const char RFC8037_INPUT[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char RFC8037_SIG[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* ---- helpers ---- */

static struct jose_key *key_from_jwk_text(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    struct jose_key *k = NULL;

    assert_non_null(j);
    assert_int_equal(jose_key_from_jwk(j, &k), TD_OK);
    json_decref(j);
    return k;
}

/* Import JWK text; return the TD code (for refusal tests). */
static int jwk_text_rc(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    struct jose_key *k = NULL;
    int rc;

    assert_non_null(j);
    rc = jose_key_from_jwk(j, &k);
    if (rc == TD_OK)
        assert_non_null(k);
    else
        assert_null(k);
    jose_key_free(k);
    json_decref(j);
    return rc;
}

/* Append b64url(header).b64url(payload).sig_b64 to b. */
static void make_token(struct buf *b, const char *header, const char *payload, const char *sig)
{
    assert_int_equal(codec_b64url_encode(b, header, strlen(header)), TD_OK);
    assert_int_equal(buf_putc(b, '.'), TD_OK);
    assert_int_equal(codec_b64url_encode(b, payload, strlen(payload)), TD_OK);
    assert_int_equal(buf_putc(b, '.'), TD_OK);
    assert_int_equal(buf_appends(b, sig), TD_OK);
}

/* Verify token against keys; return the TD code, and *why. Frees claims. */
static int verify_rc(const char *token, size_t len, struct jose_key *const *keys, size_t n,
                     const char **why)
{
    json_t *claims = (json_t *)(uintptr_t)1; /* must be reset to NULL on failure */
    const char *w = NULL;
    int rc = jose_verify_jwt(token, len, keys, n, &claims, &w);

    assert_non_null(w);
    if (rc == TD_OK)
        assert_true(json_is_object(claims));
    else
        assert_null(claims);
    json_decref(claims);
    if (why != NULL)
        *why = w;
    return rc;
}

static json_t *sample_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", "https://tandem.example", "sub",
                     "alice", "aud", "client-1", "iat", (json_int_t)1700000000, "exp",
                     (json_int_t)1700000600, "nonce", "n-0S6_WzA2Mj");
}

/* ---- tests ---- */

static void test_alg_names(void **state)
{
    enum jose_alg a;

    (void)state;
    assert_string_equal(jose_alg_name(JOSE_RS256), "RS256");
    assert_string_equal(jose_alg_name(JOSE_ES256), "ES256");
    assert_string_equal(jose_alg_name(JOSE_EDDSA), "EdDSA");
    assert_int_equal(jose_alg_parse("RS256", &a), TD_OK);
    assert_int_equal(a, JOSE_RS256);
    assert_int_equal(jose_alg_parse("ES256", &a), TD_OK);
    assert_int_equal(a, JOSE_ES256);
    assert_int_equal(jose_alg_parse("EdDSA", &a), TD_OK);
    assert_int_equal(a, JOSE_EDDSA);
    assert_int_equal(jose_alg_parse("none", &a), TD_EINVAL);
    assert_int_equal(jose_alg_parse("HS256", &a), TD_EINVAL);
    assert_int_equal(jose_alg_parse("rs256", &a), TD_EINVAL);
    assert_int_equal(jose_alg_parse("", &a), TD_EINVAL);
    assert_int_equal(jose_alg_parse(NULL, &a), TD_EINVAL);
}

static void test_sign_verify_each_alg(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++) {
        struct jose_key *k = g_key[a];
        json_t *claims = sample_claims(), *got = NULL, *hdr;
        struct buf tok, raw;
        const char *why = NULL;
        uint8_t hb[256];
        size_t hn;
        char *dot;

        assert_true(jose_key_is_private(k));
        assert_int_equal(jose_key_alg(k), a);
        assert_int_equal(strlen(jose_key_kid(k)), 43);
        buf_init(&tok, 0);
        assert_int_equal(jose_sign_jwt(k, claims, &tok), TD_OK);
        assert_int_equal(jose_verify_jwt(tok.data, tok.len, &k, 1, &got, &why), TD_OK);
        assert_string_equal(why, "ok");
        assert_true(json_equal(got, claims));
        json_decref(got);

        /* The header is {"alg","kid","typ":"JWT"}. */
        dot = strchr(tok.data, '.');
        assert_int_equal(
            codec_b64url_decode(tok.data, (size_t)(dot - tok.data), hb, sizeof(hb), &hn), TD_OK);
        hdr = json_loadb((const char *)hb, hn, 0, NULL);
        assert_non_null(hdr);
        assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
                            jose_alg_name((enum jose_alg)a));
        assert_string_equal(json_string_value(json_object_get(hdr, "kid")), jose_key_kid(k));
        assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
        json_decref(hdr);

        /* ES256 signatures are 64 raw bytes (86 base64url chars), not DER. */
        if (a == JOSE_ES256)
            assert_int_equal(strlen(strrchr(tok.data, '.') + 1), 86);
        if (a == JOSE_EDDSA)
            assert_int_equal(strlen(strrchr(tok.data, '.') + 1), 86);
        if (a == JOSE_RS256)
            assert_int_equal(strlen(strrchr(tok.data, '.') + 1), 342);

        /* Another key of the same alg does not verify it. */
        {
            struct jose_key *other = NULL;
            const char *w;
            assert_int_equal(jose_key_generate((enum jose_alg)a, &other), TD_OK);
            assert_string_not_equal(jose_key_kid(other), jose_key_kid(k));
            /* By kid: not found. */
            assert_int_equal(verify_rc(tok.data, tok.len, &other, 1, &w), TD_ENOTFOUND);
            jose_key_free(other);
        }

        /* Signing input is signed as-is: jose_sign_input over the same bytes verifies. */
        buf_init(&raw, 0);
        assert_int_equal(jose_sign_input(k, "abc", 3, &raw), TD_OK);
        assert_true(raw.len > 0);
        buf_free(&raw);

        /* Non-object claims are refused and the output is left alone. */
        {
            json_t *arr = json_array();
            size_t before = tok.len;
            assert_int_equal(jose_sign_jwt(k, arr, &tok), TD_EINVAL);
            assert_int_equal(tok.len, before);
            json_decref(arr);
        }
        buf_free(&tok);
        json_decref(claims);
    }
}

static void test_sign_output_ceiling(void **state)
{
    json_t *claims = sample_claims();
    struct buf tok;

    (void)state;
    buf_init(&tok, 100); /* too small for any token */
    assert_int_equal(jose_sign_jwt(g_key[JOSE_ES256], claims, &tok), TD_ETOOBIG);
    assert_int_equal(tok.len, 0);
    buf_free(&tok);
    json_decref(claims);
}

static void test_pem_round_trip(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++) {
        struct jose_key *k = g_key[a], *back = NULL;
        json_t *claims = sample_claims(), *got = NULL;
        struct buf pem, tok;
        const char *why;

        buf_init(&pem, 0);
        assert_int_equal(jose_key_to_pem(k, &pem), TD_OK);
        assert_non_null(strstr(pem.data, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(jose_key_from_pem((enum jose_alg)a, pem.data, pem.len, &back), TD_OK);
        assert_string_equal(jose_key_kid(back), jose_key_kid(k));
        assert_true(jose_key_is_private(back));

        /* Signed by the reloaded key, verified by the original. */
        buf_init(&tok, 0);
        assert_int_equal(jose_sign_jwt(back, claims, &tok), TD_OK);
        assert_int_equal(jose_verify_jwt(tok.data, tok.len, &k, 1, &got, &why), TD_OK);
        json_decref(got);
        buf_free(&tok);
        jose_key_free(back);

        /* The PEM of one alg does not load as another. */
        for (int b = JOSE_RS256; b <= JOSE_EDDSA; b++) {
            if (b == a)
                continue;
            back = (struct jose_key *)(uintptr_t)1;
            assert_int_equal(jose_key_from_pem((enum jose_alg)b, pem.data, pem.len, &back),
                             TD_EINVAL);
            assert_null(back);
        }
        /* Truncated PEM. */
        assert_int_equal(jose_key_from_pem((enum jose_alg)a, pem.data, pem.len / 2, &back),
                         TD_EINVAL);
        buf_free(&pem);
        json_decref(claims);
    }
}

static void test_pem_garbage(void **state)
{
    struct jose_key *k = NULL;
    char *big;
    /* A real encrypted Ed25519 key (passphrase "x"): refused, never prompts. */
    static const char enc[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                              "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhZHKAAF1fXAQICCAAw\n"
                              "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEHOGIiQ0x8+f92wdWu59O6sEQE/n\n"
                              "c53+P7Fz13DFF/fibvV3ixDChuKLN3hCAdhI3LNCrQUkHZ22RBP1uJ+ircDtODnb\n"
                              "QvhLvMLBF3vjTJzJtsE=\n"
                              "-----END ENCRYPTED PRIVATE KEY-----\n";

    (void)state;
    assert_int_equal(jose_key_from_pem(JOSE_RS256, "", 0, &k), TD_EINVAL);
    assert_int_equal(jose_key_from_pem(JOSE_RS256, "hello", 5, &k), TD_EINVAL);
    assert_int_equal(jose_key_from_pem(JOSE_EDDSA, enc, strlen(enc), &k), TD_EINVAL);
    big = calloc(1, JOSE_MAX_PEM + 2);
    memset(big, 'A', JOSE_MAX_PEM + 1);
    assert_int_equal(jose_key_from_pem(JOSE_RS256, big, JOSE_MAX_PEM + 1, &k), TD_ETOOBIG);
    free(big);
    assert_null(k);
}

/* Build a PKCS#8 PEM for a raw Ed25519 private key (RFC 8410 §7). */
static void ed25519_pem(const uint8_t d[32], struct buf *pem)
{
    static const uint8_t prefix[16] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                       0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
    uint8_t der[48];

    memcpy(der, prefix, 16);
    memcpy(der + 16, d, 32);
    assert_int_equal(buf_appends(pem, "-----BEGIN PRIVATE KEY-----\n"), TD_OK);
    assert_int_equal(codec_b64_encode(pem, der, sizeof(der)), TD_OK);
    assert_int_equal(buf_appends(pem, "\n-----END PRIVATE KEY-----\n"), TD_OK);
}

static void test_rfc8037_ed25519_vector(void **state)
{
    uint8_t d[32];
    size_t dn;
    struct buf pem, sig, tok, tp;
    struct jose_key *priv = NULL, *pub;
    json_t *jwk;
    const char *why;

    (void)state;
    assert_int_equal(codec_b64url_decode(RFC8037_D, strlen(RFC8037_D), d, sizeof(d), &dn), TD_OK);
    assert_int_equal(dn, 32);
    buf_init(&pem, 0);
    ed25519_pem(d, &pem);
    assert_int_equal(jose_key_from_pem(JOSE_EDDSA, pem.data, pem.len, &priv), TD_OK);

    /* §A.3: the thumbprint, which is also our kid. */
    assert_string_equal(jose_key_kid(priv), RFC8037_TP);
    /* §A.2: the public key. */
    jwk = jose_key_public_jwk(priv);
    assert_string_equal(json_string_value(json_object_get(jwk, "x")),
                        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
    assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "Ed25519");
    json_decref(jwk);

    /* §A.4: Ed25519 is deterministic, so the signature must match exactly. */
    buf_init(&sig, 0);
    assert_int_equal(jose_sign_input(priv, RFC8037_INPUT, strlen(RFC8037_INPUT), &sig), TD_OK);
    assert_string_equal(sig.data, RFC8037_SIG);

    /* §A.5: verification with the public JWK (no kid: the only EdDSA key). The
     * payload is text, not JSON, so verification gets past the signature and
     * then refuses the payload. */
    pub = key_from_jwk_text(RFC8037_JWK);
    assert_string_equal(jose_key_kid(pub), RFC8037_TP);
    assert_false(jose_key_is_private(pub));
    buf_init(&tok, 0);
    assert_int_equal(buf_printf(&tok, "%s.%s", RFC8037_INPUT, RFC8037_SIG), TD_OK);
    assert_int_equal(verify_rc(tok.data, tok.len, &pub, 1, &why), TD_EINVAL);
    assert_string_equal(why, "payload is not a base64url JSON object");
    /* One bit off in the signature: refused at the signature. */
    tok.data[tok.len - 2] = tok.data[tok.len - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(verify_rc(tok.data, tok.len, &pub, 1, &why), TD_EDENIED);
    assert_string_equal(why, "signature does not verify");

    buf_init(&tp, 0);
    assert_int_equal(jose_key_thumbprint(pub, &tp), TD_OK);
    assert_string_equal(tp.data, RFC8037_TP);

    buf_free(&tp);
    buf_free(&tok);
    buf_free(&sig);
    buf_free(&pem);
    jose_key_free(pub);
    jose_key_free(priv);
}

static void test_rfc7638_thumbprint(void **state)
{
    struct jose_key *k;
    struct buf tp;
    json_t *j;

    (void)state;
    k = key_from_jwk_text(RFC7638_JWK);
    /* The JWK's own kid is kept (partners' tokens name it)... */
    assert_string_equal(jose_key_kid(k), "2011-04-29");
    assert_int_equal(jose_key_alg(k), JOSE_RS256);
    /* ...and the thumbprint is the RFC's. */
    buf_init(&tp, 0);
    assert_int_equal(jose_key_thumbprint(k, &tp), TD_OK);
    assert_string_equal(tp.data, RFC7638_TP);
    buf_free(&tp);

    /* Exported again, n and e are unchanged (minimal big-endian). */
    j = jose_key_public_jwk(k);
    assert_string_equal(json_string_value(json_object_get(j, "e")), "AQAB");
    assert_non_null(strstr(RFC7638_JWK, json_string_value(json_object_get(j, "n"))));
    assert_string_equal(json_string_value(json_object_get(j, "kid")), "2011-04-29");
    json_decref(j);
    jose_key_free(k);

    /* Without a kid member the kid is the thumbprint. */
    k = key_from_jwk_text(RFC7515_A2_JWK);
    buf_init(&tp, 0);
    assert_int_equal(jose_key_thumbprint(k, &tp), TD_OK);
    assert_string_equal(jose_key_kid(k), tp.data);
    buf_free(&tp);
    jose_key_free(k);
}

static void test_rfc7515_vectors(void **state)
{
    struct jose_key *rsa, *ec;
    json_t *claims = NULL;
    const char *why;
    struct buf tok;

    (void)state;
    rsa = key_from_jwk_text(RFC7515_A2_JWK);
    ec = key_from_jwk_text(RFC7515_A3_JWK);

    /* §A.2: RS256. */
    assert_int_equal(
        jose_verify_jwt(RFC7515_A2_TOKEN, strlen(RFC7515_A2_TOKEN), &rsa, 1, &claims, &why), TD_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), "joe");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), 1300819380);
    assert_true(json_is_true(json_object_get(claims, "http://example.com/is_root")));
    json_decref(claims);

    /* §A.3: ES256 with a raw R||S signature; with both keys present and no kid,
     * the key is chosen by alg. */
    {
        struct jose_key *both[2] = {rsa, ec};
        assert_int_equal(verify_rc(RFC7515_A3_TOKEN, strlen(RFC7515_A3_TOKEN), both, 2, &why),
                         TD_OK);
        assert_int_equal(verify_rc(RFC7515_A2_TOKEN, strlen(RFC7515_A2_TOKEN), both, 2, &why),
                         TD_OK);
    }

    /* The same signatures under the other key are refused: alg ≠ key alg. */
    assert_int_equal(verify_rc(RFC7515_A3_TOKEN, strlen(RFC7515_A3_TOKEN), &rsa, 1, &why),
                     TD_ENOTFOUND);

    /* A DER-encoded ES256 signature (what naive code emits) is refused. */
    buf_init(&tok, 0);
    assert_int_equal(buf_printf(&tok, "eyJhbGciOiJFUzI1NiJ9.%s.", RFC7515_PAYLOAD), TD_OK);
    {
        uint8_t der[72] = {0x30, 0x46, 0x02, 0x21, 0x00};
        memset(der + 5, 0x11, 32);
        der[37] = 0x02;
        der[38] = 0x21;
        der[39] = 0x00;
        memset(der + 40, 0x22, 32);
        assert_int_equal(codec_b64url_encode(&tok, der, sizeof(der)), TD_OK);
    }
    assert_int_equal(verify_rc(tok.data, tok.len, &ec, 1, &why), TD_EDENIED);
    assert_string_equal(why, "signature does not verify");
    buf_free(&tok);

    jose_key_free(rsa);
    jose_key_free(ec);
}

static void test_jwk_export_import(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++) {
        struct jose_key *k = g_key[a], *pub = NULL;
        json_t *jwk = jose_key_public_jwk(k), *claims = sample_claims(), *got = NULL;
        struct buf tok;
        const char *why;

        assert_non_null(jwk);
        assert_string_equal(json_string_value(json_object_get(jwk, "use")), "sig");
        assert_string_equal(json_string_value(json_object_get(jwk, "alg")),
                            jose_alg_name((enum jose_alg)a));
        assert_string_equal(json_string_value(json_object_get(jwk, "kid")), jose_key_kid(k));
        assert_null(json_object_get(jwk, "d"));
        assert_null(json_object_get(jwk, "p"));
        if (a == JOSE_ES256) {
            /* RFC 7518 §6.2.1.2: full-length coordinates (32 bytes = 43 chars). */
            assert_int_equal(json_string_length(json_object_get(jwk, "x")), 43);
            assert_int_equal(json_string_length(json_object_get(jwk, "y")), 43);
        }
        assert_int_equal(jose_key_from_jwk(jwk, &pub), TD_OK);
        assert_string_equal(jose_key_kid(pub), jose_key_kid(k));
        assert_int_equal(jose_key_alg(pub), a);
        assert_false(jose_key_is_private(pub));

        buf_init(&tok, 0);
        assert_int_equal(jose_sign_jwt(k, claims, &tok), TD_OK);
        assert_int_equal(jose_verify_jwt(tok.data, tok.len, &pub, 1, &got, &why), TD_OK);
        assert_true(json_equal(got, claims));
        json_decref(got);

        /* A public key cannot sign or be written as a private PEM. */
        {
            size_t before = tok.len;
            assert_int_equal(jose_sign_jwt(pub, claims, &tok), TD_EINVAL);
            assert_int_equal(tok.len, before);
            assert_int_equal(jose_key_to_pem(pub, &tok), TD_EINVAL);
        }
        buf_free(&tok);
        jose_key_free(pub);
        json_decref(jwk);
        json_decref(claims);
    }
}

static void test_jwks(void **state)
{
    json_t *jwks = jose_jwks(g_key, 3), *copy;
    struct jose_key **keys = NULL;
    size_t n = 0;

    (void)state;
    assert_non_null(jwks);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 3);
    /* Add an encryption key, an HMAC key and junk: skipped on import. */
    copy = json_deep_copy(jwks);
    json_array_append_new(json_object_get(copy, "keys"),
                          json_pack("{s:s, s:s}", "kty", "oct", "k", "AAAA"));
    json_array_append_new(json_object_get(copy, "keys"), json_string("junk"));
    {
        json_t *enc = json_deep_copy(json_array_get(json_object_get(jwks, "keys"), 0));
        json_object_set_new(enc, "use", json_string("enc"));
        json_array_append_new(json_object_get(copy, "keys"), enc);
    }
    assert_int_equal(jose_jwks_import(copy, &keys, &n), TD_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(jose_key_kid(keys[i]), jose_key_kid(g_key[i]));
        assert_false(jose_key_is_private(keys[i]));
    }
    jose_keys_free(keys, n);
    json_decref(copy);

    /* Not a JWKS, or nothing usable. */
    copy = json_pack("{s:[]}", "keys");
    assert_int_equal(jose_jwks_import(copy, &keys, &n), TD_ENOTFOUND);
    assert_null(keys);
    json_decref(copy);
    copy = json_pack("{s:s}", "keys", "x");
    assert_int_equal(jose_jwks_import(copy, &keys, &n), TD_EINVAL);
    json_decref(copy);
    json_decref(jwks);
}

static void test_jwk_refused(void **state)
{
    (void)state;
    /* Private members. */
    assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
                                 "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMko\"}"),
                     TD_EINVAL);
    /* kty/crv inconsistency. */
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"Ed25519\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"P-256\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-384\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     TD_EINVAL);
    /* alg member disagreeing with the key type; use enc. */
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"RS256\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"enc\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     TD_EINVAL);
    /* A point not on the curve (y altered). */
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1\"}"),
                     TD_EINVAL);
    /* Short coordinates, missing y, bad base64url. */
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\","
                                 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\","
                                 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR+\"}"),
                     TD_EINVAL);
    /* RSA: too small (512 bits), even exponent, leading zero. */
    assert_int_equal(
        jwk_text_rc("{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"wf-wiusGhA-gleZYQAOPQlN"
                    "UIucPiqXdPVyieDqQbXXOPBe3nuggtVzeq7pVFH1dZz4dY2Q2LA5DaegvP8kRvQ\"}"),
        TD_EINVAL);
    assert_int_equal(
        jwk_text_rc("{\"kty\":\"RSA\",\"e\":\"AQAA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4"
                    "p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d"
                    "4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0"
                    "LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665x"
                    "smtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco"
                    "9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ\"}"),
        TD_EINVAL);
    assert_int_equal(
        jwk_text_rc("{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"AKH4Fgri48m0Zc6NLWViYzYrkn2"
                    "A\"}"),
        TD_EINVAL);
    /* kid of the wrong type or size; missing kty; not an object. */
    assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":7,"
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("{\"crv\":\"Ed25519\","
                                 "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
                     TD_EINVAL);
    assert_int_equal(jwk_text_rc("[1,2]"), TD_EINVAL);
    {
        char big[512];
        int n = snprintf(big, sizeof(big), "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"");
        memset(big + n, 'k', JOSE_MAX_KID + 1);
        n += JOSE_MAX_KID + 1;
        snprintf(big + n, sizeof(big) - (size_t)n,
                 "\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}");
        assert_int_equal(jwk_text_rc(big), TD_EINVAL);
    }
    /* And the good one still works. */
    assert_int_equal(jwk_text_rc(RFC8037_JWK), TD_OK);
}

static void test_tampered(void **state)
{
    (void)state;
    for (int a = JOSE_RS256; a <= JOSE_EDDSA; a++) {
        struct jose_key *k = g_key[a];
        json_t *claims = sample_claims(), *evil;
        struct buf tok, t2, forged;
        const char *why;
        char *dot1, *dot2;

        buf_init(&tok, 0);
        assert_int_equal(jose_sign_jwt(k, claims, &tok), TD_OK);
        dot1 = strchr(tok.data, '.');
        dot2 = strchr(dot1 + 1, '.');

        /* One payload character changed. */
        buf_init(&t2, 0);
        assert_int_equal(buf_append(&t2, tok.data, tok.len), TD_OK);
        t2.data[dot1 - tok.data + 5] ^= 0x01;
        assert_int_not_equal(verify_rc(t2.data, t2.len, &k, 1, &why), TD_OK);

        /* One signature character changed (first char: all its bits are significant). */
        buf_reset(&t2);
        assert_int_equal(buf_append(&t2, tok.data, tok.len), TD_OK);
        t2.data[dot2 - tok.data + 1] = t2.data[dot2 - tok.data + 1] == 'A' ? 'B' : 'A';
        assert_int_equal(verify_rc(t2.data, t2.len, &k, 1, &why), TD_EDENIED);
        assert_string_equal(why, "signature does not verify");

        /* Signature truncated, emptied, or extended. */
        assert_int_not_equal(verify_rc(tok.data, tok.len - 4, &k, 1, &why), TD_OK);
        assert_int_not_equal(verify_rc(tok.data, (size_t)(dot2 - tok.data) + 1, &k, 1, &why),
                             TD_OK);
        buf_reset(&t2);
        assert_int_equal(buf_append(&t2, tok.data, tok.len), TD_OK);
        assert_int_equal(buf_appends(&t2, "AAAA"), TD_OK);
        assert_int_not_equal(verify_rc(t2.data, t2.len, &k, 1, &why), TD_OK);

        /* Valid header and signature with a forged payload (sub changed). */
        evil = json_deep_copy(claims);
        json_object_set_new(evil, "sub", json_string("mallory"));
        {
            char *s = json_dumps(evil, JSON_COMPACT);
            buf_init(&forged, 0);
            assert_int_equal(buf_append(&forged, tok.data, (size_t)(dot1 - tok.data) + 1), TD_OK);
            assert_int_equal(codec_b64url_encode(&forged, s, strlen(s)), TD_OK);
            assert_int_equal(buf_appends(&forged, dot2), TD_OK);
            assert_int_equal(verify_rc(forged.data, forged.len, &k, 1, &why), TD_EDENIED);
            free(s);
        }
        json_decref(evil);
        buf_free(&forged);
        buf_free(&t2);
        buf_free(&tok);
        json_decref(claims);
    }
}

static void test_alg_none_and_confusion(void **state)
{
    struct buf tok, hdr;
    const char *why;
    struct jose_key *rsa = g_key[JOSE_RS256], *ec = g_key[JOSE_ES256];
    const char *payload = "{\"iss\":\"https://tandem.example\",\"sub\":\"alice\"}";

    (void)state;
    buf_init(&tok, 0);
    buf_init(&hdr, 0);

    /* alg none with an empty signature, with and without kid. */
    make_token(&tok, "{\"alg\":\"none\"}", payload, "");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
    assert_string_equal(why, "alg none refused");
    buf_reset(&tok);
    assert_int_equal(buf_printf(&hdr, "{\"alg\":\"none\",\"kid\":\"%s\"}", jose_key_kid(rsa)),
                     TD_OK);
    make_token(&tok, hdr.data, payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
    buf_reset(&tok);
    make_token(&tok, "{\"alg\":\"None\"}", payload, "");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);

    /* HS256 naming the RSA key (the classic public-key-as-HMAC-secret attack). */
    buf_reset(&tok);
    buf_reset(&hdr);
    assert_int_equal(buf_printf(&hdr, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", jose_key_kid(rsa)),
                     TD_OK);
    make_token(&tok, hdr.data, payload, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
    assert_string_equal(why, "unsupported alg");

    /* RS256 header naming the EC key. */
    buf_reset(&tok);
    buf_reset(&hdr);
    assert_int_equal(buf_printf(&hdr, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", jose_key_kid(ec)),
                     TD_OK);
    make_token(&tok, hdr.data, payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
    assert_string_equal(why, "alg differs from the key's alg");

    /* A real ES256 token whose header is rewritten to RS256 (same kid). */
    {
        json_t *claims = sample_claims();
        struct buf real;
        char *dot1;

        buf_init(&real, 0);
        assert_int_equal(jose_sign_jwt(ec, claims, &real), TD_OK);
        dot1 = strchr(real.data, '.');
        buf_reset(&tok);
        assert_int_equal(codec_b64url_encode(&tok, hdr.data, hdr.len), TD_OK);
        assert_int_equal(buf_appends(&tok, dot1), TD_OK);
        assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
        /* Without a kid and only the EC key on offer: no RS256 key to use. */
        buf_reset(&tok);
        make_token(&tok, "{\"alg\":\"RS256\"}", payload, "c2ln");
        assert_int_equal(verify_rc(tok.data, tok.len, &ec, 1, &why), TD_ENOTFOUND);
        buf_free(&real);
        json_decref(claims);
    }

    /* crit is refused; a non-string kid or alg is malformed. */
    buf_reset(&tok);
    buf_reset(&hdr);
    assert_int_equal(buf_printf(&hdr,
                                "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[\"b64\"],"
                                "\"b64\":false}",
                                jose_key_kid(rsa)),
                     TD_OK);
    make_token(&tok, hdr.data, payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EDENIED);
    assert_string_equal(why, "crit header not supported");
    buf_reset(&tok);
    make_token(&tok, "{\"alg\":\"RS256\",\"kid\":42}", payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EINVAL);
    buf_reset(&tok);
    make_token(&tok, "{\"alg\":[\"RS256\"]}", payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EINVAL);
    buf_reset(&tok);
    make_token(&tok, "{\"kid\":\"x\"}", payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EINVAL);
    /* Duplicate alg members (RFC 7515 §5.2 step 4). */
    buf_reset(&tok);
    make_token(&tok, "{\"alg\":\"RS256\",\"alg\":\"none\"}", payload, "c2ln");
    assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EINVAL);

    buf_free(&hdr);
    buf_free(&tok);
}

static void test_kid_selection(void **state)
{
    json_t *claims = sample_claims();
    struct jose_key *other = NULL, *two[2];
    struct buf tok, hdr;
    const char *why;
    char *dot1;

    (void)state;
    buf_init(&tok, 0);
    buf_init(&hdr, 0);
    assert_int_equal(jose_sign_jwt(g_key[JOSE_ES256], claims, &tok), TD_OK);
    /* Wrong kid: not found. */
    assert_int_equal(jose_key_generate(JOSE_ES256, &other), TD_OK);
    assert_int_equal(verify_rc(tok.data, tok.len, &other, 1, &why), TD_ENOTFOUND);
    assert_string_equal(why, "no key with this kid");
    /* No keys at all. */
    assert_int_equal(verify_rc(tok.data, tok.len, NULL, 0, &why), TD_ENOTFOUND);
    /* The right one among several. */
    two[0] = other;
    two[1] = g_key[JOSE_ES256];
    assert_int_equal(verify_rc(tok.data, tok.len, two, 2, &why), TD_OK);

    /* Without a kid and two ES256 keys: ambiguous, refused. */
    dot1 = strchr(tok.data, '.');
    buf_reset(&hdr);
    assert_int_equal(codec_b64url_encode(&hdr, "{\"alg\":\"ES256\"}", 15), TD_OK);
    assert_int_equal(buf_appends(&hdr, dot1), TD_OK);
    assert_int_equal(verify_rc(hdr.data, hdr.len, two, 2, &why), TD_ENOTFOUND);
    /* With just the right key the kid-less header picks it, but the header is
     * part of the signing input, so the swapped header fails the signature. */
    assert_int_equal(verify_rc(hdr.data, hdr.len, &two[1], 1, &why), TD_EDENIED);

    jose_key_free(other);
    buf_free(&hdr);
    buf_free(&tok);
    json_decref(claims);
}

static void test_garbage_tokens(void **state)
{
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "...",
        "a.b",
        "a.b.c.d",
        "eyJhbGciOiJSUzI1NiJ9",
        "eyJhbGciOiJSUzI1NiJ9.",
        "eyJhbGciOiJSUzI1NiJ9..",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln.c2ln",
        "!!!.e30.c2ln",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2l=",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2l+",
        "eyJhbGciOiJSUzI1NiJ9 .e30.c2ln",
        "e30.e30.c2ln",      /* {} header: no alg */
        "bnVsbA.e30.c2ln",   /* null header */
        "WzFd.e30.c2ln",     /* [1] header */
        "eyJhbGci.e30.c2ln", /* truncated JSON */
        "A.e30.c2ln",        /* impossible base64 length */
        "eyJhbGciOiJSUzI1NiJ9.e30.A",
    };
    const char *why;
    struct buf tok;
    char *huge;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = verify_rc(bad[i], strlen(bad[i]), g_key, 3, &why);
        assert_int_not_equal(rc, TD_OK);
    }
    /* NULL token. */
    assert_int_equal(verify_rc(NULL, 0, g_key, 3, &why), TD_EINVAL);
    /* An embedded NUL is not base64url. */
    {
        static const char nul[] = "eyJhbGciOiJSUzI1NiJ9.e3\0.c2ln";
        assert_int_not_equal(verify_rc(nul, sizeof(nul) - 1, g_key, 3, &why), TD_OK);
    }

    /* Huge: refused by length before anything is read. */
    huge = malloc(JOSE_MAX_TOKEN + 2);
    memset(huge, 'A', JOSE_MAX_TOKEN + 1);
    huge[100] = '.';
    huge[200] = '.';
    huge[JOSE_MAX_TOKEN + 1] = '\0';
    assert_int_equal(verify_rc(huge, JOSE_MAX_TOKEN + 1, g_key, 3, &why), TD_ETOOBIG);
    assert_string_equal(why, "token too long");
    /* Just under the limit but with an oversized header: refused, no crash. */
    assert_int_not_equal(verify_rc(huge, JOSE_MAX_TOKEN, g_key, 3, &why), TD_OK);
    huge[100] = 'A';
    huge[200] = 'A';
    huge[5000] = '.';
    huge[6000] = '.';
    assert_int_equal(verify_rc(huge, JOSE_MAX_TOKEN, g_key, 3, &why), TD_EINVAL);
    assert_string_equal(why, "header too long");
    free(huge);

    /* Deeply nested header JSON is refused before jansson recurses. */
    buf_init(&tok, 0);
    {
        struct buf h;
        buf_init(&h, 0);
        assert_int_equal(buf_appends(&h, "{\"alg\":\"RS256\",\"x\":"), TD_OK);
        for (int i = 0; i < 200; i++)
            assert_int_equal(buf_putc(&h, '['), TD_OK);
        for (int i = 0; i < 200; i++)
            assert_int_equal(buf_putc(&h, ']'), TD_OK);
        assert_int_equal(buf_putc(&h, '}'), TD_OK);
        make_token(&tok, h.data, "{}", "c2ln");
        assert_int_equal(verify_rc(tok.data, tok.len, g_key, 3, &why), TD_EINVAL);
        buf_free(&h);
    }
    buf_free(&tok);

    /* Random tokens: never accepted, never crash. */
    srand(12345);
    for (int i = 0; i < 3000; i++) {
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \"{}";
        char t[200];
        size_t n = (size_t)(rand() % (int)sizeof(t));
        for (size_t j = 0; j < n; j++)
            t[j] = alphabet[rand() % (int)(sizeof(alphabet) - 1)];
        assert_int_not_equal(verify_rc(t, n, g_key, 3, &why), TD_OK);
    }
    /* Random bytes after a real header and payload. */
    {
        json_t *claims = sample_claims();
        struct buf real;
        char *dot2;

        buf_init(&real, 0);
        assert_int_equal(jose_sign_jwt(g_key[JOSE_ES256], claims, &real), TD_OK);
        dot2 = strrchr(real.data, '.');
        for (int i = 0; i < 500; i++) {
            size_t at = (size_t)(dot2 - real.data) + 1 + (size_t)(rand() % 86);
            char save = real.data[at];
            real.data[at] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_"[rand() % 28];
            if (real.data[at] != save)
                assert_int_not_equal(verify_rc(real.data, real.len, g_key, 3, &why), TD_OK);
            real.data[at] = save;
        }
        assert_int_equal(verify_rc(real.data, real.len, g_key, 3, &why), TD_OK);
        buf_free(&real);
        json_decref(claims);
    }
}

static void test_claims_checks(void **state)
{
    const char *iss = "https://tandem.example";
    const int64_t now = 1700000100;
    json_t *c;
    const char *why;

    (void)state;
    c = sample_claims();
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", "n-0S6_WzA2Mj", now, 60, &why),
                     TD_OK);
    assert_string_equal(why, "ok");
    /* Nonce not expected: fine. */
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_OK);
    /* Wrong iss, wrong aud, wrong nonce. */
    assert_int_equal(
        jose_jwt_check_claims(c, "https://evil.example", "client-1", NULL, now, 60, &why),
        TD_EDENIED);
    assert_string_equal(why, "iss mismatch");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-2", NULL, now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "aud mismatch");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", "other", now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "nonce mismatch");
    /* Prefix is not equality. */
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-", NULL, now, 60, &why), TD_EDENIED);
    assert_int_equal(
        jose_jwt_check_claims(c, "https://tandem.exampl", "client-1", NULL, now, 60, &why),
        TD_EDENIED);

    /* Expired: exp = 1700000600. */
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1700000600, 0, &why),
                     TD_EDENIED);
    assert_string_equal(why, "token expired");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1700000659, 60, &why), TD_OK);
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1700000660, 60, &why),
                     TD_EDENIED);
    /* Leeway is clamped: a huge leeway does not revive an old token. */
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1800000000, 1 << 30, &why),
                     TD_EDENIED);
    /* iat in the future (beyond leeway); negative leeway is 0. */
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1699999000, 60, &why),
                     TD_EDENIED);
    assert_string_equal(why, "iat in the future");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1699999990, -5, &why),
                     TD_EDENIED);
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, 1699999990, 10, &why), TD_OK);

    /* Missing nonce when one is expected. */
    json_object_del(c, "nonce");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", "n-0S6_WzA2Mj", now, 60, &why),
                     TD_EDENIED);
    assert_string_equal(why, "nonce missing");
    /* A non-string nonce. */
    json_object_set_new(c, "nonce", json_integer(5));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", "5", now, 60, &why), TD_EDENIED);

    /* aud as an array. */
    json_object_set_new(c, "aud", json_pack("[s, s]", "client-0", "client-1"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_OK);
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-2", NULL, now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "aud mismatch");
    json_object_set_new(c, "aud", json_pack("[i, [s]]", 1, "client-1"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_set_new(c, "aud", json_array());
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_set_new(c, "aud", json_pack("[s, s]", "client-0", "client-1"));
    /* azp, when present, must be us. */
    json_object_set_new(c, "azp", json_string("client-0"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "azp mismatch");
    json_object_set_new(c, "azp", json_string("client-1"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_OK);

    /* nbf in the future. */
    json_object_set_new(c, "nbf", json_integer(1700001000));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_set_new(c, "nbf", json_string("soon"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_del(c, "nbf");

    /* Missing or wrongly typed exp, iat, sub, iss. */
    json_object_set_new(c, "exp", json_string("1700000600"));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "exp missing");
    json_object_set_new(c, "exp", json_real(1700000600.5));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_OK);
    json_object_del(c, "iat");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    assert_string_equal(why, "iat missing");
    json_object_set_new(c, "iat", json_integer(1700000000));
    json_object_set_new(c, "sub", json_string(""));
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_del(c, "sub");
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);
    json_object_set_new(c, "sub", json_string("alice"));
    json_object_set_new(c, "iss", json_true());
    assert_int_equal(jose_jwt_check_claims(c, iss, "client-1", NULL, now, 60, &why), TD_EDENIED);

    /* Bad arguments. */
    assert_int_equal(jose_jwt_check_claims(c, NULL, "client-1", NULL, now, 60, &why), TD_EINVAL);
    assert_int_equal(jose_jwt_check_claims(c, iss, NULL, NULL, now, 60, &why), TD_EINVAL);
    assert_int_equal(jose_jwt_check_claims(NULL, iss, "client-1", NULL, now, 60, &why), TD_EINVAL);
    json_decref(c);
}

static void test_half_hash(void **state)
{
    static const char at[] = "jHkWEdUXMU1BwAsC4vtUsZwnNDJIGvFjHlA0P9KRpyA";
    struct buf h;

    (void)state;
    buf_init(&h, 0);
    /* Expected values computed independently (Python hashlib). */
    assert_int_equal(jose_half_hash(JOSE_RS256, at, strlen(at), &h), TD_OK);
    assert_string_equal(h.data, "MXBlEMoI3m0MTiOhS3EkDg");
    buf_reset(&h);
    assert_int_equal(jose_half_hash(JOSE_ES256, at, strlen(at), &h), TD_OK);
    assert_string_equal(h.data, "MXBlEMoI3m0MTiOhS3EkDg");
    buf_reset(&h);
    assert_int_equal(jose_half_hash(JOSE_EDDSA, at, strlen(at), &h), TD_OK);
    assert_string_equal(h.data, "bsFQ-QZvyjll6xrAAY-Bo_lMYRRx0w_FNJlMzc0MRWE");
    buf_free(&h);
    /* Ceiling respected. */
    buf_init(&h, 10);
    assert_int_equal(jose_half_hash(JOSE_RS256, at, strlen(at), &h), TD_ETOOBIG);
    buf_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),
        cmocka_unit_test(test_sign_verify_each_alg),
        cmocka_unit_test(test_sign_output_ceiling),
        cmocka_unit_test(test_pem_round_trip),
        cmocka_unit_test(test_pem_garbage),
        cmocka_unit_test(test_rfc8037_ed25519_vector),
        cmocka_unit_test(test_rfc7638_thumbprint),
        cmocka_unit_test(test_rfc7515_vectors),
        cmocka_unit_test(test_jwk_export_import),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_jwk_refused),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_alg_none_and_confusion),
        cmocka_unit_test(test_kid_selection),
        cmocka_unit_test(test_garbage_tokens),
        cmocka_unit_test(test_claims_checks),
        cmocka_unit_test(test_half_hash),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
