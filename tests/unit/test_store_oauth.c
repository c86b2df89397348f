/* SPDX-License-Identifier: MIT */
/* Unit tests for store/store_sqlite_oauth.c: clients (duplicates, cascading
 * delete), one-time codes, tokens (rotation, revocation, purge), consents,
 * connected apps, device codes, signing keys, hostile strings and bad
 * arguments, the 0002_oauth migration (fresh and from version 1) and the
 * 0009_oauth_token_ids one keeping old-format tokens usable. Each
 * test gets a fresh database in its own mkdtemp directory. */
#include "core/err.h"
#include "store/store.h"
#include "store/store_oauth.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <unistd.h>

#include <cmocka.h>

struct store_migration {
    const char *name;
    const char *sql;
};
extern const struct store_migration store__migrations[];

struct fx {
    char dir[64];
    char path[128];
    struct store *st;
    int64_t alice;
    int64_t bob;
};

static int64_t make_account(struct store *st, const char *name)
{
    struct account a = {.username = (char *)name, .password_hash = (char *)"$argon2id$x"};

    assert_int_equal(store_account_create(st, &a), TD_OK);
    return a.id;
}

static void open_ok(struct fx *f)
{
    struct store_opts o = {.path = f->path, .apply_migrations = true};
    char *err = NULL;
    int rc = store_open(&o, &f->st, &err);

    if (rc != TD_OK)
        fail_msg("store_open: %d %s", rc, err ? err : "");
    assert_null(err);
}

static int setup_dir(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store_oauth.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tandem.db", f->dir);
    *state = f;
    return 0;
}

/* A fresh database with accounts alice and bob. */
static int setup(void **state)
{
    struct fx *f;

    if (setup_dir(state) != 0)
        return -1;
    f = *state;
    open_ok(f);
    f->alice = make_account(f->st, "alice");
    f->bob = make_account(f->st, "bob");
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};

    store_close(f->st);
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static void hash_of(uint8_t h[32], int seed)
{
    for (int i = 0; i < 32; i++)
        h[i] = (uint8_t)(seed * 31 + i);
}

/* The row id these tests give the token whose hash is hash_of(h, seed): h[0] is
 * seed * 31 mod 256, distinct for every seed below 256. */
static int64_t id_of(const uint8_t h[32])
{
    return (int64_t)h[0] + 1;
}

static void make_client(struct store *st, const char *id, const char *name)
{
    struct oauth_client c = {
        .client_id = (char *)id,
        .name = (char *)name,
        .redirect_uris = (char *)"[\"https://app.example/cb\"]",
        .grant_types = (char *)"authorization_code refresh_token",
        .scope = (char *)"openid profile",
    };

    assert_int_equal(store_oauth_client_create(st, &c), TD_OK);
}

static void make_code(struct store *st, int seed, const char *client, int64_t account,
                      int64_t grant_id, int64_t expires_at)
{
    struct oauth_code c = {
        .client_id = (char *)client,
        .account_id = account,
        .redirect_uri = (char *)"https://app.example/cb",
        .scope = (char *)"openid",
        .grant_id = grant_id,
        .expires_at = expires_at,
    };

    hash_of(c.code_hash, seed);
    assert_int_equal(store_oauth_code_create(st, &c), TD_OK);
}

static void make_token(struct store *st, int seed, int kind, const char *client, int64_t account,
                       const char *scope, int64_t grant_id, int64_t expires_at)
{
    struct oauth_token t = {
        .kind = kind,
        .client_id = (char *)client,
        .account_id = account,
        .scope = (char *)scope,
        .grant_id = grant_id,
        .expires_at = expires_at,
    };

    hash_of(t.token_hash, seed);

    t.id = id_of(t.token_hash);
    assert_int_equal(store_oauth_token_create(st, &t), TD_OK);
}

static void make_device(struct store *st, int seed, const char *user_code, const char *client,
                        int64_t expires_at)
{
    struct oauth_device d = {
        .user_code = (char *)user_code,
        .client_id = (char *)client,
        .scope = (char *)"openid",
        .expires_at = expires_at,
        .interval_ms = 5000,
    };

    hash_of(d.device_code_hash, seed);
    assert_int_equal(store_oauth_device_create(st, &d), TD_OK);
}

/* ---- clients ---- */

static int count_clients(void *ud, const struct oauth_client *c)
{
    char *seen = ud;
    size_t n = strlen(seen);

    /* Record the first letter of each client id, in list order. */
    seen[n] = c->client_id[0];
    seen[n + 1] = '\0';
    return 0;
}

static int stop_first(void *ud, const struct oauth_client *c)
{
    (void)c;
    (*(int *)ud)++;
    return 1;
}

static void test_client_create_get(void **state)
{
    struct fx *f = *state;
    struct oauth_client c = {
        .client_id = (char *)"conf1",
        .name = (char *)"Confidential",
        .has_secret = true,
        .redirect_uris = (char *)"[\"https://a/cb\"]",
        .post_logout_redirect_uris = (char *)"[\"https://a/bye\"]",
        .grant_types = (char *)"authorization_code",
        .scope = (char *)"openid email",
        .auth_method = (char *)"client_secret_post",
        .id_token_alg = (char *)"EdDSA",
        .client_uri = (char *)"https://a/about",
        .dynamic = true,
        .has_reg_token = true,
    };
    struct oauth_client got;

    hash_of(c.secret_hash, 1);
    hash_of(c.reg_token_hash, 2);
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    assert_true(c.created_at > 0);
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_EEXIST);

    assert_int_equal(store_oauth_client_get(f->st, "conf1", &got), TD_OK);
    assert_string_equal(got.client_id, "conf1");
    assert_string_equal(got.name, "Confidential");
    assert_true(got.has_secret);
    assert_memory_equal(got.secret_hash, c.secret_hash, 32);
    assert_string_equal(got.redirect_uris, "[\"https://a/cb\"]");
    assert_string_equal(got.post_logout_redirect_uris, "[\"https://a/bye\"]");
    assert_string_equal(got.grant_types, "authorization_code");
    assert_string_equal(got.scope, "openid email");
    assert_string_equal(got.auth_method, "client_secret_post");
    assert_string_equal(got.id_token_alg, "EdDSA");
    assert_string_equal(got.client_uri, "https://a/about");
    assert_true(got.dynamic);
    assert_true(got.has_reg_token);
    assert_memory_equal(got.reg_token_hash, c.reg_token_hash, 32);
    assert_int_equal(got.created_at, c.created_at);
    store_oauth_client_clear(&got);
    assert_null(got.client_id);

    /* A public client with every optional field left out gets the defaults. */
    struct oauth_client pub = {.client_id = (char *)"pub1", .created_at = 42};
    assert_int_equal(store_oauth_client_create(f->st, &pub), TD_OK);
    assert_int_equal(pub.created_at, 42);
    assert_int_equal(store_oauth_client_get(f->st, "pub1", &got), TD_OK);
    assert_false(got.has_secret);
    assert_false(got.has_reg_token);
    assert_false(got.dynamic);
    assert_string_equal(got.name, "");
    assert_string_equal(got.redirect_uris, "[]");
    assert_string_equal(got.post_logout_redirect_uris, "[]");
    assert_string_equal(got.grant_types, "authorization_code");
    assert_string_equal(got.auth_method, "none");
    assert_string_equal(got.id_token_alg, "RS256");
    assert_null(got.client_uri);
    assert_int_equal(got.created_at, 42);
    store_oauth_client_clear(&got);

    assert_int_equal(store_oauth_client_get(f->st, "nope", &got), TD_ENOTFOUND);
    assert_null(got.client_id);
    assert_int_equal(store_oauth_client_get(f->st, NULL, &got), TD_EINVAL);
    struct oauth_client bad = {.client_id = (char *)""};
    assert_int_equal(store_oauth_client_create(f->st, &bad), TD_EINVAL);
    bad.client_id = NULL;
    assert_int_equal(store_oauth_client_create(f->st, &bad), TD_EINVAL);
}

static void test_client_hostile_strings(void **state)
{
    struct fx *f = *state;
    static const char *const evil[] = {
        "x'); DROP TABLE oauth_clients; --",
        "\" OR 1=1 --",
        "日本語 ✓",
        "%s%n%x",
    };
    struct oauth_client got;

    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        struct oauth_client c = {.client_id = (char *)evil[i], .name = (char *)evil[i],
                                 .scope = (char *)evil[i]};

        assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    }
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        assert_int_equal(store_oauth_client_get(f->st, evil[i], &got), TD_OK);
        assert_string_equal(got.client_id, evil[i]);
        assert_string_equal(got.name, evil[i]);
        assert_string_equal(got.scope, evil[i]);
        store_oauth_client_clear(&got);
    }
}

static void test_client_damaged_secret(void **state)
{
    struct fx *f = *state;
    struct oauth_client got;
    sqlite3 *db = NULL;

    make_client(f->st, "c1", "One");
    /* A secret hash of the wrong length must not read back as a public client. */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE oauth_clients SET secret_hash = x'0102'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_oauth_client_get(f->st, "c1", &got), TD_EIO);
    assert_null(got.client_id);
}

static void test_client_list(void **state)
{
    struct fx *f = *state;
    struct oauth_client c = {.client_id = (char *)"b-client", .created_at = 200};
    char seen[16] = "";
    int calls = 0;

    assert_int_equal(store_oauth_client_list(f->st, count_clients, seen), TD_OK);
    assert_string_equal(seen, "");
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    c.client_id = (char *)"a-client";
    c.created_at = 300;
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    c.client_id = (char *)"c-client";
    c.created_at = 100;
    assert_int_equal(store_oauth_client_create(f->st, &c), TD_OK);
    assert_int_equal(store_oauth_client_list(f->st, count_clients, seen), TD_OK);
    assert_string_equal(seen, "cba"); /* by creation time */
    assert_int_equal(store_oauth_client_list(f->st, stop_first, &calls), TD_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(store_oauth_client_list(f->st, NULL, NULL), TD_EINVAL);
}

static void test_client_delete_cascades(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    uint8_t h[32];
    struct oauth_code code;
    struct oauth_token tok;
    struct oauth_device dev;
    char *scope = NULL;

    make_client(f->st, "gone", "Gone");
    make_client(f->st, "kept", "Kept");
    make_code(f->st, 1, "gone", f->alice, 10, now + 60000);
    make_code(f->st, 2, "kept", f->alice, 11, now + 60000);
    make_token(f->st, 3, OAUTH_TOKEN_ACCESS, "gone", f->alice, "openid", 10, now + 60000);
    make_token(f->st, 4, OAUTH_TOKEN_ACCESS, "gone", 0, "api", 12, now + 60000);
    make_token(f->st, 5, OAUTH_TOKEN_ACCESS, "kept", f->alice, "openid", 11, now + 60000);
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "gone", "openid"), TD_OK);
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "kept", "openid"), TD_OK);
    make_device(f->st, 6, "GONEGONE", "gone", now + 60000);

    assert_int_equal(store_oauth_client_delete(f->st, "gone"), TD_OK);
    assert_int_equal(store_oauth_client_delete(f->st, "gone"), TD_ENOTFOUND);
    assert_int_equal(store_oauth_client_get(f->st, "gone", &(struct oauth_client){0}),
                     TD_ENOTFOUND);

    hash_of(h, 1);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_ENOTFOUND);
    hash_of(h, 3);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &tok), TD_ENOTFOUND);
    hash_of(h, 4);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &tok), TD_ENOTFOUND);
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "gone", &scope), TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "GONEGONE", &dev), TD_ENOTFOUND);

    /* The other client's rows are untouched. */
    hash_of(h, 2);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_OK);
    store_oauth_code_clear(&code);
    hash_of(h, 5);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &tok), TD_OK);
    store_oauth_token_clear(&tok);
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "kept", &scope), TD_OK);
    free(scope);
}

/* ---- codes ---- */

static void test_code_consume_once(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_code c = {
        .client_id = (char *)"app",
        .account_id = 0,
        .redirect_uri = (char *)"https://app.example/cb",
        .scope = (char *)"openid profile",
        .code_challenge = (char *)"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        .code_challenge_method = (char *)"S256",
        .nonce = (char *)"n-0S6_WzA2Mj",
        .auth_time = now - 1000,
        .acr = (char *)"urn:mace:incommon:iap:silver",
        .amr = (char *)"pwd otp",
        .grant_id = 777,
        .expires_at = now + 60000,
        .used_at = 12345, /* ignored: codes start unused */
    };
    struct oauth_code got;

    make_client(f->st, "app", "App");
    c.account_id = f->alice;
    hash_of(c.code_hash, 9);
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_OK);
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_EEXIST);

    assert_int_equal(store_oauth_code_consume(f->st, c.code_hash, now, &got), TD_OK);
    assert_memory_equal(got.code_hash, c.code_hash, 32);
    assert_string_equal(got.client_id, "app");
    assert_int_equal(got.account_id, f->alice);
    assert_string_equal(got.redirect_uri, "https://app.example/cb");
    assert_string_equal(got.scope, "openid profile");
    assert_string_equal(got.code_challenge, c.code_challenge);
    assert_string_equal(got.code_challenge_method, "S256");
    assert_string_equal(got.nonce, "n-0S6_WzA2Mj");
    assert_int_equal(got.auth_time, now - 1000);
    assert_string_equal(got.acr, c.acr);
    assert_string_equal(got.amr, "pwd otp");
    assert_int_equal(got.grant_id, 777);
    assert_int_equal(got.expires_at, now + 60000);
    assert_int_equal(got.used_at, now);
    store_oauth_code_clear(&got);

    /* Replay: reported with the grant to revoke, and the first use time kept. */
    assert_int_equal(store_oauth_code_consume(f->st, c.code_hash, now + 5, &got), TD_EEXIST);
    assert_int_equal(got.grant_id, 777);
    assert_int_equal(got.used_at, now);
    store_oauth_code_clear(&got);

    /* Unknown code, bad arguments. */
    uint8_t other[32];
    hash_of(other, 10);
    assert_int_equal(store_oauth_code_consume(f->st, other, now, &got), TD_ENOTFOUND);
    assert_null(got.client_id);
    assert_int_equal(store_oauth_code_consume(f->st, other, 0, &got), TD_EINVAL);
    assert_int_equal(store_oauth_code_consume(f->st, NULL, now, &got), TD_EINVAL);
}

static void test_code_nulls_and_refs(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_code c = {.client_id = (char *)"app",
                           .redirect_uri = (char *)"https://a/cb",
                           .grant_id = 1,
                           .expires_at = now + 1000};
    struct oauth_code got;

    make_client(f->st, "app", "App");
    /* Unknown account and unknown client are foreign key failures. */
    c.account_id = 999999;
    hash_of(c.code_hash, 1);
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_ENOTFOUND);
    c.account_id = f->alice;
    c.client_id = (char *)"nope";
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_ENOTFOUND);
    c.client_id = NULL;
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_EINVAL);
    c.client_id = (char *)"app";
    c.redirect_uri = NULL;
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_EINVAL);
    c.redirect_uri = (char *)"https://a/cb";

    /* Without PKCE, nonce, acr or amr those read back as NULL; scope as "". */
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_OK);
    assert_int_equal(store_oauth_code_consume(f->st, c.code_hash, now, &got), TD_OK);
    assert_null(got.code_challenge);
    assert_null(got.code_challenge_method);
    assert_null(got.nonce);
    assert_null(got.acr);
    assert_null(got.amr);
    assert_string_equal(got.scope, "");
    store_oauth_code_clear(&got);

    /* Deleting the account takes its codes along. */
    hash_of(c.code_hash, 2);
    c.account_id = f->bob;
    assert_int_equal(store_oauth_code_create(f->st, &c), TD_OK);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM accounts "
                                      "WHERE username_lc = 'bob'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_oauth_code_consume(f->st, c.code_hash, now, &got), TD_ENOTFOUND);
}

/* ---- tokens ---- */

static void test_token_lifecycle(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_token t = {
        .kind = OAUTH_TOKEN_REFRESH,
        .client_id = (char *)"app",
        .scope = (char *)"openid offline_access",
        .grant_id = 55,
        .auth_time = now - 10,
        .created_at = now - 5,
        .expires_at = now + 3600000,
    };
    struct oauth_token got;
    uint8_t unknown[32];

    make_client(f->st, "app", "App");
    t.account_id = f->alice;
    hash_of(t.token_hash, 1);
    t.id = id_of(t.token_hash);
    hash_of(unknown, 99);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_OK);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_EEXIST);

    assert_int_equal(store_oauth_token_get(f->st, id_of(t.token_hash), t.token_hash, &got), TD_OK);
    assert_memory_equal(got.token_hash, t.token_hash, 32);
    assert_int_equal(got.kind, OAUTH_TOKEN_REFRESH);
    assert_string_equal(got.client_id, "app");
    assert_int_equal(got.account_id, f->alice);
    assert_string_equal(got.scope, "openid offline_access");
    assert_int_equal(got.grant_id, 55);
    assert_int_equal(got.auth_time, now - 10);
    assert_int_equal(got.created_at, now - 5);
    assert_int_equal(got.expires_at, now + 3600000);
    assert_false(got.revoked);
    assert_false(got.used);
    store_oauth_token_clear(&got);
    assert_int_equal(store_oauth_token_get(f->st, id_of(unknown), unknown, &got), TD_ENOTFOUND);
    /* The right id with another token's hash (a wrong secret) is refused like an unknown
     * token, by the constant-time compare, and changes nothing. */
    assert_int_equal(store_oauth_token_get(f->st, t.id, unknown, &got), TD_ENOTFOUND);
    assert_null(got.client_id);
    assert_int_equal(store_oauth_token_mark_used(f->st, t.id, unknown), TD_ENOTFOUND);
    assert_int_equal(store_oauth_token_revoke(f->st, t.id, unknown), TD_OK);
    assert_int_equal(store_oauth_token_get(f->st, t.id, t.token_hash, &got), TD_OK);
    assert_false(got.used);
    assert_false(got.revoked);
    store_oauth_token_clear(&got);
    /* Id 0 is an old-format token: looked up by hash among the legacy rows only. */
    assert_int_equal(store_oauth_token_get(f->st, 0, t.token_hash, &got), TD_ENOTFOUND);
    assert_int_equal(store_oauth_token_mark_used(f->st, 0, t.token_hash), TD_ENOTFOUND);
    assert_int_equal(store_oauth_token_get(f->st, -1, t.token_hash, &got), TD_EINVAL);

    /* Rotation: once only. */
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(t.token_hash), t.token_hash), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(t.token_hash), t.token_hash), TD_EEXIST);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(unknown), unknown), TD_ENOTFOUND);
    assert_int_equal(store_oauth_token_get(f->st, id_of(t.token_hash), t.token_hash, &got), TD_OK);
    assert_true(got.used);
    store_oauth_token_clear(&got);

    /* A revoked token cannot be rotated either. */
    hash_of(t.token_hash, 2);
    t.id = id_of(t.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_OK);
    assert_int_equal(store_oauth_token_revoke(f->st, id_of(t.token_hash), t.token_hash), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(t.token_hash), t.token_hash), TD_EEXIST);
    assert_int_equal(store_oauth_token_get(f->st, id_of(t.token_hash), t.token_hash, &got), TD_OK);
    assert_true(got.revoked);
    assert_false(got.used);
    store_oauth_token_clear(&got);
    /* Revoking an unknown token is fine (RFC 7009 §2.2). */
    assert_int_equal(store_oauth_token_revoke(f->st, id_of(unknown), unknown), TD_OK);

    /* client_credentials: no account, created_at defaults to now. */
    struct oauth_token cc = {.kind = OAUTH_TOKEN_ACCESS, .client_id = (char *)"app",
                             .grant_id = 56, .expires_at = now + 1000};
    hash_of(cc.token_hash, 3);
    cc.id = id_of(cc.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_OK);
    assert_int_equal(store_oauth_token_get(f->st, id_of(cc.token_hash), cc.token_hash, &got), TD_OK);
    assert_int_equal(got.account_id, 0);
    assert_string_equal(got.scope, "");
    assert_true(got.created_at >= now);
    store_oauth_token_clear(&got);

    /* Bad arguments. */
    cc.kind = 3;
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_EINVAL);
    cc.kind = 0;
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_EINVAL);
    cc.kind = OAUTH_TOKEN_ACCESS;
    cc.client_id = NULL;
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_EINVAL);
    cc.client_id = (char *)"nope";
    hash_of(cc.token_hash, 4);
    cc.id = id_of(cc.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_ENOTFOUND);
    assert_int_equal(store_oauth_token_mark_used(f->st, 1, NULL), TD_EINVAL);
    cc.client_id = (char *)"app";
    cc.id = 0; /* new tokens need their id */
    assert_int_equal(store_oauth_token_create(f->st, &cc), TD_EINVAL);
}

static void test_grant_revoke(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_token got;
    uint8_t h[32];
    int64_t n = -1;

    make_client(f->st, "app", "App");
    make_token(f->st, 1, OAUTH_TOKEN_ACCESS, "app", f->alice, "a", 100, now + 1000);
    make_token(f->st, 2, OAUTH_TOKEN_REFRESH, "app", f->alice, "a", 100, now + 1000);
    make_token(f->st, 3, OAUTH_TOKEN_REFRESH, "app", f->alice, "a", 100, now + 1000);
    make_token(f->st, 4, OAUTH_TOKEN_ACCESS, "app", f->alice, "a", 200, now + 1000);
    hash_of(h, 3);
    assert_int_equal(store_oauth_token_revoke(f->st, id_of(h), h), TD_OK);

    assert_int_equal(store_oauth_grant_revoke(f->st, 100, &n), TD_OK);
    assert_int_equal(n, 2); /* the already revoked one is not counted */
    for (int i = 1; i <= 3; i++) {
        hash_of(h, i);
        assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_OK);
        assert_true(got.revoked);
        store_oauth_token_clear(&got);
    }
    hash_of(h, 4);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_OK);
    assert_false(got.revoked);
    store_oauth_token_clear(&got);
    assert_int_equal(store_oauth_grant_revoke(f->st, 100, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_int_equal(store_oauth_grant_revoke(f->st, 999, NULL), TD_OK);
}

static void test_tokens_revoke_for(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_token got;
    struct oauth_code code;
    struct oauth_device dev;
    uint8_t h[32];

    make_client(f->st, "app", "App");
    make_client(f->st, "other", "Other");
    make_token(f->st, 1, OAUTH_TOKEN_ACCESS, "app", f->alice, "a", 1, now + 1000);
    make_token(f->st, 2, OAUTH_TOKEN_REFRESH, "app", f->alice, "a", 2, now + 1000);
    make_token(f->st, 3, OAUTH_TOKEN_ACCESS, "app", f->bob, "a", 3, now + 1000);
    make_token(f->st, 4, OAUTH_TOKEN_ACCESS, "other", f->alice, "a", 4, now + 1000);
    make_code(f->st, 5, "app", f->alice, 5, now + 1000);
    make_code(f->st, 6, "app", f->bob, 6, now + 1000);
    make_device(f->st, 7, "ALICEAPP", "app", now + 60000);
    assert_int_equal(store_oauth_device_decide(f->st, "ALICEAPP", now, true, f->alice, now),
                     TD_OK);

    assert_int_equal(store_oauth_tokens_revoke_for(f->st, f->alice, "app"), TD_OK);
    for (int i = 1; i <= 4; i++) {
        hash_of(h, i);
        assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_OK);
        assert_int_equal(got.revoked, i <= 2);
        store_oauth_token_clear(&got);
    }
    /* In-flight authorizations of the pair are cut off too, others' are not. */
    hash_of(h, 5);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_ENOTFOUND);
    hash_of(h, 6);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_OK);
    store_oauth_code_clear(&code);
    hash_of(h, 7);
    assert_int_equal(store_oauth_device_get(f->st, h, &dev), TD_OK);
    assert_int_equal(dev.status, OAUTH_DEVICE_DENIED);
    store_oauth_device_clear(&dev);
    assert_int_equal(store_oauth_device_mark_used(f->st, h), TD_ENOTFOUND);

    assert_int_equal(store_oauth_tokens_revoke_for(f->st, f->alice, NULL), TD_EINVAL);
    assert_int_equal(store_oauth_tokens_revoke_for(f->st, f->alice, "nope"), TD_OK);
}

static void test_purge_expired(void **state)
{
    struct fx *f = *state;
    int64_t now = 1700000000000;
    struct oauth_token got;
    struct oauth_code code;
    struct oauth_device dev;
    uint8_t h[32];
    int64_t n = -1;

    make_client(f->st, "app", "App");
    make_token(f->st, 1, OAUTH_TOKEN_ACCESS, "app", f->alice, "a", 1, now - 1);
    make_token(f->st, 2, OAUTH_TOKEN_ACCESS, "app", f->alice, "a", 1, now);
    make_token(f->st, 3, OAUTH_TOKEN_REFRESH, "app", f->alice, "a", 1, now + 1);
    make_code(f->st, 4, "app", f->alice, 2, now - 1);
    make_code(f->st, 5, "app", f->alice, 3, now + 1);
    make_device(f->st, 6, "OLDOLDOL", "app", now - 1);
    make_device(f->st, 7, "NEWNEWNE", "app", now + 1);

    assert_int_equal(store_oauth_purge_expired(f->st, now, &n), TD_OK);
    assert_int_equal(n, 4);
    hash_of(h, 1);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_ENOTFOUND);
    hash_of(h, 2);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_ENOTFOUND);
    hash_of(h, 3);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h), h, &got), TD_OK);
    store_oauth_token_clear(&got);
    hash_of(h, 4);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_ENOTFOUND);
    hash_of(h, 5);
    assert_int_equal(store_oauth_code_consume(f->st, h, now, &code), TD_OK);
    store_oauth_code_clear(&code);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "OLDOLDOL", &dev), TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "NEWNEWNE", &dev), TD_OK);
    store_oauth_device_clear(&dev);
    /* The purged user code is free again. */
    make_device(f->st, 8, "OLDOLDOL", "app", now + 100);

    assert_int_equal(store_oauth_purge_expired(f->st, now, NULL), TD_OK);
    assert_int_equal(store_oauth_purge_expired(f->st, now, &n), TD_OK);
    assert_int_equal(n, 0);
}

/* ---- consents and connected apps ---- */

static void test_consent(void **state)
{
    struct fx *f = *state;
    char *scope = (char *)"sentinel";

    make_client(f->st, "app", "App");
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "app", &scope), TD_ENOTFOUND);
    assert_null(scope);
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "app", "openid"), TD_OK);
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "app", &scope), TD_OK);
    assert_string_equal(scope, "openid");
    free(scope);
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "app", "openid email"), TD_OK);
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "app", &scope), TD_OK);
    assert_string_equal(scope, "openid email");
    free(scope);
    /* Per account. */
    assert_int_equal(store_oauth_consent_get(f->st, f->bob, "app", &scope), TD_ENOTFOUND);
    /* Unknown client or account. */
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "nope", "x"), TD_ENOTFOUND);
    assert_int_equal(store_oauth_consent_set(f->st, 123456789, "app", "x"), TD_ENOTFOUND);
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, NULL, "x"), TD_EINVAL);

    assert_int_equal(store_oauth_consent_delete(f->st, f->alice, "app"), TD_OK);
    assert_int_equal(store_oauth_consent_get(f->st, f->alice, "app", &scope), TD_ENOTFOUND);
    assert_int_equal(store_oauth_consent_delete(f->st, f->alice, "app"), TD_OK);
}

struct apps_seen {
    int n;
    char ids[8][32];
    char names[8][32];
    char scopes[8][128];
    int64_t since[8];
};

static int collect_app(void *ud, const struct oauth_connected_app *app)
{
    struct apps_seen *s = ud;

    if (s->n >= 8)
        return 1;
    snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", app->client_id);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", app->client_name);
    snprintf(s->scopes[s->n], sizeof(s->scopes[0]), "%s", app->scope);
    s->since[s->n] = app->since;
    s->n++;
    return 0;
}

static int stop_app(void *ud, const struct oauth_connected_app *app)
{
    (void)app;
    (*(int *)ud)++;
    return 1;
}

static void test_connected_apps(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct apps_seen seen;
    uint8_t h[32];
    int calls = 0;

    make_client(f->st, "consented", "Alpha");
    make_client(f->st, "tokened", "Beta");
    make_client(f->st, "expired", "Gamma");
    make_client(f->st, "revoked", "Delta");
    make_client(f->st, "rotated", "Epsilon");
    make_client(f->st, "bobs", "Zeta");

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_connected_apps(f->st, f->alice, now, collect_app, &seen), TD_OK);
    assert_int_equal(seen.n, 0);

    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "consented", "openid profile"),
                     TD_OK);
    /* Live tokens: scopes united without repeats. */
    struct oauth_token t = {.kind = OAUTH_TOKEN_ACCESS, .client_id = (char *)"tokened",
                            .account_id = f->alice, .scope = (char *)"openid email",
                            .grant_id = 1, .created_at = 1000, .expires_at = now + 60000};
    hash_of(t.token_hash, 1);
    t.id = id_of(t.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_OK);
    t.scope = (char *)"email  openid offline_access";
    t.kind = OAUTH_TOKEN_REFRESH;
    t.created_at = 900;
    hash_of(t.token_hash, 2);
    t.id = id_of(t.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_OK);
    hash_of(t.token_hash, 3);
    t.id = id_of(t.token_hash);
    assert_int_equal(store_oauth_token_create(f->st, &t), TD_OK);
    /* Dead tokens only. */
    make_token(f->st, 4, OAUTH_TOKEN_ACCESS, "expired", f->alice, "openid", 2, now);
    make_token(f->st, 5, OAUTH_TOKEN_ACCESS, "revoked", f->alice, "openid", 3, now + 60000);
    hash_of(h, 5);
    assert_int_equal(store_oauth_token_revoke(f->st, id_of(h), h), TD_OK);
    make_token(f->st, 6, OAUTH_TOKEN_REFRESH, "rotated", f->alice, "openid", 4, now + 60000);
    hash_of(h, 6);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(h), h), TD_OK);
    /* Someone else's. */
    make_token(f->st, 7, OAUTH_TOKEN_ACCESS, "bobs", f->bob, "openid", 5, now + 60000);
    assert_int_equal(store_oauth_consent_set(f->st, f->bob, "bobs", "openid"), TD_OK);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_connected_apps(f->st, f->alice, now, collect_app, &seen), TD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[0], "consented");
    assert_string_equal(seen.names[0], "Alpha");
    assert_string_equal(seen.scopes[0], "openid profile");
    assert_true(seen.since[0] >= now - 1000);
    assert_string_equal(seen.ids[1], "tokened");
    assert_string_equal(seen.names[1], "Beta");
    assert_int_equal(seen.since[1], 900);
    /* Each scope once; which scope string comes first is not specified. */
    assert_int_equal(strlen(seen.scopes[1]), strlen("openid email offline_access"));
    assert_non_null(strstr(seen.scopes[1], "openid"));
    assert_non_null(strstr(seen.scopes[1], "email"));
    assert_non_null(strstr(seen.scopes[1], "offline_access"));

    /* Consent plus tokens for one client: one entry, scopes merged. */
    assert_int_equal(store_oauth_consent_set(f->st, f->alice, "tokened", "openid address"),
                     TD_OK);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_connected_apps(f->st, f->alice, now, collect_app, &seen), TD_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(strlen(seen.scopes[1]), strlen("openid email offline_access address"));
    assert_non_null(strstr(seen.scopes[1], "address"));

    /* Later, every token has expired: only the consents remain. */
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(
        store_oauth_connected_apps(f->st, f->alice, now + 60000, collect_app, &seen), TD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.scopes[1], "openid address");

    assert_int_equal(store_oauth_connected_apps(f->st, f->alice, now, stop_app, &calls), TD_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(store_oauth_connected_apps(f->st, f->alice, now, NULL, NULL), TD_EINVAL);
}

/* ---- device codes ---- */

static void test_device_flow(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_device d = {
        .user_code = (char *)"WDJBMJHT",
        .client_id = (char *)"tv",
        .scope = (char *)"openid profile",
        .expires_at = now + 600000,
        .interval_ms = 5000,
    };
    struct oauth_device got;
    int64_t prev = -1;

    make_client(f->st, "tv", "TV");
    hash_of(d.device_code_hash, 1);
    assert_int_equal(store_oauth_device_create(f->st, &d), TD_OK);
    /* Same user code, different device code: collision. */
    hash_of(d.device_code_hash, 2);
    assert_int_equal(store_oauth_device_create(f->st, &d), TD_EEXIST);
    /* Same device code, different user code: also a clash. */
    hash_of(d.device_code_hash, 1);
    d.user_code = (char *)"BBBBBBBB";
    assert_int_equal(store_oauth_device_create(f->st, &d), TD_EEXIST);
    d.user_code = (char *)"WDJBMJHT";

    assert_int_equal(store_oauth_device_get(f->st, d.device_code_hash, &got), TD_OK);
    assert_memory_equal(got.device_code_hash, d.device_code_hash, 32);
    assert_string_equal(got.user_code, "WDJBMJHT");
    assert_string_equal(got.client_id, "tv");
    assert_string_equal(got.scope, "openid profile");
    assert_int_equal(got.expires_at, now + 600000);
    assert_int_equal(got.interval_ms, 5000);
    assert_int_equal(got.last_poll_at, 0);
    assert_int_equal(got.status, OAUTH_DEVICE_PENDING);
    assert_int_equal(got.account_id, 0);
    store_oauth_device_clear(&got);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "WDJBMJHT", &got), TD_OK);
    assert_memory_equal(got.device_code_hash, d.device_code_hash, 32);
    store_oauth_device_clear(&got);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "wdjbmjht", &got), TD_ENOTFOUND);

    /* Polling reports the previous poll time and updates the interval. */
    assert_int_equal(store_oauth_device_poll(f->st, d.device_code_hash, now + 1, 5000, &prev),
                     TD_OK);
    assert_int_equal(prev, 0);
    assert_int_equal(store_oauth_device_poll(f->st, d.device_code_hash, now + 2, 10000, &prev),
                     TD_OK);
    assert_int_equal(prev, now + 1);
    assert_int_equal(store_oauth_device_get(f->st, d.device_code_hash, &got), TD_OK);
    assert_int_equal(got.last_poll_at, now + 2);
    assert_int_equal(got.interval_ms, 10000);
    store_oauth_device_clear(&got);

    /* Not approved yet: cannot be redeemed. */
    assert_int_equal(store_oauth_device_mark_used(f->st, d.device_code_hash), TD_ENOTFOUND);
    /* Approve once; a second decision finds nothing pending. */
    assert_int_equal(store_oauth_device_decide(f->st, "WDJBMJHT", now, true, f->alice, now - 7),
                     TD_OK);
    assert_int_equal(store_oauth_device_decide(f->st, "WDJBMJHT", now, false, f->bob, 0),
                     TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_get(f->st, d.device_code_hash, &got), TD_OK);
    assert_int_equal(got.status, OAUTH_DEVICE_APPROVED);
    assert_int_equal(got.account_id, f->alice);
    assert_int_equal(got.auth_time, now - 7);
    store_oauth_device_clear(&got);
    assert_int_equal(store_oauth_device_mark_used(f->st, d.device_code_hash), TD_OK);
    assert_int_equal(store_oauth_device_mark_used(f->st, d.device_code_hash), TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_get(f->st, d.device_code_hash, &got), TD_OK);
    assert_int_equal(got.status, OAUTH_DEVICE_USED);
    store_oauth_device_clear(&got);
}

static void test_device_decide_rules(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_device got;
    uint8_t h[32];
    int64_t prev = -1;

    make_client(f->st, "tv", "TV");
    make_device(f->st, 1, "EXPIRED1", "tv", now);
    make_device(f->st, 2, "DENYDENY", "tv", now + 1000);
    /* Expired (expires_at <= now): no decision. */
    assert_int_equal(store_oauth_device_decide(f->st, "EXPIRED1", now, true, f->alice, now),
                     TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_decide(f->st, "UNKNOWN1", now, true, f->alice, now),
                     TD_ENOTFOUND);
    /* Approval needs an account; an unknown one is refused. */
    assert_int_equal(store_oauth_device_decide(f->st, "DENYDENY", now, true, 0, now), TD_EINVAL);
    assert_int_equal(store_oauth_device_decide(f->st, "DENYDENY", now, true, 987654321, now),
                     TD_ENOTFOUND);
    /* Deny without an account. */
    assert_int_equal(store_oauth_device_decide(f->st, "DENYDENY", now, false, 0, 0), TD_OK);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, "DENYDENY", &got), TD_OK);
    assert_int_equal(got.status, OAUTH_DEVICE_DENIED);
    assert_int_equal(got.account_id, 0);
    store_oauth_device_clear(&got);
    assert_int_equal(store_oauth_device_decide(f->st, "DENYDENY", now, true, f->alice, now),
                     TD_ENOTFOUND);
    hash_of(h, 2);
    assert_int_equal(store_oauth_device_mark_used(f->st, h), TD_ENOTFOUND);

    /* Unknown codes and bad arguments. */
    hash_of(h, 9);
    assert_int_equal(store_oauth_device_poll(f->st, h, now, 5000, &prev), TD_ENOTFOUND);
    assert_int_equal(prev, 0);
    assert_int_equal(store_oauth_device_get(f->st, h, &got), TD_ENOTFOUND);
    assert_int_equal(store_oauth_device_poll(f->st, h, now, -1, NULL), TD_EINVAL);
    assert_int_equal(store_oauth_device_get_by_user_code(f->st, NULL, &got), TD_EINVAL);
    struct oauth_device bad = {.user_code = (char *)"", .client_id = (char *)"tv"};
    assert_int_equal(store_oauth_device_create(f->st, &bad), TD_EINVAL);
    bad.user_code = (char *)"ABCDABCD";
    bad.status = 9;
    assert_int_equal(store_oauth_device_create(f->st, &bad), TD_EINVAL);
    bad.status = 0;
    bad.client_id = (char *)"nope";
    assert_int_equal(store_oauth_device_create(f->st, &bad), TD_ENOTFOUND);
}

/* ---- keys ---- */

struct keys_seen {
    int n;
    char kids[8][16];
    int64_t retire[8];
};

static int collect_key(void *ud, const struct oauth_key_row *k)
{
    struct keys_seen *s = ud;

    if (s->n >= 8)
        return 1;
    snprintf(s->kids[s->n], sizeof(s->kids[0]), "%s", k->kid);
    s->retire[s->n] = k->retire_at;
    assert_non_null(strstr(k->private_pem, "BEGIN PRIVATE KEY"));
    s->n++;
    return 0;
}

static void test_keys(void **state)
{
    struct fx *f = *state;
    struct oauth_key_row k = {
        .kid = (char *)"k2",
        .alg = (char *)"ES256",
        .private_pem = (char *)"-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n",
        .created_at = 2000,
        .use_from = 2500,
    };
    struct keys_seen seen;

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_key_list(f->st, collect_key, &seen), TD_OK);
    assert_int_equal(seen.n, 0);
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_OK);
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_EEXIST);
    k.kid = (char *)"k1";
    k.alg = (char *)"RS256";
    k.created_at = 1000;
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_OK);
    k.kid = (char *)"k3";
    k.alg = (char *)"EdDSA";
    k.created_at = 0; /* now */
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_OK);

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_key_list(f->st, collect_key, &seen), TD_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.kids[0], "k1");
    assert_string_equal(seen.kids[1], "k2");
    assert_string_equal(seen.kids[2], "k3");
    assert_int_equal(seen.retire[0], 0);

    assert_int_equal(store_oauth_key_set_retire(f->st, "k1", 5000), TD_OK);
    assert_int_equal(store_oauth_key_set_retire(f->st, "nope", 5000), TD_ENOTFOUND);
    assert_int_equal(store_oauth_key_delete(f->st, "k2"), TD_OK);
    assert_int_equal(store_oauth_key_delete(f->st, "k2"), TD_ENOTFOUND);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_key_list(f->st, collect_key, &seen), TD_OK);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.kids[0], "k1");
    assert_int_equal(seen.retire[0], 5000);
    assert_string_equal(seen.kids[1], "k3");

    k.private_pem = NULL;
    k.kid = (char *)"k4";
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_EINVAL);
    k.private_pem = (char *)"pem";
    k.kid = (char *)"";
    assert_int_equal(store_oauth_key_add(f->st, &k), TD_EINVAL);

    /* Clearing a filled row wipes and frees it. */
    struct oauth_key_row owned = {.kid = strdup("x"), .alg = strdup("RS256"),
                                  .private_pem = strdup("secret")};
    store_oauth_key_clear(&owned);
    assert_null(owned.private_pem);
    store_oauth_key_clear(NULL);
}

/* ---- two connections (two processes) on one database ---- */

static void test_two_connections(void **state)
{
    struct fx *f = *state;
    struct store_opts o = {.path = f->path, .apply_migrations = true};
    struct store *st2 = NULL;
    int64_t now = store_now_ms();
    struct oauth_code code;
    uint8_t h[32];
    int64_t prev = -1;

    assert_int_equal(store_open(&o, &st2, NULL), TD_OK);
    make_client(f->st, "app", "App");
    make_code(f->st, 1, "app", f->alice, 42, now + 60000);
    make_token(f->st, 2, OAUTH_TOKEN_REFRESH, "app", f->alice, "a", 42, now + 60000);
    make_device(f->st, 3, "TWOCONNS", "app", now + 60000);

    /* Whichever connection redeems first wins; the other sees a replay. */
    hash_of(h, 1);
    assert_int_equal(store_oauth_code_consume(st2, h, now, &code), TD_OK);
    store_oauth_code_clear(&code);
    assert_int_equal(store_oauth_code_consume(f->st, h, now + 1, &code), TD_EEXIST);
    assert_int_equal(code.grant_id, 42);
    assert_int_equal(code.used_at, now);
    store_oauth_code_clear(&code);

    hash_of(h, 2);
    assert_int_equal(store_oauth_token_mark_used(f->st, id_of(h), h), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(st2, id_of(h), h), TD_EEXIST);

    hash_of(h, 3);
    assert_int_equal(store_oauth_device_poll(f->st, h, now + 10, 5000, &prev), TD_OK);
    assert_int_equal(prev, 0);
    assert_int_equal(store_oauth_device_poll(st2, h, now + 20, 5000, &prev), TD_OK);
    assert_int_equal(prev, now + 10);
    assert_int_equal(store_oauth_device_decide(st2, "TWOCONNS", now, true, f->alice, now), TD_OK);
    assert_int_equal(store_oauth_device_mark_used(f->st, h), TD_OK);
    assert_int_equal(store_oauth_device_mark_used(st2, h), TD_ENOTFOUND);
    store_close(st2);
}

/* ---- schema ---- */

static void test_schema_version(void **state)
{
    struct fx *f = *state;
    int v = 0;

    assert_true(STORE_SCHEMA_VERSION >= 2);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
}

static void test_upgrade_from_v1(void **state)
{
    struct fx *f = *state;
    char sql[4096];
    sqlite3 *db = NULL;
    char *msg = NULL;
    struct account a;
    int from = -1;
    int to = -1;
    int v = 0;

    /* A version-1 database holding an account, as an older tandem left it. */
    snprintf(sql, sizeof(sql),
             "%s; PRAGMA user_version = 1; INSERT INTO accounts (id, username, username_lc, "
             "created_at, updated_at) VALUES (7, 'Old', 'old', 1, 1);",
             store__migrations[0].sql);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw: %s", msg ? msg : "?");
    sqlite3_close(db);

    assert_int_equal(store_migrate(f->path, &from, &to, NULL), TD_OK);
    assert_int_equal(from, 1);
    assert_int_equal(to, STORE_SCHEMA_VERSION);
    open_ok(f);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    assert_int_equal(store_account_get_by_name(f->st, "old", &a), TD_OK);
    assert_int_equal(a.id, 7);
    store_account_clear(&a);
    /* The new tables work against the old account. */
    make_client(f->st, "app", "App");
    assert_int_equal(store_oauth_consent_set(f->st, 7, "app", "openid"), TD_OK);
    make_code(f->st, 1, "app", 7, 1, store_now_ms() + 1000);
}

/* A database at the previous schema version holding old-format tokens (keyed by their
 * hash): after the 0009 migration they are still found (id 0), rotated, revoked, revoked
 * with their family, listed as connected apps and purged, beside new tokens. */
static void test_upgrade_keeps_old_tokens(void **state)
{
    struct fx *f = *state;
    int64_t now = store_now_ms();
    struct oauth_token got;
    uint8_t h1[32], h2[32], h3[32];
    char sql[2048];
    sqlite3 *db = NULL;
    char *msg = NULL;
    int64_t n = 0;
    int v = 0;

    /* the version just before 0009_oauth_token_ids; later migrations run on open */
    const int before = 8;

    assert_true(STORE_SCHEMA_VERSION >= 9);
    assert_string_equal(store__migrations[before].name, "0009_oauth_token_ids");
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    for (int i = 0; i < before; i++)
        if (sqlite3_exec(db, store__migrations[i].sql, NULL, NULL, &msg) != SQLITE_OK)
            fail_msg("raw %d: %s", i, msg ? msg : "?");
    hash_of(h1, 1);
    hash_of(h2, 2);
    hash_of(h3, 3);
    snprintf(sql, sizeof(sql),
             "PRAGMA user_version = %d;"
             "INSERT INTO accounts (id, username, username_lc, created_at, updated_at)"
             " VALUES (7, 'Old', 'old', 1, 1);"
             "INSERT INTO oauth_clients (client_id, name, auth_method, id_token_alg, created_at)"
             " VALUES ('app', 'App', 'none', 'RS256', 1);"
             "INSERT INTO oauth_tokens (token_hash, kind, client_id, account_id, scope, grant_id,"
             " created_at, expires_at) VALUES"
             " (?1, 1, 'app', 7, 'openid', 70, 5, %lld),"
             " (?2, 2, 'app', 7, 'openid offline_access', 70, 5, %lld),"
             " (?3, 1, 'app', 7, 'openid', 71, 5, %lld);",
             before, (long long)(now + 60000), (long long)(now + 60000),
             (long long)(now - 1));
    {
        /* The hashes go in as blobs: bind them through a statement per row. */
        sqlite3_stmt *s = NULL;
        const char *tail = sql;
        while (tail && *tail) {
            const char *next = NULL;
            assert_int_equal(sqlite3_prepare_v2(db, tail, -1, &s, &next), SQLITE_OK);
            if (s == NULL)
                break;
            if (sqlite3_bind_parameter_count(s) == 3) {
                sqlite3_bind_blob(s, 1, h1, 32, SQLITE_STATIC);
                sqlite3_bind_blob(s, 2, h2, 32, SQLITE_STATIC);
                sqlite3_bind_blob(s, 3, h3, 32, SQLITE_STATIC);
            }
            assert_int_equal(sqlite3_step(s), SQLITE_DONE);
            sqlite3_finalize(s);
            tail = next;
        }
    }
    sqlite3_close(db);

    open_ok(f);
    assert_int_equal(store_schema_version(f->st, &v), TD_OK);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    /* Found by hash (id 0), not by an id. */
    assert_int_equal(store_oauth_token_get(f->st, 0, h1, &got), TD_OK);
    assert_int_equal(got.id, 0);
    assert_int_equal(got.account_id, 7);
    assert_int_equal(got.grant_id, 70);
    assert_string_equal(got.scope, "openid");
    store_oauth_token_clear(&got);
    assert_int_equal(store_oauth_token_get(f->st, id_of(h1), h1, &got), TD_ENOTFOUND);
    /* The refresh token rotates once, and its family gets a new-format token. */
    assert_int_equal(store_oauth_token_mark_used(f->st, 0, h2), TD_OK);
    assert_int_equal(store_oauth_token_mark_used(f->st, 0, h2), TD_EEXIST);
    /* The live old access token makes "app" a connected app, since its creation. */
    struct apps_seen seen;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(store_oauth_connected_apps(f->st, 7, now, collect_app, &seen), TD_OK);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.ids[0], "app");
    assert_int_equal(seen.since[0], 5);
    make_token(f->st, 9, OAUTH_TOKEN_REFRESH, "app", 7, "openid offline_access", 70,
               now + 60000);
    /* Reuse detection revokes the family across both tables. */
    assert_int_equal(store_oauth_grant_revoke(f->st, 70, &n), TD_OK);
    assert_int_equal(n, 3); /* h1, the rotated-away h2 and token 9 */
    assert_int_equal(store_oauth_token_get(f->st, 0, h1, &got), TD_OK);
    assert_true(got.revoked);
    store_oauth_token_clear(&got);
    /* The expired old token goes with the purge. */
    assert_int_equal(store_oauth_purge_expired(f->st, now, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_oauth_token_get(f->st, 0, h3, &got), TD_ENOTFOUND);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TD(fn) cmocka_unit_test_setup_teardown(fn, setup_dir, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_client_create_get),
        T(test_client_hostile_strings),
        T(test_client_damaged_secret),
        T(test_client_list),
        T(test_client_delete_cascades),
        T(test_code_consume_once),
        T(test_code_nulls_and_refs),
        T(test_token_lifecycle),
        T(test_grant_revoke),
        T(test_tokens_revoke_for),
        T(test_purge_expired),
        T(test_consent),
        T(test_connected_apps),
        T(test_device_flow),
        T(test_device_decide_rules),
        T(test_keys),
        T(test_two_connections),
        T(test_schema_version),
        TD(test_upgrade_from_v1),
        TD(test_upgrade_keeps_old_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
