/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_roster.h: roster rows in roster_items keyed by
 * (account_id, jid), groups as a JSON array (jansson), and offline messages
 * in offline_messages ordered by their rowid (migration 0004_roster). The
 * limits are checked with a count before an insert; calls run on the loop
 * thread, so nothing interleaves between the count and the insert. */
#include "store/store_roster.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"

#include <jansson.h>
#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

static const char sql_get[] =
    "SELECT jid, name, groups, subscription, ask, pending_in, pending_stanza, approved, "
    "in_roster FROM roster_items WHERE account_id = ?1 AND jid = ?2";
static const char sql_list[] =
    "SELECT jid, name, groups, subscription, ask, pending_in, pending_stanza, approved, "
    "in_roster FROM roster_items WHERE account_id = ?1 ORDER BY jid";
static const char sql_put[] =
    "INSERT INTO roster_items (account_id, jid, name, groups, subscription, ask, pending_in, "
    "pending_stanza, approved, in_roster) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
    "ON CONFLICT (account_id, jid) DO UPDATE SET name = excluded.name, groups = excluded.groups, "
    "subscription = excluded.subscription, ask = excluded.ask, pending_in = excluded.pending_in, "
    "pending_stanza = excluded.pending_stanza, approved = excluded.approved, "
    "in_roster = excluded.in_roster";
static const char sql_delete[] = "DELETE FROM roster_items WHERE account_id = ?1 AND jid = ?2";
static const char sql_count_items[] =
    "SELECT COUNT(*) FROM roster_items WHERE account_id = ?1 AND in_roster = 1";
static const char sql_count_rows[] = "SELECT COUNT(*) FROM roster_items WHERE account_id = ?1";

static const char sql_off_add[] =
    "INSERT INTO offline_messages (account_id, stanza, stamp) VALUES (?1, ?2, ?3)";
static const char sql_off_list[] =
    "SELECT id, stanza, stamp FROM offline_messages WHERE account_id = ?1 ORDER BY id";
static const char sql_off_delete[] =
    "DELETE FROM offline_messages WHERE account_id = ?1 AND id <= ?2";
static const char sql_off_count[] = "SELECT COUNT(*) FROM offline_messages WHERE account_id = ?1";

void store_roster_item_clear(struct store_roster_item *it)
{
    if (it == NULL)
        return;
    free(it->jid);
    free(it->name);
    for (size_t i = 0; i < it->ngroups; i++)
        free(it->groups[i]);
    free(it->groups);
    free(it->pending_stanza);
    memset(it, 0, sizeof(*it));
}

static bool too_long(const char *s, size_t max)
{
    return s != NULL && strnlen(s, max + 1) > max;
}

static int check_item(const struct store_roster_item *it)
{
    if (it->jid == NULL || it->jid[0] == '\0' || too_long(it->jid, STORE_ROSTER_JID_MAX) ||
        too_long(it->name, STORE_ROSTER_NAME_MAX) ||
        too_long(it->pending_stanza, STORE_ROSTER_STANZA_MAX) ||
        it->ngroups > STORE_ROSTER_GROUPS_MAX || it->sub < STORE_SUB_NONE ||
        it->sub > STORE_SUB_BOTH)
        return TD_EINVAL;
    for (size_t i = 0; i < it->ngroups; i++)
        if (it->groups[i] == NULL || too_long(it->groups[i], STORE_ROSTER_GROUP_MAX))
            return TD_EINVAL;
    return TD_OK;
}

/* The groups as a JSON array (caller frees), or NULL on failure. */
static char *groups_json(const struct store_roster_item *it)
{
    json_t *a = json_array();
    char *out = NULL;

    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < it->ngroups; i++)
        if (json_array_append_new(a, json_string(it->groups[i])) != 0)
            goto out;
    out = json_dumps(a, JSON_COMPACT);
out:
    json_decref(a);
    return out;
}

/* Parse a stored JSON array of strings into it->groups (bad data: no groups). */
static void groups_parse(const char *text, struct store_roster_item *it)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    size_t n;

    if (a == NULL || !json_is_array(a))
        goto out;
    n = json_array_size(a);
    if (n > STORE_ROSTER_GROUPS_MAX)
        n = STORE_ROSTER_GROUPS_MAX;
    it->groups = td_calloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *g = json_string_value(json_array_get(a, i));
        if (g)
            it->groups[it->ngroups++] = td_strdup(g);
    }
out:
    json_decref(a);
}

static void row_read(sqlite3_stmt *s, struct store_roster_item *it)
{
    char *g;

    memset(it, 0, sizeof(*it));
    it->jid = store__col_strdup(s, 0);
    it->name = store__col_strdup(s, 1);
    if (it->name && it->name[0] == '\0') {
        free(it->name);
        it->name = NULL;
    }
    g = store__col_strdup(s, 2);
    groups_parse(g, it);
    free(g);
    it->sub = sqlite3_column_int(s, 3) & STORE_SUB_BOTH;
    it->ask = sqlite3_column_int(s, 4) != 0;
    it->pending_in = sqlite3_column_int(s, 5) != 0;
    it->pending_stanza = store__col_strdup(s, 6);
    it->approved = sqlite3_column_int(s, 7) != 0;
    it->in_roster = sqlite3_column_int(s, 8) != 0;
    if (it->jid == NULL)
        it->jid = td_strdup("");
}

int store_roster_get(struct store *st, int64_t account_id, const char *jid,
                     struct store_roster_item *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (jid == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_get, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, jid);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        row_read(s, out);
    store__put(s);
    return rc;
}

static int count(struct store *st, const char *sql, int64_t account_id, int64_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc;

    *n = 0;
    rc = store__stmt(st, sql, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *n = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc;
}

int store_roster_put(struct store *st, int64_t account_id, const struct store_roster_item *it)
{
    struct store_roster_item old;
    sqlite3_stmt *s = NULL;
    char *groups = NULL;
    int64_t n;
    int rc;

    rc = check_item(it);
    if (rc != TD_OK)
        return rc;
    rc = store_roster_get(st, account_id, it->jid, &old);
    if (rc != TD_OK && rc != TD_ENOTFOUND)
        return rc;
    if (rc == TD_ENOTFOUND) {
        rc = count(st, sql_count_rows, account_id, &n);
        if (rc == TD_OK && n >= STORE_ROSTER_ROWS_MAX)
            rc = TD_ELIMIT;
    } else {
        rc = TD_OK;
    }
    if (rc == TD_OK && it->in_roster && !old.in_roster) {
        rc = count(st, sql_count_items, account_id, &n);
        if (rc == TD_OK && n >= STORE_ROSTER_MAX)
            rc = TD_ELIMIT;
    }
    store_roster_item_clear(&old);
    if (rc != TD_OK)
        return rc;
    groups = groups_json(it);
    if (groups == NULL)
        return TD_ENOMEM;
    rc = store__stmt(st, sql_put, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, it->jid);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, it->name ? it->name : "");
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, groups);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, it->sub);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 6, it->ask);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 7, it->pending_in);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 8, it->pending_in ? it->pending_stanza : NULL);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 9, it->approved);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 10, it->in_roster);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    free(groups);
    return rc;
}

int store_roster_delete(struct store *st, int64_t account_id, const char *jid)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (jid == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_delete, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, jid);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_roster_list(struct store *st, int64_t account_id, store_roster_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    struct store_roster_item it;
    int rc;

    rc = store__stmt(st, sql_list, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        row_read(s, &it);
        int stop = cb(ud, &it);
        store_roster_item_clear(&it);
        if (stop)
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_offline_add(struct store *st, int64_t account_id, const char *stanza, int64_t stamp)
{
    sqlite3_stmt *s = NULL;
    int64_t n;
    int rc;

    if (stanza == NULL || stanza[0] == '\0' || too_long(stanza, STORE_OFFLINE_STANZA_MAX))
        return TD_EINVAL;
    rc = count(st, sql_off_count, account_id, &n);
    if (rc == TD_OK && n >= STORE_OFFLINE_MAX)
        rc = TD_ELIMIT;
    if (rc == TD_OK)
        rc = store__stmt(st, sql_off_add, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, stanza);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, stamp);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_offline_list(struct store *st, int64_t account_id, store_offline_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql_off_list, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        const char *text = (const char *)sqlite3_column_text(s, 1);
        if (cb(ud, sqlite3_column_int64(s, 0), text ? text : "", sqlite3_column_int64(s, 2)))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_offline_delete(struct store *st, int64_t account_id, int64_t upto)
{
    sqlite3_stmt *s = NULL;
    int rc;

    rc = store__stmt(st, sql_off_delete, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 2, upto);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_offline_count(struct store *st, int64_t account_id, int64_t *n)
{
    return count(st, sql_off_count, account_id, n);
}
