/* SPDX-License-Identifier: MIT */
/* Unit tests for oauth/oauth.c and oauth_keys.c: the scope table, PKCE
 * (RFC 7636 Appendix B), redirect URI rules (RFC 8252, RFC 9700), client
 * registration and authentication, issuing and checking tokens, id_tokens
 * verified against the published JWKS, key rotation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/codec.h"
#include "core/err.h"
#include "oauth/oauth.h"

struct fx {
    char dir[64];
    struct store *st;
    struct oauth o;
    int64_t account_id;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts so = {0};
    char path[128];
    char *err = NULL;
    struct account a;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_oauth.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/t.db", f->dir);
    so.path = path;
    so.apply_migrations = true;
    assert_int_equal(store_open(&so, &f->st, &err), TD_OK);
    assert_int_equal(oauth_init(&f->o, NULL, f->st, "http://127.0.0.1:9", "localhost", &err),
                     TD_OK);
    memset(&a, 0, sizeof(a));
    a.username = "alice";
    a.display_name = "Alice A";
    a.bio = "";
    assert_int_equal(store_account_create(f->st, &a), TD_OK);
    f->account_id = a.id;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    oauth_free(&f->o);
    store_close(f->st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void test_scopes(void **state)
{
    struct arena *a = arena_new(0);
    (void)state;
    assert_true(oauth_scope_valid("openid profile chat"));
    assert_true(oauth_scope_valid(""));
    assert_false(oauth_scope_valid("openid admin"));
    assert_false(oauth_scope_valid("openid\tprofile"));
    assert_false(oauth_scope_valid(NULL));
    assert_true(oauth_scope_subset("chat openid", "openid profile chat"));
    assert_false(oauth_scope_subset("chat blog.write", "openid chat"));
    assert_true(oauth_scope_has("a openid b", "openid"));
    assert_false(oauth_scope_has("openidx", "openid"));
    assert_string_equal(oauth_scope_normalize(a, " chat  openid chat profile"),
                        "openid profile chat");
    assert_non_null(oauth_scope_find("microblog.write"));
    assert_non_null(oauth_scope_find("offline_access")->description);
    arena_free(a);
}

static void test_pkce(void **state)
{
    (void)state;
    /* RFC 7636 Appendix B. */
    assert_true(oauth_pkce_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX",
                               "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_false(oauth_pkce_ok("short", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                               "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    assert_false(oauth_pkce_ok(NULL, "x"));
    assert_false(oauth_pkce_ok("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", NULL));
}

static int reg(struct fx *f, const char *uris, const char *method, const char *grants,
               char secret[44], char **id, const char **why)
{
    struct oauth_client c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.name = (char *)"Test app";
    c.redirect_uris = (char *)uris;
    c.auth_method = (char *)method;
    c.grant_types = (char *)grants;
    rc = oauth_client_register(&f->o, &c, secret, why);
    *id = c.client_id;
    return rc;
}

static void test_register_rules(void **state)
{
    struct fx *f = *state;
    char secret[44];
    char *id = NULL;
    const char *why = NULL;

    assert_int_equal(reg(f, "[\"https://app.example/cb\"]", NULL, NULL, secret, &id, &why),
                     TD_OK);
    assert_int_equal(strlen(secret), 43);
    free(id);
    assert_int_equal(reg(f, "[\"http://127.0.0.1/cb\"]", "none", NULL, secret, &id, &why), TD_OK);
    assert_string_equal(secret, "");
    free(id);
    assert_int_equal(reg(f, "[\"com.example.app:/cb\"]", "none", NULL, secret, &id, &why),
                     TD_OK);
    free(id);
    static const char *const bad_uris[] = {
        "[\"http://evil.example/cb\"]", "[\"https://a.example/cb#frag\"]",
        "[\"javascript:alert(1)\"]",     "[\"/relative\"]",
        "[\"myapp:/cb\"]",               "[\"https://a.example/c b\"]",
        "[]",                            "\"https://a.example\"",
        "[1]",
    };
    for (size_t i = 0; i < sizeof(bad_uris) / sizeof(bad_uris[0]); i++) {
        why = NULL;
        assert_int_equal(reg(f, bad_uris[i], NULL, NULL, secret, &id, &why), TD_EINVAL);
        assert_non_null(why);
    }
    assert_int_equal(reg(f, "[]", "none", "client_credentials", secret, &id, &why), TD_EINVAL);
    assert_int_equal(reg(f, "[\"https://a.example/cb\"]", NULL, "authorization_code password",
                         secret, &id, &why),
                     TD_EINVAL);
    assert_int_equal(reg(f, "[\"https://a.example/cb\"]", NULL, "implicit", secret, &id, &why),
                     TD_EINVAL);
    assert_int_equal(reg(f, "[]", NULL, "client_credentials", secret, &id, &why), TD_OK);
    free(id);
}

static void test_redirect_match(void **state)
{
    struct oauth_client c;
    (void)state;
    memset(&c, 0, sizeof(c));
    c.redirect_uris = (char *)"[\"https://app.example/cb\",\"http://127.0.0.1/native\"]";
    assert_true(oauth_redirect_uri_ok(&c, "https://app.example/cb"));
    assert_false(oauth_redirect_uri_ok(&c, "https://app.example/cb/"));
    assert_false(oauth_redirect_uri_ok(&c, "https://app.example/cb?x=1"));
    assert_false(oauth_redirect_uri_ok(&c, "https://app.example/cbx"));
    assert_false(oauth_redirect_uri_ok(&c, "https://APP.example/cb"));
    assert_true(oauth_redirect_uri_ok(&c, "http://127.0.0.1:53121/native"));
    assert_true(oauth_redirect_uri_ok(&c, "http://127.0.0.1/native"));
    assert_false(oauth_redirect_uri_ok(&c, "http://127.0.0.1:53121/other"));
    assert_false(oauth_redirect_uri_ok(&c, "http://127.0.0.2:53121/native"));
    assert_false(oauth_redirect_uri_ok(&c, NULL));
}

static void basic_header(char *out, size_t cap, const char *id, const char *secret)
{
    char raw[256];
    struct buf b;

    snprintf(raw, sizeof(raw), "%s:%s", id, secret);
    buf_init(&b, 0);
    codec_b64_encode(&b, raw, strlen(raw));
    snprintf(out, cap, "Basic %s", b.data);
    buf_free(&b);
}

static void test_client_auth(void **state)
{
    struct fx *f = *state;
    char secret[44];
    char *id = NULL;
    char *pub = NULL;
    const char *why = NULL;
    const char *error = NULL;
    char hdr[256];
    struct oauth_client out;

    assert_int_equal(reg(f, "[\"https://a.example/cb\"]", NULL, NULL, secret, &id, &why), TD_OK);
    basic_header(hdr, sizeof(hdr), id, secret);
    assert_int_equal(
        oauth_client_authenticate(&f->o, hdr, NULL, NULL, "1.2.3.4", &out, &error, &why), TD_OK);
    assert_string_equal(out.client_id, id);
    store_oauth_client_clear(&out);
    /* The registered method is client_secret_basic: the secret in the body is refused. */
    assert_int_equal(
        oauth_client_authenticate(&f->o, NULL, id, secret, "1.2.3.4", &out, &error, &why),
        TD_EDENIED);
    assert_string_equal(error, "invalid_client");
    basic_header(hdr, sizeof(hdr), id, "wrong-secret");
    assert_int_equal(
        oauth_client_authenticate(&f->o, hdr, NULL, NULL, "1.2.3.4", &out, &error, &why),
        TD_EDENIED);
    /* No secret at all for a confidential client. */
    assert_int_equal(
        oauth_client_authenticate(&f->o, NULL, id, NULL, "1.2.3.4", &out, &error, &why),
        TD_EDENIED);
    assert_int_equal(oauth_client_authenticate(&f->o, "Basic !!!", NULL, NULL, "1.2.3.4", &out,
                                               &error, &why),
                     TD_EDENIED);
    /* A public client identifies itself by client_id only. */
    assert_int_equal(reg(f, "[\"http://127.0.0.1/cb\"]", "none", NULL, secret, &pub, &why), TD_OK);
    assert_int_equal(
        oauth_client_authenticate(&f->o, NULL, pub, NULL, "5.6.7.8", &out, &error, &why), TD_OK);
    store_oauth_client_clear(&out);
    /* Throttling after repeated failures from one address. */
    basic_header(hdr, sizeof(hdr), id, "wrong-secret");
    int rc = TD_OK;
    for (int i = 0; i < 30 && rc != TD_ELIMIT; i++)
        rc = oauth_client_authenticate(&f->o, hdr, NULL, NULL, "9.9.9.9", &out, &error, &why);
    assert_int_equal(rc, TD_ELIMIT);
    free(id);
    free(pub);
}

static void test_issue_and_check(void **state)
{
    struct fx *f = *state;
    char secret[44];
    char *id = NULL;
    const char *why = NULL;
    struct oauth_client c;
    struct oauth_issue is;
    json_t *resp = NULL;
    struct oauth_token t;
    json_t *jwks;
    struct jose_key **keys = NULL;
    size_t nkeys = 0;
    json_t *claims = NULL;
    const char *idt;

    assert_int_equal(reg(f, "[\"https://a.example/cb\"]", NULL, NULL, secret, &id, &why), TD_OK);
    assert_int_equal(store_oauth_client_get(f->st, id, &c), TD_OK);
    memset(&is, 0, sizeof(is));
    is.client = &c;
    is.account_id = f->account_id;
    is.scope = "openid profile";
    is.auth_time = 1700000000000;
    is.nonce = "n-0S6_WzA2Mj";
    is.refresh = true;
    is.id_token = true;
    assert_int_equal(oauth_issue(&f->o, &is, &resp), TD_OK);
    const char *access = json_string_value(json_object_get(resp, "access_token"));
    assert_int_equal(strlen(access), OAUTH_TOKEN_LEN);
    assert_string_equal(json_string_value(json_object_get(resp, "token_type")), "Bearer");
    assert_non_null(json_object_get(resp, "refresh_token"));
    assert_int_equal(oauth_access_token_check(&f->o, access, store_now_ms(), &t), TD_OK);
    assert_int_equal(t.account_id, f->account_id);
    store_oauth_token_clear(&t);
    assert_int_equal(oauth_access_token_check(&f->o, "nope", store_now_ms(), &t), TD_EDENIED);
    /* Expired at a later time. */
    assert_int_equal(oauth_access_token_check(&f->o, access,
                                              store_now_ms() + OAUTH_ACCESS_TTL_MS + 1, &t),
                     TD_EDENIED);

    /* The id_token verifies against the published JWKS with the standard claims. */
    idt = json_string_value(json_object_get(resp, "id_token"));
    jwks = oauth_keys_jwks(f->o.keys);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 3);
    assert_int_equal(jose_jwks_import(jwks, &keys, &nkeys), TD_OK);
    assert_int_equal(jose_verify_jwt(idt, strlen(idt), keys, nkeys, &claims, &why), TD_OK);
    assert_int_equal(jose_jwt_check_claims(claims, "http://127.0.0.1:9", id, "n-0S6_WzA2Mj",
                                           store_now_ms() / 1000, 60, &why),
                     TD_OK);
    assert_int_equal(json_integer_value(json_object_get(claims, "auth_time")), 1700000000);
    assert_non_null(json_object_get(claims, "at_hash"));
    json_decref(claims);

    /* Revoked tokens fail the check; the account being disabled does too. */
    uint8_t h[32];
    int64_t tid = 0;
    assert_int_equal(oauth_token_parse(access, &tid, h), TD_OK);
    assert_true(tid > 0);
    assert_int_equal(store_oauth_token_revoke(f->st, tid, h), TD_OK);
    assert_int_equal(oauth_access_token_check(&f->o, access, store_now_ms(), &t), TD_EDENIED);
    json_decref(resp);
    assert_int_equal(oauth_issue(&f->o, &is, &resp), TD_OK);
    access = json_string_value(json_object_get(resp, "access_token"));
    assert_int_equal(store_account_set_disabled(f->st, f->account_id, true), TD_OK);
    assert_int_equal(oauth_access_token_check(&f->o, access, store_now_ms(), &t), TD_EDENIED);

    jose_keys_free(keys, nkeys);
    json_decref(jwks);
    json_decref(resp);
    store_oauth_client_clear(&c);
    free(id);
}

static void test_claims(void **state)
{
    struct fx *f = *state;
    struct account a;
    json_t *c;

    assert_int_equal(store_account_get_by_id(f->st, f->account_id, &a), TD_OK);
    c = oauth_claims(&f->o, &a, "openid");
    assert_int_equal(json_object_size(c), 1); /* sub only */
    json_decref(c);
    c = oauth_claims(&f->o, &a, "openid profile");
    assert_string_equal(json_string_value(json_object_get(c, "name")), "Alice A");
    assert_string_equal(json_string_value(json_object_get(c, "preferred_username")), "alice");
    assert_string_equal(json_string_value(json_object_get(c, "profile")),
                        "http://127.0.0.1:9/u/alice");
    json_decref(c);
    store_account_clear(&a);
}

static void test_key_rotation(void **state)
{
    struct fx *f = *state;
    const struct jose_key *before = oauth_keys_signer(f->o.keys, JOSE_RS256);
    char kid[JOSE_MAX_KID + 1];
    json_t *jwks;
    struct oauth_keys *reopened = NULL;
    char *err = NULL;

    snprintf(kid, sizeof(kid), "%s", jose_key_kid(before));
    /* Publish now, sign later: the old key still signs, both are published. */
    assert_int_equal(oauth_keys_rotate(f->o.keys, f->st, 3600 * 1000), TD_OK);
    assert_string_equal(jose_key_kid(oauth_keys_signer(f->o.keys, JOSE_RS256)), kid);
    jwks = oauth_keys_jwks(f->o.keys);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 6);
    json_decref(jwks);
    /* The store keeps the same state across a restart. */
    assert_int_equal(oauth_keys_open(f->st, &reopened, &err), TD_OK);
    jwks = oauth_keys_jwks(reopened);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 6);
    json_decref(jwks);
    assert_string_equal(jose_key_kid(oauth_keys_signer(reopened, JOSE_RS256)), kid);
    oauth_keys_free(reopened);
    /* With no delay the new key signs at once. */
    assert_int_equal(oauth_keys_rotate(f->o.keys, f->st, 0), TD_OK);
    assert_string_not_equal(jose_key_kid(oauth_keys_signer(f->o.keys, JOSE_RS256)), kid);
}

/* Mastodon apps: the oob redirect URI and the password grant are theirs alone, and
 * they authenticate with the secret in the body or in the Basic header. */
static void test_register_masto(void **state)
{
    struct fx *f = *state;
    struct oauth_client c;
    struct oauth_client out;
    char secret[44];
    char hdr[256];
    const char *why = NULL;
    const char *error = NULL;
    char *id = NULL;

    assert_int_equal(reg(f, "[\"" OAUTH_REDIRECT_OOB "\"]", NULL, NULL, secret, &id, &why),
                     TD_EINVAL);
    assert_null(id);
    memset(&c, 0, sizeof(c));
    c.name = (char *)"Masto app";
    c.redirect_uris = (char *)"[\"" OAUTH_REDIRECT_OOB "\", \"https://a.example/cb\"]";
    c.scope = (char *)"read write";
    assert_int_equal(oauth_client_register_masto(&f->o, &c, secret, &why), TD_OK);
    assert_int_equal(strlen(secret), 43);
    id = c.client_id;
    assert_int_equal(
        oauth_client_authenticate(&f->o, NULL, id, secret, "1.2.3.4", &out, &error, &why), TD_OK);
    assert_true(oauth_client_is_masto(&out));
    assert_true(oauth_client_has_grant(&out, OAUTH_GRANT_PASSWORD));
    assert_true(oauth_redirect_uri_ok(&out, OAUTH_REDIRECT_OOB));
    store_oauth_client_clear(&out);
    basic_header(hdr, sizeof(hdr), id, secret);
    assert_int_equal(
        oauth_client_authenticate(&f->o, hdr, NULL, NULL, "1.2.3.4", &out, &error, &why), TD_OK);
    store_oauth_client_clear(&out);
    /* no secret at all is still refused */
    assert_int_equal(
        oauth_client_authenticate(&f->o, NULL, id, NULL, "1.2.3.4", &out, &error, &why),
        TD_EDENIED);
    free(id);
    /* the masto path still checks the other URIs */
    memset(&c, 0, sizeof(c));
    c.name = (char *)"Masto app";
    c.redirect_uris = (char *)"[\"urn:other\"]";
    assert_int_equal(oauth_client_register_masto(&f->o, &c, secret, &why), TD_EINVAL);
    assert_null(c.client_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scopes),
        cmocka_unit_test(test_pkce),
        cmocka_unit_test(test_redirect_match),
        cmocka_unit_test_setup_teardown(test_register_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_masto, setup, teardown),
        cmocka_unit_test_setup_teardown(test_issue_and_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
