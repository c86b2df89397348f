/* SPDX-License-Identifier: MIT */
/* The SQLite backend of store_xmpp.h (migration 0005_xmpp_ext): the
 * blocklist keyed by (account_id, jid), one vCard row per account, PEP
 * nodes keyed by (account_id, node) and their items ordered by rowid (a
 * republished id is deleted and inserted again, so it becomes the newest).
 * Limits are checked with a count before an insert; calls run on the loop
 * thread, so nothing interleaves between the count and the insert. */
#include "store/store_xmpp.h"
#include "store/store_sqlite_int.h"

#include "core/err.h"

#include <sqlite3.h>

#include <stdlib.h>
#include <string.h>

static const char sql_block_list[] =
    "SELECT jid FROM xmpp_blocklist WHERE account_id = ?1 ORDER BY jid";
static const char sql_block_has[] =
    "SELECT 1 FROM xmpp_blocklist WHERE account_id = ?1 AND jid = ?2";
static const char sql_block_count[] = "SELECT COUNT(*) FROM xmpp_blocklist WHERE account_id = ?1";
static const char sql_block_add[] =
    "INSERT OR IGNORE INTO xmpp_blocklist (account_id, jid) VALUES (?1, ?2)";
static const char sql_block_remove[] =
    "DELETE FROM xmpp_blocklist WHERE account_id = ?1 AND jid = ?2";
static const char sql_block_clear[] = "DELETE FROM xmpp_blocklist WHERE account_id = ?1";

static const char sql_vcard_get[] =
    "SELECT vcard, photo_hash FROM xmpp_vcards WHERE account_id = ?1";
static const char sql_vcard_set[] =
    "INSERT INTO xmpp_vcards (account_id, vcard, photo_hash, updated_at) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (account_id) DO UPDATE SET vcard = excluded.vcard, "
    "photo_hash = excluded.photo_hash, updated_at = excluded.updated_at";

static const char sql_node_get[] =
    "SELECT node, access_model, max_items FROM pep_nodes WHERE account_id = ?1 AND node = ?2";
static const char sql_node_list[] =
    "SELECT node, access_model, max_items FROM pep_nodes WHERE account_id = ?1 ORDER BY node";
static const char sql_node_count[] = "SELECT COUNT(*) FROM pep_nodes WHERE account_id = ?1";
static const char sql_node_put[] =
    "INSERT INTO pep_nodes (account_id, node, access_model, max_items, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_id, node) DO UPDATE SET "
    "access_model = excluded.access_model, max_items = excluded.max_items";
static const char sql_node_delete[] = "DELETE FROM pep_nodes WHERE account_id = ?1 AND node = ?2";
/* Keep the newest ?3 items of a node. */
static const char sql_items_trim[] =
    "DELETE FROM pep_items WHERE account_id = ?1 AND node = ?2 AND id NOT IN "
    "(SELECT id FROM pep_items WHERE account_id = ?1 AND node = ?2 ORDER BY id DESC LIMIT ?3)";
static const char sql_items_bytes[] =
    "SELECT COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0) FROM pep_items WHERE account_id = ?1";
static const char sql_item_delete[] =
    "DELETE FROM pep_items WHERE account_id = ?1 AND node = ?2 AND item_id = ?3";
static const char sql_item_insert[] =
    "INSERT INTO pep_items (account_id, node, item_id, payload, published_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_items_latest[] =
    "SELECT item_id, payload, published_at FROM pep_items WHERE account_id = ?1 AND node = ?2 "
    "ORDER BY id DESC LIMIT ?3";
static const char sql_item_get[] =
    "SELECT item_id, payload, published_at FROM pep_items WHERE account_id = ?1 AND node = ?2 "
    "AND item_id = ?3";

static bool bad_str(const char *s, size_t max)
{
    return s == NULL || s[0] == '\0' || strnlen(s, max + 1) > max;
}

/* Run sql with (account_id, a, b) bound (a, b may be NULL: unbound);
 * *changes as store__step_done. */
static int exec3(struct store *st, const char *sql, int64_t account_id, const char *a,
                 const char *b, int64_t *changes)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql, &s);

    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK && a)
        rc = store__bind_text(st, s, 2, a);
    if (rc == TD_OK && b)
        rc = store__bind_text(st, s, 3, b);
    if (rc == TD_OK)
        rc = store__step_done(st, s, changes);
    store__put(s);
    return rc;
}

/* The integer of the first column of sql with (account_id[, a]) bound. */
static int scalar(struct store *st, const char *sql, int64_t account_id, const char *a,
                  int64_t *n)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql, &s);

    *n = 0;
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK && a)
        rc = store__bind_text(st, s, 2, a);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK)
        *n = sqlite3_column_int64(s, 0);
    store__put(s);
    return rc;
}

/* ---- blocklist ---- */

int store_block_list(struct store *st, int64_t account_id, store_block_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql_block_list, &s);

    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        const char *jid = (const char *)sqlite3_column_text(s, 0);
        if (cb(ud, jid ? jid : ""))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_block_add(struct store *st, int64_t account_id, const char *jid)
{
    int64_t n;
    int rc;

    if (bad_str(jid, STORE_BLOCK_JID_MAX))
        return TD_EINVAL;
    rc = scalar(st, sql_block_has, account_id, jid, &n);
    if (rc == TD_OK)
        return TD_OK; /* already there */
    if (rc != TD_ENOTFOUND)
        return rc;
    rc = scalar(st, sql_block_count, account_id, NULL, &n);
    if (rc == TD_OK && n >= STORE_BLOCK_MAX)
        rc = TD_ELIMIT;
    if (rc == TD_OK)
        rc = exec3(st, sql_block_add, account_id, jid, NULL, NULL);
    return rc;
}

int store_block_remove(struct store *st, int64_t account_id, const char *jid)
{
    if (jid == NULL)
        return TD_EINVAL;
    return exec3(st, sql_block_remove, account_id, jid, NULL, NULL);
}

int store_block_clear(struct store *st, int64_t account_id)
{
    return exec3(st, sql_block_clear, account_id, NULL, NULL, NULL);
}

/* ---- vCard ---- */

int store_vcard_get(struct store *st, int64_t account_id, char **vcard, char **photo_hash)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql_vcard_get, &s);

    if (vcard)
        *vcard = NULL;
    if (photo_hash)
        *photo_hash = NULL;
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        if (vcard)
            *vcard = store__col_strdup(s, 0);
        if (photo_hash) {
            *photo_hash = store__col_strdup(s, 1);
            if (*photo_hash == NULL)
                *photo_hash = td_strdup("");
        }
    }
    store__put(s);
    return rc;
}

int store_vcard_set(struct store *st, int64_t account_id, const char *vcard,
                    const char *photo_hash)
{
    sqlite3_stmt *s = NULL;
    int rc;

    if (bad_str(vcard, STORE_VCARD_MAX) || (photo_hash && strnlen(photo_hash, 65) > 64))
        return TD_EINVAL;
    rc = store__stmt(st, sql_vcard_set, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, vcard);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, photo_hash ? photo_hash : "");
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

/* ---- PEP ---- */

static void node_read(sqlite3_stmt *s, struct store_pep_node *n)
{
    const char *name = (const char *)sqlite3_column_text(s, 0);
    n->node = name ? name : "";
    n->access = sqlite3_column_int(s, 1);
    n->max_items = sqlite3_column_int(s, 2);
}

int store_pep_node_get(struct store *st, int64_t account_id, const char *name,
                       struct store_pep_node *out)
{
    sqlite3_stmt *s = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (name == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_node_get, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, name);
    if (rc == TD_OK)
        rc = store__step_row(st, s);
    if (rc == TD_OK) {
        node_read(s, out);
        out->node = name; /* the column text dies with the reset */
    }
    store__put(s);
    return rc;
}

static int trim(struct store *st, int64_t account_id, const char *node, int keep)
{
    sqlite3_stmt *s = NULL;
    int rc = store__stmt(st, sql_items_trim, &s);

    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, node);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, keep);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    return rc;
}

int store_pep_node_put(struct store *st, int64_t account_id, const struct store_pep_node *n)
{
    struct store_pep_node old;
    sqlite3_stmt *s = NULL;
    int64_t count;
    int rc;

    if (bad_str(n->node, STORE_PEP_NODE_NAME_MAX) || n->access < STORE_PEP_PRESENCE ||
        n->access > STORE_PEP_WHITELIST || n->max_items < 1 ||
        n->max_items > STORE_PEP_MAX_ITEMS)
        return TD_EINVAL;
    rc = store_pep_node_get(st, account_id, n->node, &old);
    if (rc == TD_ENOTFOUND) {
        rc = scalar(st, sql_node_count, account_id, NULL, &count);
        if (rc == TD_OK && count >= STORE_PEP_NODES_MAX)
            rc = TD_ELIMIT;
    }
    if (rc != TD_OK)
        return rc;
    rc = store__stmt(st, sql_node_put, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, n->node);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, n->access);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 4, n->max_items);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, store_now_ms());
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc == TD_OK)
        rc = trim(st, account_id, n->node, n->max_items);
    return rc;
}

int store_pep_node_delete(struct store *st, int64_t account_id, const char *name)
{
    int64_t changes = 0;
    int rc;

    if (name == NULL)
        return TD_EINVAL;
    rc = exec3(st, sql_node_delete, account_id, name, NULL, &changes);
    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

int store_pep_node_list(struct store *st, int64_t account_id, store_pep_node_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    struct store_pep_node n;
    int rc = store__stmt(st, sql_node_list, &s);

    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        node_read(s, &n);
        if (cb(ud, &n))
            break;
    }
    store__put(s);
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

static int publish(struct store *st, int64_t account_id, const struct store_pep_node *n,
                   const char *item_id, const char *payload, int64_t now)
{
    sqlite3_stmt *s = NULL;
    int64_t bytes;
    int rc;

    rc = exec3(st, sql_item_delete, account_id, n->node, item_id, NULL);
    if (rc == TD_OK)
        rc = scalar(st, sql_items_bytes, account_id, NULL, &bytes);
    if (rc == TD_OK && bytes + (int64_t)strlen(payload) > STORE_PEP_BYTES_MAX)
        rc = TD_ELIMIT;
    if (rc == TD_OK)
        rc = store__stmt(st, sql_item_insert, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, n->node);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, item_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 4, payload);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 5, now);
    if (rc == TD_OK)
        rc = store__step_done(st, s, NULL);
    store__put(s);
    if (rc == TD_OK)
        rc = trim(st, account_id, n->node, n->max_items);
    return rc;
}

int store_pep_item_publish(struct store *st, int64_t account_id, const char *node,
                           const char *item_id, const char *payload, int64_t now)
{
    struct store_pep_node n;
    int rc;

    if (bad_str(item_id, STORE_PEP_ITEM_ID_MAX) || bad_str(payload, STORE_PEP_PAYLOAD_MAX))
        return TD_EINVAL;
    rc = store_pep_node_get(st, account_id, node, &n);
    if (rc != TD_OK)
        return rc;
    rc = store_begin(st);
    if (rc != TD_OK)
        return rc;
    rc = publish(st, account_id, &n, item_id, payload, now);
    if (rc == TD_OK)
        rc = store_commit(st);
    else
        (void)store_rollback(st);
    return rc;
}

int store_pep_item_retract(struct store *st, int64_t account_id, const char *node,
                           const char *item_id)
{
    int64_t changes = 0;
    int rc;

    if (node == NULL || item_id == NULL)
        return TD_EINVAL;
    rc = exec3(st, sql_item_delete, account_id, node, item_id, &changes);
    return rc == TD_OK && changes == 0 ? TD_ENOTFOUND : rc;
}

static int items_run(struct store *st, sqlite3_stmt *s, store_pep_item_cb *cb, void *ud,
                     int *rows)
{
    int rc = TD_OK;

    *rows = 0;
    while (rc == TD_OK) {
        rc = store__step_row(st, s);
        if (rc != TD_OK)
            break;
        const char *id = (const char *)sqlite3_column_text(s, 0);
        const char *payload = (const char *)sqlite3_column_text(s, 1);
        (*rows)++;
        if (cb(ud, id ? id : "", payload ? payload : "", sqlite3_column_int64(s, 2)))
            break;
    }
    return rc == TD_ENOTFOUND ? TD_OK : rc;
}

int store_pep_items_latest(struct store *st, int64_t account_id, const char *node, int max,
                           store_pep_item_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rows;
    int rc;

    if (node == NULL || max < 0)
        return TD_EINVAL;
    rc = store__stmt(st, sql_items_latest, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, node);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 3, max);
    if (rc == TD_OK)
        rc = items_run(st, s, cb, ud, &rows);
    store__put(s);
    return rc;
}

int store_pep_item_get(struct store *st, int64_t account_id, const char *node,
                       const char *item_id, store_pep_item_cb *cb, void *ud)
{
    sqlite3_stmt *s = NULL;
    int rows = 0;
    int rc;

    if (node == NULL || item_id == NULL)
        return TD_EINVAL;
    rc = store__stmt(st, sql_item_get, &s);
    if (rc == TD_OK)
        rc = store__bind_i64(st, s, 1, account_id);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 2, node);
    if (rc == TD_OK)
        rc = store__bind_text(st, s, 3, item_id);
    if (rc == TD_OK)
        rc = items_run(st, s, cb, ud, &rows);
    store__put(s);
    return rc == TD_OK && rows == 0 ? TD_ENOTFOUND : rc;
}
