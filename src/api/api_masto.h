/* SPDX-License-Identifier: MIT */
/* The Mastodon-compatible client API (https://docs.joinmastodon.org/methods/),
 * so that Mastodon apps and libraries (toot, Mastodon.py, masto.js) work
 * against the microblog unchanged. The service is social/mb.h; this module
 * maps it onto HTTP and JSON and knows nothing of SQL.
 *
 * Files, one group of endpoints each:
 *  - api_masto.c: the shared parts below (routes, authentication with
 *    Mastodon's scopes, parameters from query, form, multipart or JSON,
 *    paging and the Link header, errors in Mastodon's {"error": ...} shape);
 *  - api_masto_json.c: the entities (Account, Status, MediaAttachment,
 *    Notification, Relationship, Tag) with every field real clients read;
 *  - api_masto_apps.c: apps, instance metadata, CORS;
 *  - api_masto_statuses.c: statuses, timelines, media;
 *  - api_masto_accounts.c: accounts, relationships, follows, blocks, mutes,
 *    follow requests, search, notifications, favourites;
 *  - api_masto_stream.c: the streaming API (server-sent events, WebSocket).
 *
 * Requests under /api/ carry no cookies into the web layer: r->user is the
 * struct masto_req of the request (api_masto_req()). */
#ifndef TD_API_MASTO_H
#define TD_API_MASTO_H

#include "http/http.h"
#include "http/http_multipart.h"
#include "http/http_router.h"
#include "social/mb.h"
#include "store/store_mb.h"
#include "store/store_oauth.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct web_app;

/* Mastodon's version line: client libraries parse the leading "4.2.0". */
#define MASTO_API_VERSION "4.2.0"

/* One request's state, in the request arena (r->user). */
struct masto_req {
    struct http_req *r;
    struct web_app *app;
    struct mb *mb;
    struct store *st;
    const char *base;       /* the site's base URL, no trailing slash */
    int64_t viewer;         /* the token's account; 0 = anonymous */
    const char *scope;      /* the token's scope (arena), NULL when anonymous */
    const char *client_id;  /* the token's client (arena), NULL when anonymous */
    json_t *params;         /* merged query + body parameters (object), owned */
    const char *bad;        /* why the body could not be read, or NULL */
    struct http_part *parts; /* a multipart body's parts (files included) */
    size_t nparts;
    json_t *accounts;       /* per-request cache: account id (string) -> Account */
};

/** Add every Mastodon API route (and the OPTIONS preflight for /api/). */
void api_masto_routes(struct http_router *rt);
/** The request's state, made on first use. */
struct masto_req *api_masto_req(struct http_req *r);

/* ---- answers ---- */

/** Send j (reference taken) as JSON with status, no-store and CORS headers. */
void api_masto_send(struct http_req *r, int status, json_t *j);
/** Mastodon's error body {"error": msg} with status. */
void api_masto_error(struct http_req *r, int status, const char *msg);
/** The error for a TD_* code from the service: 404 "Record not found",
 *  422 with err->msg for TD_EINVAL / TD_ETOOBIG / TD_ELIMIT, 403 for
 *  TD_EDENIED, 500 otherwise. err may be NULL. */
void api_masto_fail(struct http_req *r, int rc, const struct mb_error *err);

/* ---- authentication ---- */

/** True if the space-separated granted scope satisfies need, one Mastodon
 *  scope such as "read:statuses" or "write:follows": granted has need, its
 *  family ("read"), "follow" for the follows/blocks/mutes sub-scopes, or
 *  Tandem's "microblog.read" / "microblog.write". */
bool api_masto_scope_ok(const char *granted, const char *need);
/** Check the Bearer token for need (NULL: any valid token). With required
 *  false, a request without a token goes on as anonymous (viewer 0), but a
 *  token that is presented must be valid. On failure answers 401 {"error":
 *  "The access token is invalid"} or 403 {"error": "This action is outside
 *  the authorized scopes"} and returns NULL. A token without an account
 *  (client_credentials) has viewer 0 and fails when required. */
struct masto_req *api_masto_auth(struct http_req *r, const char *need, bool required);

/* ---- parameters (query string, then the body: urlencoded form, multipart
 * form-data or JSON). "a[]=1&a[]=2" and JSON arrays give arrays. ---- */

/** A string parameter, or NULL (absent, or not a string or number). */
const char *api_masto_str(struct masto_req *m, const char *name);
/** A boolean ("true", "1", "on" / "false", "0", "off", JSON true/false), or def. */
bool api_masto_bool(struct masto_req *m, const char *name, bool def);
/** An array parameter (name or name[]), as a JSON array of strings; NULL if absent. */
json_t *api_masto_arr(struct masto_req *m, const char *name);
/** An id from a string: false if it is not a positive decimal number. */
bool api_masto_id(const char *s, int64_t *out);
/** The route's ":id" parameter as an id, or answers 404 and returns false. */
bool api_masto_path_id(struct masto_req *m, const char *param, int64_t *out);
/** A multipart file field (data, len, filename, content type), for media.
 *  False if absent. */
bool api_masto_file(struct masto_req *m, const char *name, const void **data, size_t *len,
                    const char **filename, const char **ctype);

/* ---- paging ---- */

/** Read max_id, since_id, min_id and limit into *pg (limit clamped to
 *  1..cap, default def). A malformed id or limit answers 400 and returns
 *  false. */
bool api_masto_page(struct masto_req *m, struct store_mb_page *pg, int def, int cap);
/** The Link header for a page of l (next: max_id = oldest cursor, prev:
 *  min_id = newest), keeping the request's other query parameters. Nothing
 *  for an empty list. */
void api_masto_link(struct masto_req *m, const struct store_mb_list *l);
/** Same, from the cursors directly (notifications). */
void api_masto_link_ids(struct masto_req *m, int64_t newest, int64_t oldest);

/* ---- entities (api_masto_json.c); NULL only when the object is gone ---- */

/** "2026-11-27T05:40:12.123Z" for ms since the epoch (arena). */
const char *api_masto_date(struct masto_req *m, int64_t ms);
/** Account entity (cached per request; a new reference). */
json_t *api_masto_account(struct masto_req *m, int64_t id);
/** Account with Mastodon's "source" and "role", for verify_credentials. */
json_t *api_masto_credential_account(struct masto_req *m, int64_t id);
/** Status entity of p as m->viewer sees it (a reblog carries its original). */
json_t *api_masto_status(struct masto_req *m, const struct store_mb_post *p);
/** Status entities for ids in that order, missing ones left out. The ids
 *  must come from the service's lists (mb_home(), mb_context(), ...), which
 *  hold only what m->viewer may see; this does not check again. */
json_t *api_masto_statuses(struct masto_req *m, const int64_t *ids, size_t n);
/** Same for a list's ids. */
json_t *api_masto_status_list(struct masto_req *m, const struct store_mb_list *l);
/** Status entity by id (NULL if not visible to m->viewer). */
json_t *api_masto_status_id(struct masto_req *m, int64_t id);
/** MediaAttachment entity. */
json_t *api_masto_media(struct masto_req *m, const struct store_mb_media *md);
/** Notification entity (NULL if its account or post is gone). */
json_t *api_masto_notification(struct masto_req *m, const struct store_mb_notif *n);
json_t *api_masto_relationship(const struct store_mb_relationship *rel);
/** Tag entity {name, url, history: []}. */
json_t *api_masto_tag(struct masto_req *m, const char *name);
/** Accounts of a list's ids, in order. */
json_t *api_masto_account_list(struct masto_req *m, const struct store_mb_list *l);

/* Media URLs carry a keyed hash of the id, so that a post's images cannot be
 * found by counting ids (the ids are time-ordered). */
/** The URL of media id's original ("original") or thumbnail ("small"). */
const char *api_masto_media_url(struct masto_req *m, int64_t id, const char *kind);
/** Check the key in a media URL. */
bool api_masto_media_key_ok(struct web_app *app, int64_t id, const char *key);

/* ---- timelines as text (api_masto_cache.c): the fast path for lists ---- */

struct masto_cache;
/** The serialized-entity cache, subscribed to mb's change events. */
struct masto_cache *api_masto_cache_new(struct mb *mb);
void api_masto_cache_free(struct masto_cache *c);
/** Answer 200 with the Status entities of ids (from the service's lists, so
 *  visible to m->viewer), the same JSON api_masto_statuses() gives, built
 *  from cached pieces. */
void api_masto_send_statuses(struct masto_req *m, const int64_t *ids, size_t n);
void api_masto_send_status_list(struct masto_req *m, const struct store_mb_list *l);
/* For api_masto_cache.c: a post's entity without "account", the reader's
 * fields and (for a reblog) "reblog"; an account's entity, uncached. */
json_t *api_masto_status_core(struct masto_req *m, const struct store_mb_post *p);
json_t *api_masto_account_fresh(struct masto_req *m, int64_t id);

/* ---- the groups' route tables ---- */
void api_masto_apps_routes(struct http_router *rt);
void api_masto_statuses_routes(struct http_router *rt);
void api_masto_accounts_routes(struct http_router *rt);
void api_masto_stream_routes(struct http_router *rt);

#endif
