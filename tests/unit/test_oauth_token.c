/* SPDX-License-Identifier: MIT */
/* Unit tests for the access/refresh token format of oauth/oauth.c
 * (oauth_token_new, oauth_token_parse; RFC 4648 §5 base64url): the row id
 * inside a token, malformed strings, old-format tokens, and
 * oauth_access_token_check() finding tokens by id and refusing a right id
 * with a wrong secret (RFC 6750 §3.1 invalid_token). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/codec.h"
#include "core/err.h"
#include "oauth/oauth.h"

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    struct oauth o;
    int64_t account_id;
    struct oauth_client c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_opts so = {0};
    char *err = NULL;
    struct account a;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_oauth_token.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
    so.path = f->path;
    so.apply_migrations = true;
    assert_int_equal(store_open(&so, &f->st, &err), TD_OK);
    assert_int_equal(oauth_init(&f->o, NULL, f->st, "http://127.0.0.1:9", "localhost", &err),
                     TD_OK);
    memset(&a, 0, sizeof(a));
    a.username = "alice";
    a.display_name = "Alice";
    a.bio = "";
    assert_int_equal(store_account_create(f->st, &a), TD_OK);
    f->account_id = a.id;
    f->c.client_id = "app";
    f->c.name = "App";
    f->c.redirect_uris = "[]";
    f->c.grant_types = "client_credentials";
    f->c.scope = "openid blog.read";
    f->c.auth_method = "client_secret_basic";
    f->c.id_token_alg = "EdDSA";
    assert_int_equal(store_oauth_client_create(f->st, &f->c), TD_OK);
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

/* The token string of raw bytes (base64url, unpadded) into out[cap]. */
static void encode(const uint8_t *raw, size_t n, char *out, size_t cap)
{
    struct buf b;

    buf_init(&b, 0);
    assert_int_equal(codec_b64url_encode(&b, raw, n), TD_OK);
    assert_true(b.len < cap);
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    buf_free(&b);
}

static void decode(const char *token, uint8_t raw[OAUTH_TOKEN_BYTES])
{
    size_t n = 0;

    assert_int_equal(codec_b64url_decode(token, strlen(token), raw, OAUTH_TOKEN_BYTES, &n),
                     TD_OK);
    assert_int_equal(n, OAUTH_TOKEN_BYTES);
}

static void test_new_and_parse(void **state)
{
    char t1[OAUTH_TOKEN_LEN + 1], t2[OAUTH_TOKEN_LEN + 1];
    uint8_t h1[32], h2[32], h[32], raw[OAUTH_TOKEN_BYTES];
    int64_t id1 = 0, id2 = 0, id = 0;

    (void)state;
    oauth_token_new(t1, &id1, h1);
    oauth_token_new(t2, &id2, h2);
    assert_int_equal(strlen(t1), OAUTH_TOKEN_LEN);
    assert_int_equal(CODEC_B64URL_LEN(OAUTH_TOKEN_BYTES), OAUTH_TOKEN_LEN);
    assert_true(id1 > 0 && id2 > id1); /* time-ordered: new rows append */
    assert_string_not_equal(t1, t2);
    /* The id is the first 8 bytes, big-endian; the hash is of the whole string. */
    decode(t1, raw);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | raw[i];
    assert_int_equal((int64_t)v, id1);
    oauth_hash(t1, h);
    assert_memory_equal(h, h1, 32);
    assert_int_equal(oauth_token_parse(t1, &id, h), TD_OK);
    assert_int_equal(id, id1);
    assert_memory_equal(h, h1, 32);
    /* An old-format token (43 characters) parses with id 0 and its SHA-256. */
    const char *old = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ";
    assert_int_equal(strlen(old), OAUTH_TOKEN_LEGACY_LEN);
    assert_int_equal(oauth_token_parse(old, &id, h), TD_OK);
    assert_int_equal(id, 0);
    oauth_hash(old, h1);
    assert_memory_equal(h, h1, 32);
}

static void test_parse_malformed(void **state)
{
    char t[OAUTH_TOKEN_LEN + 1], bad[OAUTH_TOKEN_LEN + 8];
    uint8_t h[32], raw[OAUTH_TOKEN_BYTES];
    int64_t id = 0;

    (void)state;
    oauth_token_new(t, &id, h);
    assert_int_equal(oauth_token_parse(NULL, &id, h), TD_EINVAL);
    assert_int_equal(id, 0);
    assert_int_equal(oauth_token_parse("", &id, h), TD_EINVAL);
    /* Too short, too long. */
    for (size_t len = 1; len < OAUTH_TOKEN_LEN + 4; len++) {
        if (len == OAUTH_TOKEN_LEN || len == OAUTH_TOKEN_LEGACY_LEN)
            continue;
        memset(bad, 'A', len);
        bad[len] = '\0';
        assert_int_equal(oauth_token_parse(bad, &id, h), TD_EINVAL);
    }
    /* Characters outside base64url, padding. */
    static const char wrong[] = {'=', '+', '/', '.', ' ', '%', '\x80'};
    for (size_t i = 0; i < sizeof(wrong); i++) {
        memcpy(bad, t, sizeof(t));
        bad[20] = wrong[i];
        assert_int_equal(oauth_token_parse(bad, &id, h), TD_EINVAL);
    }
    /* Id 0 and an id with the sign bit set. */
    decode(t, raw);
    memset(raw, 0, 8);
    encode(raw, sizeof(raw), bad, sizeof(bad));
    assert_int_equal(oauth_token_parse(bad, &id, h), TD_EINVAL);
    raw[0] = 0x80;
    encode(raw, sizeof(raw), bad, sizeof(bad));
    assert_int_equal(oauth_token_parse(bad, &id, h), TD_EINVAL);
}

static void issue_access(struct fx *f, int64_t account_id, char *out, size_t cap)
{
    struct oauth_issue is = {.client = &f->c, .account_id = account_id, .scope = "blog.read"};
    json_t *resp = NULL;
    const char *at;

    assert_int_equal(oauth_issue(&f->o, &is, &resp), TD_OK);
    at = json_string_value(json_object_get(resp, "access_token"));
    assert_non_null(at);
    assert_true(strlen(at) < cap);
    snprintf(out, cap, "%s", at);
    json_decref(resp);
}

static void test_check_by_id(void **state)
{
    struct fx *f = *state;
    char at[OAUTH_TOKEN_LEN + 1], forged[OAUTH_TOKEN_LEN + 1];
    uint8_t raw[OAUTH_TOKEN_BYTES], h[32];
    struct oauth_token t;
    int64_t id = 0;

    issue_access(f, f->account_id, at, sizeof(at));
    assert_int_equal(oauth_access_token_check(&f->o, at, store_now_ms(), &t), TD_OK);
    assert_int_equal(oauth_token_parse(at, &id, h), TD_OK);
    assert_int_equal(t.id, id);
    assert_int_equal(t.account_id, f->account_id);
    assert_string_equal(t.scope, "blog.read");
    store_oauth_token_clear(&t);

    /* The right id with one secret bit flipped: refused, like an unknown token. */
    decode(at, raw);
    raw[OAUTH_TOKEN_BYTES - 1] ^= 1;
    encode(raw, sizeof(raw), forged, sizeof(forged));
    assert_int_equal(oauth_access_token_check(&f->o, forged, store_now_ms(), &t), TD_EDENIED);
    assert_null(t.client_id);
    assert_int_equal(oauth_token_parse(forged, &id, h), TD_OK);
    assert_int_equal(store_oauth_token_get(f->st, id, h, &t), TD_ENOTFOUND);
    /* A well-formed token whose id was never issued. */
    raw[OAUTH_TOKEN_BYTES - 1] ^= 1;
    raw[7] ^= 0x55;
    encode(raw, sizeof(raw), forged, sizeof(forged));
    assert_int_equal(oauth_access_token_check(&f->o, forged, store_now_ms(), &t), TD_EDENIED);
    /* Malformed strings never reach the store. */
    assert_int_equal(oauth_access_token_check(&f->o, "short", store_now_ms(), &t), TD_EDENIED);
    assert_int_equal(oauth_access_token_check(&f->o, NULL, store_now_ms(), &t), TD_EDENIED);

    /* A client_credentials token (no account) is found the same way. */
    issue_access(f, 0, at, sizeof(at));
    assert_int_equal(oauth_access_token_check(&f->o, at, store_now_ms(), &t), TD_OK);
    assert_int_equal(t.account_id, 0);
    store_oauth_token_clear(&t);
}

/* An old-format token left in the legacy table by a previous version still passes. */
static void test_check_legacy(void **state)
{
    struct fx *f = *state;
    const char *old = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    uint8_t h[32];
    struct oauth_token t;
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;

    assert_int_equal(strlen(old), OAUTH_TOKEN_LEGACY_LEN);
    oauth_hash(old, h);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                         "INSERT INTO oauth_tokens_legacy (token_hash, kind, client_id, account_id,"
                         " scope, grant_id, created_at, expires_at)"
                         " VALUES (?1, 1, 'app', ?2, 'blog.read', 7, 1, ?3)", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_blob(s, 1, h, 32, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(s, 2, f->account_id), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(s, 3, store_now_ms() + 60000), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);

    assert_int_equal(oauth_access_token_check(&f->o, old, store_now_ms(), &t), TD_OK);
    assert_int_equal(t.id, 0);
    assert_int_equal(t.grant_id, 7);
    store_oauth_token_clear(&t);
    assert_int_equal(store_oauth_token_revoke(f->st, 0, h), TD_OK);
    assert_int_equal(oauth_access_token_check(&f->o, old, store_now_ms(), &t), TD_EDENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_and_parse),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test_setup_teardown(test_check_by_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_legacy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
