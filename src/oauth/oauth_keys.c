/* SPDX-License-Identifier: MIT */
/* Signing keys for id_tokens: the only code that holds private keys (behind
 * oauth.h's oauth_keys_* functions, so that signing can later move into a
 * separate process without touching callers). One key per algorithm is in
 * use at a time. Rotation publishes the next key in the JWKS before it signs
 * anything (so relying parties that cache the JWKS already know it), and
 * keeps publishing the previous key until the id_tokens it signed have
 * expired. Private keys are stored as PKCS#8 PEM in the store. */
#include "oauth/oauth.h"

#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEYS_MAX 64

struct key_entry {
    struct jose_key *key;
    enum jose_alg alg;
    int64_t created_at;
    int64_t use_from;
    int64_t retire_at; /* 0 = active */
};

struct oauth_keys {
    struct key_entry v[KEYS_MAX];
    size_t n;
    char *jwks_text;        /* cached oauth_keys_jwks() as JSON; NULL = stale */
    size_t jwks_len;
    int64_t jwks_until;     /* the cache holds until this time (ms): the next retirement */
};

struct load_ctx {
    struct oauth_keys *k;
    int rc;
};

static int load_one(void *ud, const struct oauth_key_row *row)
{
    struct load_ctx *lc = ud;
    struct key_entry *e;
    enum jose_alg alg;

    if (lc->k->n == KEYS_MAX) {
        lc->rc = TD_ETOOBIG;
        return 1;
    }
    e = &lc->k->v[lc->k->n];
    if (jose_alg_parse(row->alg, &alg) != TD_OK ||
        jose_key_from_pem(alg, row->private_pem, strlen(row->private_pem), &e->key) != TD_OK) {
        log_err("oauth.key_unreadable", "kid=%s", log_q(row->kid));
        lc->rc = TD_EIO;
        return 1;
    }
    e->alg = alg;
    e->created_at = row->created_at;
    e->use_from = row->use_from;
    e->retire_at = row->retire_at;
    lc->k->n++;
    return 0;
}

/* Make a key for alg, store it, and add it to k. */
static int add_key(struct oauth_keys *k, struct store *st, enum jose_alg alg, int64_t now,
                   int64_t use_from)
{
    struct oauth_key_row row;
    struct jose_key *key = NULL;
    struct buf pem;
    int rc;

    if (k->n == KEYS_MAX)
        return TD_ETOOBIG;
    rc = jose_key_generate(alg, &key);
    if (rc != TD_OK)
        return rc;
    buf_init(&pem, 0);
    rc = jose_key_to_pem(key, &pem);
    if (rc == TD_OK) {
        memset(&row, 0, sizeof(row));
        row.kid = (char *)jose_key_kid(key);
        row.alg = (char *)jose_alg_name(alg);
        row.private_pem = pem.data;
        row.created_at = now;
        row.use_from = use_from;
        rc = store_oauth_key_add(st, &row);
    }
    buf_free(&pem);
    if (rc != TD_OK) {
        jose_key_free(key);
        return rc;
    }
    k->v[k->n].key = key;
    k->v[k->n].alg = alg;
    k->v[k->n].created_at = now;
    k->v[k->n].use_from = use_from;
    k->v[k->n].retire_at = 0;
    k->n++;
    log_info("oauth.key_created", "kid=%s alg=%s", jose_key_kid(key), jose_alg_name(alg));
    return TD_OK;
}

static bool has_active(const struct oauth_keys *k, enum jose_alg alg)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->v[i].alg == alg && k->v[i].retire_at == 0)
            return true;
    return false;
}

int oauth_keys_open(struct store *st, struct oauth_keys **out, char **err)
{
    struct oauth_keys *k = td_calloc(1, sizeof(*k));
    struct load_ctx lc = {k, TD_OK};
    static const enum jose_alg algs[] = {JOSE_RS256, JOSE_ES256, JOSE_EDDSA};
    int64_t now = store_now_ms();
    int rc;

    rc = store_oauth_key_list(st, load_one, &lc);
    if (rc == TD_OK)
        rc = lc.rc;
    for (size_t i = 0; rc == TD_OK && i < TD_ARRAY_LEN(algs); i++)
        if (!has_active(k, algs[i]))
            rc = add_key(k, st, algs[i], now, now);
    if (rc != TD_OK) {
        *err = td_strdup("cannot load or create the OpenID Connect signing keys");
        oauth_keys_free(k);
        return rc;
    }
    *out = k;
    return TD_OK;
}

void oauth_keys_free(struct oauth_keys *k)
{
    if (k == NULL)
        return;
    free(k->jwks_text);
    for (size_t i = 0; i < k->n; i++)
        jose_key_free(k->v[i].key);
    free(k);
}

const struct jose_key *oauth_keys_signer(struct oauth_keys *k, enum jose_alg alg)
{
    int64_t now = store_now_ms();
    const struct key_entry *best = NULL;

    for (size_t i = 0; i < k->n; i++) {
        const struct key_entry *e = &k->v[i];
        if (e->alg != alg || e->use_from > now)
            continue;
        if (e->retire_at && e->retire_at <= now)
            continue;
        if (best == NULL || e->use_from > best->use_from)
            best = e;
    }
    return best ? best->key : NULL;
}

json_t *oauth_keys_jwks(struct oauth_keys *k)
{
    int64_t now = store_now_ms();
    json_t *keys = json_array();

    for (size_t i = 0; i < k->n; i++) {
        const struct key_entry *e = &k->v[i];
        if (e->retire_at && e->retire_at <= now)
            continue;
        json_array_append_new(keys, jose_key_public_jwk(e->key));
    }
    return json_pack("{s:o}", "keys", keys);
}

const char *oauth_keys_jwks_text(struct oauth_keys *k, size_t *len)
{
    int64_t now = store_now_ms();

    if (k->jwks_text == NULL || now >= k->jwks_until) {
        json_t *doc = oauth_keys_jwks(k);
        free(k->jwks_text);
        k->jwks_text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        k->jwks_len = k->jwks_text ? strlen(k->jwks_text) : 0;
        k->jwks_until = INT64_MAX;
        for (size_t i = 0; i < k->n; i++)
            if (k->v[i].retire_at > now && k->v[i].retire_at < k->jwks_until)
                k->jwks_until = k->v[i].retire_at;
    }
    *len = k->jwks_len;
    return k->jwks_text ? k->jwks_text : "{\"keys\":[]}";
}

int oauth_keys_rotate(struct oauth_keys *k, struct store *st, int64_t delay_ms)
{
    static const enum jose_alg algs[] = {JOSE_RS256, JOSE_ES256, JOSE_EDDSA};
    int64_t now = store_now_ms();
    int64_t retire = now + delay_ms + (int64_t)OAUTH_ID_TOKEN_TTL_S * 1000;
    size_t old_n = k->n;
    int rc = TD_OK;

    free(k->jwks_text); /* the published set changes */
    k->jwks_text = NULL;

    for (size_t a = 0; rc == TD_OK && a < TD_ARRAY_LEN(algs); a++)
        rc = add_key(k, st, algs[a], now, now + delay_ms);
    for (size_t i = 0; rc == TD_OK && i < old_n; i++) {
        if (k->v[i].retire_at)
            continue;
        k->v[i].retire_at = retire;
        rc = store_oauth_key_set_retire(st, jose_key_kid(k->v[i].key), retire);
    }
    return rc;
}
