/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_oauth.h: OAuth 2.0 clients (RFC 6749 §2, with
 * the RFC 7591/7592 registration fields), one-time authorization codes
 * (RFC 6749 §4.1.2: a second redemption is reported so the caller can revoke
 * the grant), access and refresh tokens grouped into grant families for
 * rotation with reuse detection (OAuth 2.0 Security BCP §4.14) and
 * revocation (RFC 7009), remembered consents, device codes (RFC 8628 §3.2,
 * §3.5) and JWS signing keys. Every single-use transition (code redemption,
 * refresh rotation, device approval and redemption) is one UPDATE with the
 * precondition in its WHERE clause, so two racing requests, even from two
 * processes on one database, cannot both win. The tables are migration
 * 0002_oauth in store_migrations.c, with tokens keyed by the id they carry
 * since 0009_oauth_token_ids (old-format tokens stay in oauth_tokens_legacy
 * until they expire); account_id 0 in the structs is SQL NULL in oauth_tokens
 * and oauth_device_codes. */
#include "store/store_oauth.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"
#include "core/log.h"

#include <openssl/crypto.h>
#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

/* How often store_oauth_device_poll() retries its compare-and-set when another
 * poll of the same code slipped in between its read and its write. */
#define DEVICE_POLL_TRIES 8

/* ---- shared helpers ---- */

/* Copy a 32-byte hash column into out. *has (may be NULL) tells whether it was
 * set; a NULL column is allowed only when has is given. Any other length is a
 * damaged row: TD_EIO (a wrong-length secret hash must never read as "public"). */
static int col_hash(sqlite3_stmt *s, int i, uint8_t out[32], bool *has)
{
    const void *v;
    int n;

    memset(out, 0, 32);
    if (has)
        *has = false;
    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        if (has)
            return TD_OK;
        log_err("store.oauth_bad_hash", "column=%d len=null", i);
        return TD_EIO;
    }
    v = sqlite3_column_blob(s, i);
    n = sqlite3_column_bytes(s, i);
    if (v == NULL || n != 32) {
        log_err("store.oauth_bad_hash", "column=%d len=%d", i, n);
        return TD_EIO;
    }
    memcpy(out, v, 32);
    if (has)
        *has = true;
    return TD_OK;
}

/* Column text as a malloc'd copy, "" for SQL NULL (for NOT NULL columns). */
static char *col_strdup_nn(sqlite3_stmt *s, int i)
{
    char *t = store__col_strdup(s, i);

    return t ? t : td_strdup("");
}

/* Bind a 32-byte hash, or SQL NULL when has is false. */
static int bind_hash_opt(struct store *st, sqlite3_stmt *s, int i, bool has, const uint8_t h[32])
{
    if (!has)
        return store__bind_text(st, s, i, NULL);
    return store__bind_blob(st, s, i, h, 32);
}

/* Bind an account id, with 0 (none) as SQL NULL. */
static int bind_account_opt(struct store *st, sqlite3_stmt *s, int i, int64_t account_id)
{
    if (account_id == 0)
        return store__bind_text(st, s, i, NULL);
    return store__bind_i64(st, s, i, account_id);
}

/* Run a statement bound to one 32-byte hash as ?1 and expect no rows. */
static int exec_hash(struct store *st, const char *sql, const uint8_t h[32], int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, h, 32);
    if (rc == TD_OK)
        rc = store__step_done(st, s, changes);
    store__put(s);
    return rc;
}

/* Run a statement bound to one text ?1 and optionally an integer ?2; expect no rows. */
static int exec_text_i64(struct store *st, const char *sql, const char *t, bool with_i,
                         int64_t i, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, t);
    if (rc == TD_OK && with_i)
        rc = store__bind_i64(st, s, 2, i);
    if (rc == TD_OK)
        rc = store__step_done(st, s, changes);
    store__put(s);
    return rc;
}

/* TD_OK if SELECT 1 ... WHERE <hash> = ?1 finds a row, else TD_ENOTFOUND. */
static int hash_exists(struct store *st, const char *sql, const uint8_t h[32])
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, h, 32);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    store__put(s);
    return rc;
}

/* ---- clients ---- */

#define CLIENT_COLS                                                                        \
    "client_id, name, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, " \
    "scope, auth_method, id_token_alg, dynamic, reg_token_hash, created_at, client_uri"

static const char sql_client_insert[] =
    "INSERT INTO oauth_clients (" CLIENT_COLS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
static const char sql_client_get[] =
    "SELECT " CLIENT_COLS " FROM oauth_clients WHERE client_id = ?1";
static const char sql_client_list[] =
    "SELECT " CLIENT_COLS " FROM oauth_clients ORDER BY created_at, client_id";
static const char sql_client_delete[] = "DELETE FROM oauth_clients WHERE client_id = ?1";

void store_oauth_client_clear(struct oauth_client *c)
{
    if (c == NULL)
        return;
    free(c->client_id);
    free(c->name);
    free(c->redirect_uris);
    free(c->post_logout_redirect_uris);
    free(c->grant_types);
    free(c->scope);
    free(c->auth_method);
    free(c->id_token_alg);
    free(c->client_uri);
    OPENSSL_cleanse(c, sizeof(*c));
}

/* Fill *c (zeroed first) from a row selected with CLIENT_COLS. On error *c is
 * cleared. */
static int read_client(sqlite3_stmt *s, struct oauth_client *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->client_id = col_strdup_nn(s, 0);
    c->name = col_strdup_nn(s, 1);
    c->redirect_uris = col_strdup_nn(s, 3);
    c->post_logout_redirect_uris = col_strdup_nn(s, 4);
    c->grant_types = col_strdup_nn(s, 5);
    c->scope = col_strdup_nn(s, 6);
    c->auth_method = col_strdup_nn(s, 7);
    c->id_token_alg = col_strdup_nn(s, 8);
    c->dynamic = sqlite3_column_int(s, 9) != 0;
    c->created_at = sqlite3_column_int64(s, 11);
    c->client_uri = store__col_strdup(s, 12);
    rc = col_hash(s, 2, c->secret_hash, &c->has_secret);
    if (rc == TD_OK)
        rc = col_hash(s, 10, c->reg_token_hash, &c->has_reg_token);
    if (rc != TD_OK)
        store_oauth_client_clear(c);
    return rc;
}

/* NULL strings get the RFC 7591 §2 defaults: no redirect URIs, the
 * authorization_code grant, client_secret_basic (none for a public client)
 * and RS256 ID tokens (OpenID Connect Registration §2). */
int store_oauth_client_create(struct store *st, struct oauth_client *c)
{
    sqlite3_stmt *s = NULL;
    const char *auth_method;
    int64_t now = store_now_ms();
    int rc;

    if (st == NULL || c == NULL || c->client_id == NULL || c->client_id[0] == '\0')
        return TD_EINVAL;
    auth_method = c->auth_method;
    if (auth_method == NULL)
        auth_method = c->has_secret ? "client_secret_basic" : "none";
    rc = store__stmt(st, sql_client_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, c->client_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, c->name ? c->name : "");
    if (rc == TD_OK)
        rc = bind_hash_opt(st, s, 3, c->has_secret, c->secret_hash);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, c->redirect_uris ? c->redirect_uris : "[]");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 5,
                              c->post_logout_redirect_uris ? c->post_logout_redirect_uris
                                                           : "[]");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, c->grant_types ? c->grant_types : "authorization_code");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 7, c->scope ? c->scope : "");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 8, auth_method);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 9, c->id_token_alg ? c->id_token_alg : "RS256");
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 10, c->dynamic ? 1 : 0);
    if (rc == TD_OK)
        rc = bind_hash_opt(st, s, 11, c->has_reg_token, c->reg_token_hash);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 12, c->created_at != 0 ? c->created_at : now);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 13, c->client_uri);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    if (rc == TD_OK && c->created_at == 0)
        c->created_at = now;
    store__put(s);
    return rc;
}

int store_oauth_client_get(struct store *st, const char *client_id, struct oauth_client *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (st == NULL || client_id == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_client_get, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, client_id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        rc = read_client(s, out);
    store__put(s);
    return rc;
}

/* Ordered by creation time. c is valid only during the callback. TD_OK also
 * when cb stopped the list. */
int store_oauth_client_list(struct store *st, store_oauth_client_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    struct oauth_client c;
    int rc;

    if (st == NULL || cb == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_client_list, &s);
    if (rc != TD_OK)
        goto out;
    for (;;) {
        int stop;

        rc = store__step_row(st, s);
        if (rc == TD_ENOTFOUND) {
            rc = TD_OK;
            break;
        }
        if (rc == TD_OK)
            rc = read_client(s, &c);
        if (rc != TD_OK)
            break;
        stop = cb(ud, &c);
        store_oauth_client_clear(&c);
        if (stop)
            break;
    }
out:
    store__put(s);
    return rc;
}

/* TD_ENOTFOUND for an unknown client. */
int store_oauth_client_delete(struct store *st, const char *client_id)
{
    int64_t changes = 0;
    int rc;

    if (st == NULL || client_id == NULL)
        return TD_EINVAL;
    rc = exec_text_i64(st, sql_client_delete, client_id, false, 0, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    return rc;
}

/* ---- authorization codes ---- */

#define CODE_COLS                                                                          \
    "code_hash, client_id, account_id, redirect_uri, scope, code_challenge, "              \
    "code_challenge_method, nonce, auth_time, acr, amr, grant_id, expires_at, used_at"

static const char sql_code_insert[] =
    "INSERT INTO oauth_codes (" CODE_COLS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0)";
static const char sql_code_use[] =
    "UPDATE oauth_codes SET used_at = ?2 WHERE code_hash = ?1 AND used_at = 0";
static const char sql_code_get[] = "SELECT " CODE_COLS " FROM oauth_codes WHERE code_hash = ?1";

void store_oauth_code_clear(struct oauth_code *c)
{
    if (c == NULL)
        return;
    free(c->client_id);
    free(c->redirect_uri);
    free(c->scope);
    free(c->code_challenge);
    free(c->code_challenge_method);
    free(c->nonce);
    free(c->acr);
    free(c->amr);
    memset(c, 0, sizeof(*c));
}

static int read_code(sqlite3_stmt *s, struct oauth_code *c)
{
    int rc;

    memset(c, 0, sizeof(*c));
    c->client_id = col_strdup_nn(s, 1);
    c->account_id = sqlite3_column_int64(s, 2);
    c->redirect_uri = col_strdup_nn(s, 3);
    c->scope = col_strdup_nn(s, 4);
    c->code_challenge = store__col_strdup(s, 5);
    c->code_challenge_method = store__col_strdup(s, 6);
    c->nonce = store__col_strdup(s, 7);
    c->auth_time = sqlite3_column_int64(s, 8);
    c->acr = store__col_strdup(s, 9);
    c->amr = store__col_strdup(s, 10);
    c->grant_id = sqlite3_column_int64(s, 11);
    c->expires_at = sqlite3_column_int64(s, 12);
    c->used_at = sqlite3_column_int64(s, 13);
    rc = col_hash(s, 0, c->code_hash, NULL);
    if (rc != TD_OK)
        store_oauth_code_clear(c);
    return rc;
}

/* client_id and redirect_uri are required (NULL scope is ""); used_at starts
 * at 0 whatever c says. TD_EEXIST for a duplicate hash, TD_ENOTFOUND for an
 * unknown client or account. */
int store_oauth_code_create(struct store *st, const struct oauth_code *c)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || c == NULL || c->client_id == NULL || c->redirect_uri == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_code_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, c->code_hash, 32);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, c->client_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, c->account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, c->redirect_uri);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 5, c->scope ? c->scope : "");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, c->code_challenge);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 7, c->code_challenge_method);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 8, c->nonce);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 9, c->auth_time);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 10, c->acr);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 11, c->amr);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 12, c->grant_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 13, c->expires_at);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

/* now must be positive (used_at 0 means unused): TD_EINVAL otherwise. */
int store_oauth_code_consume(struct store *st, const uint8_t code_hash[32], int64_t now,
                             struct oauth_code *out)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int rc;

    if (out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (st == NULL || code_hash == NULL || now <= 0)
        return TD_EINVAL;
    /* The UPDATE is the claim: of two racing redemptions only one changes the row. */
    rc = store__stmt(st, sql_code_use, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, code_hash, 32);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, now);
    if (rc == TD_OK)
        rc = store__step_done(st, s, &changes);
    store__put(s);
    s = NULL;
    if (rc != TD_OK)
        return rc;
    rc = store__stmt(st, sql_code_get, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, code_hash, 32);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        rc = read_code(s, out);
    if (rc == TD_OK && changes == 0)
        rc = TD_EEXIST;
    store__put(s);
    return rc;
}

/* ---- access and refresh tokens ---- */

#define TOKEN_COLS                                                                         \
    "id, token_hash, kind, client_id, account_id, scope, grant_id, auth_time, created_at, " \
    "expires_at, revoked, used"
/* The same columns from oauth_tokens_legacy, whose rows have no id (read as 0). */
#define LEGACY_COLS                                                                        \
    "0, token_hash, kind, client_id, account_id, scope, grant_id, auth_time, created_at, " \
    "expires_at, revoked, used"

static const char sql_token_insert[] =
    "INSERT INTO oauth_tokens (" TOKEN_COLS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
static const char sql_token_get[] = "SELECT " TOKEN_COLS " FROM oauth_tokens WHERE id = ?1";
static const char sql_token_hash[] = "SELECT token_hash FROM oauth_tokens WHERE id = ?1";
static const char sql_token_mark_used[] =
    "UPDATE oauth_tokens SET used = 1 WHERE id = ?1 AND used = 0 AND revoked = 0";
static const char sql_token_revoke[] = "UPDATE oauth_tokens SET revoked = 1 WHERE id = ?1";
static const char sql_legacy_get[] =
    "SELECT " LEGACY_COLS " FROM oauth_tokens_legacy WHERE token_hash = ?1";
static const char sql_legacy_exists[] = "SELECT 1 FROM oauth_tokens_legacy WHERE token_hash = ?1";
static const char sql_legacy_mark_used[] = "UPDATE oauth_tokens_legacy SET used = 1 "
                                           "WHERE token_hash = ?1 AND used = 0 AND revoked = 0";
static const char sql_legacy_revoke[] =
    "UPDATE oauth_tokens_legacy SET revoked = 1 WHERE token_hash = ?1";
static const char sql_grant_revoke[] =
    "UPDATE oauth_tokens SET revoked = 1 WHERE grant_id = ?1 AND revoked = 0";
static const char sql_legacy_grant_revoke[] =
    "UPDATE oauth_tokens_legacy SET revoked = 1 WHERE grant_id = ?1 AND revoked = 0";
static const char sql_tokens_revoke_for[] =
    "UPDATE oauth_tokens SET revoked = 1 WHERE account_id = ?1 AND client_id = ?2 "
    "AND revoked = 0";
static const char sql_legacy_revoke_for[] =
    "UPDATE oauth_tokens_legacy SET revoked = 1 WHERE account_id = ?1 AND client_id = ?2 "
    "AND revoked = 0";
static const char sql_codes_drop_for[] =
    "DELETE FROM oauth_codes WHERE account_id = ?1 AND client_id = ?2 AND used_at = 0";
static const char sql_devices_deny_for[] =
    "UPDATE oauth_device_codes SET status = 2 WHERE account_id = ?1 AND client_id = ?2 "
    "AND status = 1";
static const char sql_tokens_purge[] = "DELETE FROM oauth_tokens WHERE expires_at <= ?1";
static const char sql_legacy_purge[] = "DELETE FROM oauth_tokens_legacy WHERE expires_at <= ?1";
static const char sql_codes_purge[] = "DELETE FROM oauth_codes WHERE expires_at <= ?1";
static const char sql_devices_purge[] = "DELETE FROM oauth_device_codes WHERE expires_at <= ?1";

void store_oauth_token_clear(struct oauth_token *t)
{
    if (t == NULL)
        return;
    free(t->client_id);
    free(t->scope);
    memset(t, 0, sizeof(*t));
}

static int read_token(sqlite3_stmt *s, struct oauth_token *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    t->id = sqlite3_column_int64(s, 0);
    t->kind = sqlite3_column_int(s, 2);
    t->client_id = col_strdup_nn(s, 3);
    t->account_id = sqlite3_column_int64(s, 4); /* NULL reads as 0 */
    t->scope = col_strdup_nn(s, 5);
    t->grant_id = sqlite3_column_int64(s, 6);
    t->auth_time = sqlite3_column_int64(s, 7);
    t->created_at = sqlite3_column_int64(s, 8);
    t->expires_at = sqlite3_column_int64(s, 9);
    t->revoked = sqlite3_column_int(s, 10) != 0;
    t->used = sqlite3_column_int(s, 11) != 0;
    rc = col_hash(s, 1, t->token_hash, NULL);
    if (rc != TD_OK)
        store_oauth_token_clear(t);
    return rc;
}

/* A row found by id belongs to the presented token only if the stored hash matches.
 * The compare takes the same time wherever the hashes differ, so the answer time
 * tells a guesser nothing about the secret part of a token whose id it knows. */
static bool hash_matches(const uint8_t stored[32], const uint8_t presented[32])
{
    return CRYPTO_memcmp(stored, presented, 32) == 0;
}

/* TD_OK if the row with this id holds token_hash; TD_ENOTFOUND if there is no such
 * row or it holds another hash (a wrong secret reads as an unknown token). */
static int token_check(struct store *st, int64_t id, const uint8_t token_hash[32])
{
    sqlite3_stmt *s = NULL;
    uint8_t stored[32];
    int rc;

    rc = store__stmt(st, sql_token_hash, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        rc = col_hash(s, 0, stored, NULL);
    if (rc == TD_OK && !hash_matches(stored, token_hash))
        rc = TD_ENOTFOUND;
    store__put(s);
    return rc;
}

/* Run a statement bound to one integer ?1 and expect no rows. */
static int exec_i64(struct store *st, const char *sql, int64_t v, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, v);
    if (rc == TD_OK)
        rc = store__step_done(st, s, changes);
    store__put(s);
    return rc;
}

/* kind must be an enum oauth_token_kind, id > 0 and client_id set; created_at 0
 * means now; account_id 0 is stored as none. TD_EEXIST for a duplicate id,
 * TD_ENOTFOUND for an unknown client or account. */
int store_oauth_token_create(struct store *st, const struct oauth_token *t)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || t == NULL || t->client_id == NULL || t->id <= 0 ||
        (t->kind != OAUTH_TOKEN_ACCESS && t->kind != OAUTH_TOKEN_REFRESH))
        return TD_EINVAL;
    rc = store__stmt(st, sql_token_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, t->id);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 2, t->token_hash, 32);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, t->kind);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, t->client_id);
    if (rc == TD_OK)
        rc = bind_account_opt(st, s, 5, t->account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, t->scope ? t->scope : "");
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, t->grant_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 8, t->auth_time);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 9, t->created_at != 0 ? t->created_at : store_now_ms());
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 10, t->expires_at);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 11, t->revoked ? 1 : 0);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 12, t->used ? 1 : 0);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_oauth_token_get(struct store *st, int64_t id, const uint8_t token_hash[32],
                          struct oauth_token *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (st == NULL || token_hash == NULL || id < 0)
        return TD_EINVAL;
    rc = store__stmt(st, id > 0 ? sql_token_get : sql_legacy_get, &s);
    if (rc == TD_OK)
        rc = id > 0 ? store__bind_i64(st, s, 1, id) : store__bind_blob(st, s, 1, token_hash, 32);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        rc = read_token(s, out);
    store__put(s);
    if (rc == TD_OK && id > 0 && !hash_matches(out->token_hash, token_hash)) {
        store_oauth_token_clear(out);
        rc = TD_ENOTFOUND;
    }
    return rc;
}

/* TD_ENOTFOUND for an unknown token. */
int store_oauth_token_mark_used(struct store *st, int64_t id, const uint8_t token_hash[32])
{
    int64_t changes = 0;
    int rc;

    if (st == NULL || token_hash == NULL || id < 0)
        return TD_EINVAL;
    if (id > 0) {
        /* The hash of a row never changes, so checking it first and then updating by id
         * is as atomic as one statement; the used/revoked precondition stays in SQL. */
        rc = token_check(st, id, token_hash);
        if (rc == TD_OK)
            rc = exec_i64(st, sql_token_mark_used, id, &changes);
        if (rc == TD_OK && changes == 0)
            rc = TD_EEXIST;
        return rc;
    }
    rc = exec_hash(st, sql_legacy_mark_used, token_hash, &changes);
    if (rc != TD_OK || changes == 1)
        return rc;
    /* Lost the race or reused: tell "known but spent" from "never issued". */
    rc = hash_exists(st, sql_legacy_exists, token_hash);
    return rc == TD_OK ? TD_EEXIST : rc;
}

int store_oauth_token_revoke(struct store *st, int64_t id, const uint8_t token_hash[32])
{
    int rc;

    if (st == NULL || token_hash == NULL || id < 0)
        return TD_EINVAL;
    if (id == 0)
        return exec_hash(st, sql_legacy_revoke, token_hash, NULL);
    rc = token_check(st, id, token_hash);
    if (rc == TD_OK)
        rc = exec_i64(st, sql_token_revoke, id, NULL);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

/* *n counts the tokens newly revoked (already revoked ones are not counted), in
 * both tables: a family begun with old-format tokens goes on with new ones. */
int store_oauth_grant_revoke(struct store *st, int64_t grant_id, int64_t *n)
{
    int64_t changes = 0;
    int64_t legacy = 0;
    int rc;

    if (n)
        *n = 0;
    if (st == NULL)
        return TD_EINVAL;
    rc = exec_i64(st, sql_grant_revoke, grant_id, &changes);
    if (rc == TD_OK)
        rc = exec_i64(st, sql_legacy_grant_revoke, grant_id, &legacy);
    if (n && rc == TD_OK)
        *n = changes + legacy;
    return rc;
}

/* Run one of the (account_id ?1, client_id ?2) statements. */
static int exec_account_client(struct store *st, const char *sql, int64_t account_id,
                               const char *client_id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, client_id);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

/* Also cuts off authorizations still in flight: unredeemed codes of the pair
 * are deleted and approved, not yet redeemed device codes become denied. The
 * codes go first, so a code redeemed meanwhile yields tokens that the token
 * step then revokes. The consent is left alone (store_oauth_consent_delete). */
int store_oauth_tokens_revoke_for(struct store *st, int64_t account_id, const char *client_id)
{
    int rc;

    if (st == NULL || client_id == NULL || account_id <= 0)
        return TD_EINVAL;
    rc = exec_account_client(st, sql_codes_drop_for, account_id, client_id);
    if (rc == TD_OK)
        rc = exec_account_client(st, sql_devices_deny_for, account_id, client_id);
    if (rc == TD_OK)
        rc = exec_account_client(st, sql_tokens_revoke_for, account_id, client_id);
    if (rc == TD_OK)
        rc = exec_account_client(st, sql_legacy_revoke_for, account_id, client_id);
    return rc;
}

/* Expired means expires_at <= now. Device codes past their expiry go too.
 * *deleted (may be NULL) gets the total number of rows removed. */
int store_oauth_purge_expired(struct store *st, int64_t now, int64_t *deleted)
{
    static const char *const purges[] = {sql_tokens_purge, sql_legacy_purge, sql_codes_purge,
                                         sql_devices_purge};
    int64_t total = 0;
    int rc = TD_OK;

    if (deleted)
        *deleted = 0;
    if (st == NULL)
        return TD_EINVAL;
    for (size_t i = 0; i < sizeof(purges) / sizeof(purges[0]) && rc == TD_OK; i++) {
        sqlite3_stmt *s = NULL;
        int64_t n = 0;

        rc = store__stmt(st, purges[i], &s);
        if (rc == TD_OK)
            rc = store__bind_i64(st, s, 1, now);
        if (rc == TD_OK)
            rc = store__step_done(st, s, &n);
        store__put(s);
        total += n;
    }
    if (deleted)
        *deleted = total;
    return rc;
}

/* ---- consents ---- */

static const char sql_consent_set[] =
    "INSERT INTO oauth_consents (account_id, client_id, scope, created_at) "
    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, client_id) DO UPDATE SET "
    "scope = excluded.scope";
static const char sql_consent_get[] =
    "SELECT scope FROM oauth_consents WHERE account_id = ?1 AND client_id = ?2";
static const char sql_consent_delete[] =
    "DELETE FROM oauth_consents WHERE account_id = ?1 AND client_id = ?2";

/* Insert or replace the scope; the first consent time is kept. TD_ENOTFOUND
 * for an unknown account or client. */
int store_oauth_consent_set(struct store *st, int64_t account_id, const char *client_id,
                            const char *scope)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || client_id == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_consent_set, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, client_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, scope ? scope : "");
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_oauth_consent_get(struct store *st, int64_t account_id, const char *client_id,
                            char **scope)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (scope == NULL)
        return TD_EINVAL;
    *scope = NULL;
    if (st == NULL || client_id == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_consent_get, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, client_id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *scope = col_strdup_nn(s, 0);
    store__put(s);
    return rc;
}

/* TD_OK also when there was no consent (revoking an app is idempotent). */
int store_oauth_consent_delete(struct store *st, int64_t account_id, const char *client_id)
{
    if (st == NULL || client_id == NULL)
        return TD_EINVAL;
    return exec_account_client(st, sql_consent_delete, account_id, client_id);
}

/* ---- connected apps ---- */

/* Consents and live tokens, first folded to distinct (client, scope string)
 * pairs so the scope union merged in C stays short however many tokens there
 * are; a rotated-away refresh token is not live. */
static const char sql_connected_apps[] =
    "SELECT g.client_id, c.name, group_concat(g.scope, ' '), min(g.since) FROM ("
    " SELECT client_id, scope, min(since) AS since FROM ("
    "  SELECT client_id, scope, created_at AS since FROM oauth_consents WHERE account_id = ?1"
    "  UNION ALL"
    "  SELECT client_id, scope, created_at FROM oauth_tokens WHERE account_id = ?1"
    "   AND revoked = 0 AND used = 0 AND expires_at > ?2"
    "  UNION ALL"
    "  SELECT client_id, scope, created_at FROM oauth_tokens_legacy WHERE account_id = ?1"
    "   AND revoked = 0 AND used = 0 AND expires_at > ?2"
    " ) GROUP BY client_id, scope"
    ") g JOIN oauth_clients c ON c.client_id = g.client_id "
    "GROUP BY g.client_id ORDER BY c.name, g.client_id";

/* Copy of the space-separated words of in, each once, in first-seen order. */
static char *merge_scopes(const char *in)
{
    size_t in_len = strlen(in);
    char *out = td_malloc(in_len + 1); /* never longer than the input */
    size_t out_len = 0;
    const char *p = in;

    while (*p) {
        const char *w;
        size_t wlen;
        bool seen = false;

        while (*p == ' ')
            p++;
        w = p;
        while (*p && *p != ' ')
            p++;
        wlen = (size_t)(p - w);
        if (wlen == 0)
            break;
        for (size_t i = 0; i < out_len && !seen;) {
            size_t j = i;

            while (j < out_len && out[j] != ' ')
                j++;
            seen = j - i == wlen && memcmp(out + i, w, wlen) == 0;
            i = j + 1;
        }
        if (seen)
            continue;
        if (out_len > 0)
            out[out_len++] = ' ';
        memcpy(out + out_len, w, wlen);
        out_len += wlen;
    }
    out[out_len] = '\0';
    return out;
}

/* Ordered by client name. app and its strings are valid only during the
 * callback; non-zero from cb stops the list (TD_OK). */
int store_oauth_connected_apps(struct store *st, int64_t account_id, int64_t now,
                               store_oauth_app_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || cb == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_connected_apps, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, now);
    if (rc != TD_OK)
        goto out;
    for (;;) {
        struct oauth_connected_app app;
        const unsigned char *scopes;
        char *merged;
        int stop;

        rc = store__step_row(st, s);
        if (rc == TD_ENOTFOUND) {
            rc = TD_OK;
            break;
        }
        if (rc != TD_OK)
            break;
        scopes = sqlite3_column_text(s, 2);
        merged = merge_scopes(scopes ? (const char *)scopes : "");
        app.client_id = (const char *)sqlite3_column_text(s, 0);
        app.client_name = (const char *)sqlite3_column_text(s, 1);
        if (app.client_name == NULL)
            app.client_name = "";
        app.scope = merged;
        app.since = sqlite3_column_int64(s, 3);
        stop = app.client_id ? cb(ud, &app) : 0;
        free(merged);
        if (stop)
            break;
    }
out:
    store__put(s);
    return rc;
}

/* ---- device authorization grant ---- */

#define DEVICE_COLS                                                                        \
    "device_code_hash, user_code, client_id, scope, expires_at, interval_ms, last_poll_at, " \
    "status, account_id, auth_time"

static const char sql_device_insert[] =
    "INSERT INTO oauth_device_codes (" DEVICE_COLS ") "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char sql_device_get[] =
    "SELECT " DEVICE_COLS " FROM oauth_device_codes WHERE device_code_hash = ?1";
static const char sql_device_get_by_user_code[] =
    "SELECT " DEVICE_COLS " FROM oauth_device_codes WHERE user_code = ?1";
static const char sql_device_decide[] =
    "UPDATE oauth_device_codes SET status = ?3, account_id = ?4, auth_time = ?5 "
    "WHERE user_code = ?1 AND status = 0 AND expires_at > ?2";
static const char sql_device_last_poll[] =
    "SELECT last_poll_at FROM oauth_device_codes WHERE device_code_hash = ?1";
static const char sql_device_poll[] =
    "UPDATE oauth_device_codes SET last_poll_at = ?2, interval_ms = ?3 "
    "WHERE device_code_hash = ?1 AND last_poll_at = ?4";
static const char sql_device_mark_used[] =
    "UPDATE oauth_device_codes SET status = 3 WHERE device_code_hash = ?1 AND status = 1";

void store_oauth_device_clear(struct oauth_device *d)
{
    if (d == NULL)
        return;
    free(d->user_code);
    free(d->client_id);
    free(d->scope);
    memset(d, 0, sizeof(*d));
}

static int read_device(sqlite3_stmt *s, struct oauth_device *d)
{
    int rc;

    memset(d, 0, sizeof(*d));
    d->user_code = col_strdup_nn(s, 1);
    d->client_id = col_strdup_nn(s, 2);
    d->scope = col_strdup_nn(s, 3);
    d->expires_at = sqlite3_column_int64(s, 4);
    d->interval_ms = sqlite3_column_int64(s, 5);
    d->last_poll_at = sqlite3_column_int64(s, 6);
    d->status = sqlite3_column_int(s, 7);
    d->account_id = sqlite3_column_int64(s, 8); /* NULL reads as 0 */
    d->auth_time = sqlite3_column_int64(s, 9);
    rc = col_hash(s, 0, d->device_code_hash, NULL);
    if (rc != TD_OK)
        store_oauth_device_clear(d);
    return rc;
}

/* user_code (non-empty) and client_id are required. TD_EEXIST also for a
 * duplicate device code hash; TD_ENOTFOUND for an unknown client. */
int store_oauth_device_create(struct store *st, const struct oauth_device *d)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || d == NULL || d->user_code == NULL || d->user_code[0] == '\0' ||
        d->client_id == NULL || d->status < OAUTH_DEVICE_PENDING ||
        d->status > OAUTH_DEVICE_USED || d->interval_ms < 0)
        return TD_EINVAL;
    rc = store__stmt(st, sql_device_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_blob(st, s, 1, d->device_code_hash, 32);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, d->user_code);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, d->client_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, d->scope ? d->scope : "");
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, d->expires_at);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, d->interval_ms);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, d->last_poll_at);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 8, d->status);
    if (rc == TD_OK)
        rc = bind_account_opt(st, s, 9, d->account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 10, d->auth_time);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

/* Run a device SELECT bound to a hash (blob) or a user code (text) as ?1. */
static int device_select(struct store *st, const char *sql, const uint8_t *hash,
                         const char *user_code, struct oauth_device *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = hash ? store__bind_blob(st, s, 1, hash, 32) : store__bind_text(st, s, 1, user_code);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        rc = read_device(s, out);
    store__put(s);
    return rc;
}

int store_oauth_device_get(struct store *st, const uint8_t device_code_hash[32],
                           struct oauth_device *out)
{
    if (out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (st == NULL || device_code_hash == NULL)
        return TD_EINVAL;
    return device_select(st, sql_device_get, device_code_hash, NULL, out);
}

/* user_code must already be normalized by the caller. */
int store_oauth_device_get_by_user_code(struct store *st, const char *user_code,
                                        struct oauth_device *out)
{
    if (out == NULL)
        return TD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (st == NULL || user_code == NULL)
        return TD_EINVAL;
    return device_select(st, sql_device_get_by_user_code, NULL, user_code, out);
}

/* Approval needs an account (TD_EINVAL without); a denial records the account
 * if given. Pending and unexpired means status 0 and expires_at > now. */
int store_oauth_device_decide(struct store *st, const char *user_code, int64_t now, bool approve,
                              int64_t account_id, int64_t auth_time)
{
    sqlite3_stmt *s = NULL;
    int64_t changes = 0;
    int rc;

    if (st == NULL || user_code == NULL || account_id < 0 || (approve && account_id == 0))
        return TD_EINVAL;
    rc = store__stmt(st, sql_device_decide, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, user_code);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, now);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, approve ? OAUTH_DEVICE_APPROVED : OAUTH_DEVICE_DENIED);
    if (rc == TD_OK)
        rc = bind_account_opt(st, s, 4, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, auth_time);
    if (rc == TD_OK)
        rc = store__step_done(st, s, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    store__put(s);
    return rc;
}

/* Atomic as a compare-and-set on last_poll_at: of two simultaneous polls one
 * sees the other's time as its previous poll (and gets slow_down). TD_ENOTFOUND
 * for an unknown code; TD_EAGAIN if the row kept changing under it. */
int store_oauth_device_poll(struct store *st, const uint8_t device_code_hash[32], int64_t now,
                            int64_t interval_ms, int64_t *previous_poll)
{
    int rc = TD_EAGAIN;

    if (previous_poll)
        *previous_poll = 0;
    if (st == NULL || device_code_hash == NULL || interval_ms < 0)
        return TD_EINVAL;
    for (int tries = 0; tries < DEVICE_POLL_TRIES; tries++) {
        sqlite3_stmt *s = NULL;
        int64_t prev = 0;
        int64_t changes = 0;

        rc = store__stmt(st, sql_device_last_poll, &s);
        if (rc == TD_OK)
            rc = store__bind_blob(st, s, 1, device_code_hash, 32);
        if (rc == TD_OK)
            rc = store__step_row(st, s);
        if (rc == TD_OK)
            prev = sqlite3_column_int64(s, 0);
        store__put(s);
        s = NULL;
        if (rc != TD_OK)
            return rc;
        rc = store__stmt(st, sql_device_poll, &s);
        if (rc == TD_OK)
            rc = store__bind_blob(st, s, 1, device_code_hash, 32);
        if (rc == TD_OK)
            rc = store__bind_i64(st, s, 2, now);
        if (rc == TD_OK)
            rc = store__bind_i64(st, s, 3, interval_ms);
        if (rc == TD_OK)
            rc = store__bind_i64(st, s, 4, prev);
        if (rc == TD_OK)
            rc = store__step_done(st, s, &changes);
        store__put(s);
        if (rc != TD_OK)
            return rc;
        if (changes == 1) {
            if (previous_poll)
                *previous_poll = prev;
            return TD_OK;
        }
        rc = TD_EAGAIN;
    }
    return rc;
}

int store_oauth_device_mark_used(struct store *st, const uint8_t device_code_hash[32])
{
    int64_t changes = 0;
    int rc;

    if (st == NULL || device_code_hash == NULL)
        return TD_EINVAL;
    rc = exec_hash(st, sql_device_mark_used, device_code_hash, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    return rc;
}

/* ---- signing keys ---- */

static const char sql_key_insert[] =
    "INSERT INTO oauth_keys (kid, alg, private_pem, created_at, use_from, retire_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_key_list[] =
    "SELECT kid, alg, private_pem, created_at, use_from, retire_at FROM oauth_keys "
    "ORDER BY created_at, rowid";
static const char sql_key_set_retire[] = "UPDATE oauth_keys SET retire_at = ?2 WHERE kid = ?1";
static const char sql_key_delete[] = "DELETE FROM oauth_keys WHERE kid = ?1";

/* Wipes the private key text before freeing it. */
void store_oauth_key_clear(struct oauth_key_row *k)
{
    if (k == NULL)
        return;
    free(k->kid);
    free(k->alg);
    if (k->private_pem) {
        OPENSSL_cleanse(k->private_pem, strlen(k->private_pem));
        free(k->private_pem);
    }
    memset(k, 0, sizeof(*k));
}

/* kid, alg and private_pem are required; created_at 0 means now. TD_EEXIST
 * for a taken kid. */
int store_oauth_key_add(struct store *st, const struct oauth_key_row *k)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || k == NULL || k->kid == NULL || k->kid[0] == '\0' || k->alg == NULL ||
        k->private_pem == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_key_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 1, k->kid);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, k->alg);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, k->private_pem);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, k->created_at != 0 ? k->created_at : store_now_ms());
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, k->use_from);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, k->retire_at);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

/* Oldest first (created_at, then insertion order). k is valid only during
 * the callback; non-zero from cb stops the list (TD_OK). */
int store_oauth_key_list(struct store *st, store_oauth_key_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (st == NULL || cb == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_key_list, &s);
    if (rc != TD_OK)
        goto out;
    for (;;) {
        struct oauth_key_row k;
        int stop;

        rc = store__step_row(st, s);
        if (rc == TD_ENOTFOUND) {
            rc = TD_OK;
            break;
        }
        if (rc != TD_OK)
            break;
        memset(&k, 0, sizeof(k));
        k.kid = col_strdup_nn(s, 0);
        k.alg = col_strdup_nn(s, 1);
        k.private_pem = col_strdup_nn(s, 2);
        k.created_at = sqlite3_column_int64(s, 3);
        k.use_from = sqlite3_column_int64(s, 4);
        k.retire_at = sqlite3_column_int64(s, 5);
        stop = cb(ud, &k);
        store_oauth_key_clear(&k);
        if (stop)
            break;
    }
out:
    store__put(s);
    return rc;
}

/* TD_ENOTFOUND for an unknown kid. */
int store_oauth_key_set_retire(struct store *st, const char *kid, int64_t retire_at)
{
    int64_t changes = 0;
    int rc;

    if (st == NULL || kid == NULL)
        return TD_EINVAL;
    rc = exec_text_i64(st, sql_key_set_retire, kid, true, retire_at, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    return rc;
}

/* TD_ENOTFOUND for an unknown kid. */
int store_oauth_key_delete(struct store *st, const char *kid)
{
    int64_t changes = 0;
    int rc;

    if (st == NULL || kid == NULL)
        return TD_EINVAL;
    rc = exec_text_i64(st, sql_key_delete, kid, false, 0, &changes);
    if (rc == TD_OK && changes == 0)
        rc = TD_ENOTFOUND;
    return rc;
}
