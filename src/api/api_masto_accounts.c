/* SPDX-License-Identifier: MIT */
/* The Mastodon API's accounts endpoints; see api_masto.h. */
#include "api/api_masto.h"

#include "core/err.h"

/* GET /api/v1/accounts/verify_credentials: the token's own account, with
 * "source" (what the profile editor shows). */
static void handle_verify_credentials(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:accounts", true);
    json_t *j;

    if (m == NULL)
        return;
    j = api_masto_credential_account(m, m->viewer);
    if (j == NULL) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    api_masto_send(r, 200, j);
}

/* POST /api/v1/accounts/:id/follow: a Relationship. */
static void handle_follow(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:follows", true);
    struct store_mb_relationship rel;
    struct mb_error err = {0};
    int64_t id;
    int rc;

    if (m == NULL || !api_masto_path_id(m, "id", &id))
        return;
    rc = mb_follow(m->mb, m->viewer, id, api_masto_bool(m, "reblogs", true), NULL, &err);
    if (rc == TD_OK)
        rc = store_mb_relationships(m->st, m->viewer, &id, 1, &rel);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, &err);
        return;
    }
    api_masto_send(r, 200, api_masto_relationship(&rel));
}

void api_masto_accounts_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/api/v1/accounts/verify_credentials", handle_verify_credentials);
    http_router_add(rt, "POST", "/api/v1/accounts/:id/follow", handle_follow);
}
