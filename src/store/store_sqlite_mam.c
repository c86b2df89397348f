/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_mam.h (migration 0006_mam): messages in
 * mam_messages keyed by their stanza-id, read through the (account_id, id)
 * and (account_id, with_bare, id) indexes; the row count per archive and
 * the preference default in mam_archives, the count kept by triggers. An
 * insert is one INSERT statement (the table row, two index entries and the
 * trigger's upsert of the count, in one implicit transaction) and one
 * primary-key read of the count; a trim, when the count passed the limit,
 * is one DELETE of the oldest rows. Calls run on the loop thread. */
#include "store/store_mam.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"

#include <sqlite3.h>

#include <string.h>

static const char sql_add[] =
    "INSERT INTO mam_messages (id, account_id, with_bare, with_res, outgoing, stanza) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_size[] = "SELECT count FROM mam_archives WHERE account_id = ?1";
/* The oldest ?2 rows of the account. */
static const char sql_trim[] =
    "DELETE FROM mam_messages WHERE id IN (SELECT id FROM mam_messages WHERE account_id = ?1 "
    "ORDER BY id LIMIT ?2)";
static const char sql_has[] = "SELECT 1 FROM mam_messages WHERE id = ?2 AND account_id = ?1";
static const char sql_prefs_get[] = "SELECT default_mode FROM mam_archives WHERE account_id = ?1";
static const char sql_prefs_set[] =
    "INSERT INTO mam_archives (account_id, default_mode) VALUES (?1, ?2) "
    "ON CONFLICT (account_id) DO UPDATE SET default_mode = excluded.default_mode";

/* Queries by filter shape: [with: none, bare, full][direction]. ?1 account,
 * ?2 lo, ?3 hi, ?4 with_bare, ?5 with_res, ?6 limit. */
#define SEL "SELECT id, outgoing, stanza FROM mam_messages WHERE account_id = ?1 " \
            "AND id BETWEEN ?2 AND ?3 "
static const char *const sql_query[3][2] = {
    {SEL "ORDER BY id LIMIT ?6", SEL "ORDER BY id DESC LIMIT ?6"},
    {SEL "AND with_bare = ?4 ORDER BY id LIMIT ?6",
     SEL "AND with_bare = ?4 ORDER BY id DESC LIMIT ?6"},
    {SEL "AND with_bare = ?4 AND with_res = ?5 ORDER BY id LIMIT ?6",
     SEL "AND with_bare = ?4 AND with_res = ?5 ORDER BY id DESC LIMIT ?6"},
};
#undef SEL
#define CNT "SELECT COUNT(*) FROM mam_messages WHERE account_id = ?1 AND id BETWEEN ?2 AND ?3 "
static const char *const sql_count[3] = {
    CNT,
    CNT "AND with_bare = ?4",
    CNT "AND with_bare = ?4 AND with_res = ?5",
};
#undef CNT

static bool too_long(const char *s, size_t max)
{
    return strnlen(s, max + 1) > max;
}

static int read_i64(struct store *st, const char *sql, int64_t account_id, int64_t *out,
                    int64_t dflt)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *out = dflt;
    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *out = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_mam_size(struct store *st, int64_t account_id, int64_t *n)
{
    return read_i64(st, sql_size, account_id, n, 0);
}

static int trim(struct store *st, int64_t account_id, int64_t max)
{
    sqlite3_stmt *s = NULL;
    int64_t n;
    int rc;

    rc = store_mam_size(st, account_id, &n);
    if (rc != TD_OK || n <= max)
        return rc;
    rc = store__stmt(st, sql_trim, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, n - max + max / 100);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_mam_add(struct store *st, int64_t account_id, const struct store_mam_msg *m,
                  int64_t max)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (m == NULL || m->id <= 0 || m->with_bare == NULL || m->with_bare[0] == '\0' ||
        too_long(m->with_bare, STORE_MAM_JID_MAX) || m->with_res == NULL ||
        too_long(m->with_res, STORE_MAM_RES_MAX) || m->stanza == NULL || m->stanza[0] == '\0' ||
        too_long(m->stanza, STORE_MAM_STANZA_MAX) || max < 0)
        return TD_EINVAL;
    rc = store__stmt(st, sql_add, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, m->id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, m->with_bare);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, m->with_res);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, m->outgoing);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 6, m->stanza);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc != TD_OK)
        return rc;
    return trim(st, account_id, max ? max : STORE_MAM_MAX);
}

static int shape_of(const struct store_mam_filter *f)
{
    if (f->with_bare == NULL)
        return 0;
    return f->with_res == NULL ? 1 : 2;
}

static int bind_filter(struct store *st, sqlite3_stmt *s, int64_t account_id,
                       const struct store_mam_filter *f)
{
    int rc = store__bind_i64(st, s, 1, account_id);

    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, f->lo > 0 ? f->lo : 1);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, f->hi > 0 ? f->hi : INT64_MAX);
    if (rc == TD_OK && f->with_bare)
        rc = store__bind_text(st, s, 4, f->with_bare);
    if (rc == TD_OK && f->with_bare && f->with_res)
        rc = store__bind_text(st, s, 5, f->with_res);
    return rc;
}

int store_mam_query(struct store *st, int64_t account_id, const struct store_mam_filter *f,
                    bool reverse, int64_t limit, store_mam_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (limit <= 0)
        return TD_OK;
    rc = store__stmt(st, sql_query[shape_of(f)][reverse ? 1 : 0], &s);
    if (rc == TD_OK)
        rc = bind_filter(st, s, account_id, f);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, limit);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        const char *text = (const char *)sqlite3_column_text(s, 2);
        if (cb(ud, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1) != 0, text ? text : ""))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_mam_count(struct store *st, int64_t account_id, const struct store_mam_filter *f,
                    int64_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *n = 0;
    rc = store__stmt(st, sql_count[shape_of(f)], &s);
    if (rc == TD_OK)
        rc = bind_filter(st, s, account_id, f);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *n = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc;
}

int store_mam_has(struct store *st, int64_t account_id, int64_t id)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql_has, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    store__put(s);
    return rc;
}

int store_mam_prefs_get(struct store *st, int64_t account_id, enum store_mam_default *out)
{
    int64_t v;
    int rc = read_i64(st, sql_prefs_get, account_id, &v, STORE_MAM_ALWAYS);

    *out = v == STORE_MAM_ROSTER ? STORE_MAM_ROSTER
         : v == STORE_MAM_NEVER  ? STORE_MAM_NEVER
                                 : STORE_MAM_ALWAYS;
    return rc;
}

int store_mam_prefs_set(struct store *st, int64_t account_id, enum store_mam_default d)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (d != STORE_MAM_ALWAYS && d != STORE_MAM_ROSTER && d != STORE_MAM_NEVER)
        return TD_EINVAL;
    rc = store__stmt(st, sql_prefs_set, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, d);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}
