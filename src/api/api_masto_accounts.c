/* SPDX-License-Identifier: MIT */
/* The Mastodon API's accounts endpoints; see api_masto.h. */
#include "api/api_masto.h"

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

void api_masto_accounts_routes(struct http_router *rt)
{
    http_router_add(rt, "GET", "/api/v1/accounts/verify_credentials", handle_verify_credentials);
}
