/* SPDX-License-Identifier: MIT */
/* The Mastodon API's statuses, timelines and media endpoints; see api_masto.h. */
#include "api/api_masto.h"

#include "core/err.h"

#include <string.h>

static int visibility_of(const char *s)
{
    if (s == NULL || *s == '\0' || strcmp(s, "public") == 0)
        return STORE_MB_PUBLIC;
    if (strcmp(s, "unlisted") == 0)
        return STORE_MB_UNLISTED;
    if (strcmp(s, "private") == 0)
        return STORE_MB_PRIVATE;
    if (strcmp(s, "direct") == 0)
        return STORE_MB_DIRECT;
    return -1;
}

/* POST /api/v1/statuses */
static void handle_post(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "write:statuses", true);
    struct mb_post_req req = {0};
    struct mb_error err = {0};
    int64_t id = 0;
    const char *text;
    int rc;

    if (m == NULL)
        return;
    text = api_masto_str(m, "status");
    req.text = text ? text : "";
    req.text_len = strlen(req.text);
    req.visibility = visibility_of(api_masto_str(m, "visibility"));
    if (req.visibility < 0) {
        api_masto_error(r, 422, "Validation failed: Visibility is not included in the list");
        return;
    }
    req.spoiler_text = api_masto_str(m, "spoiler_text");
    req.sensitive = api_masto_bool(m, "sensitive", false);
    req.language = api_masto_str(m, "language");
    if (req.language && *req.language == '\0')
        req.language = NULL;
    const char *reply = api_masto_str(m, "in_reply_to_id");
    if (reply && *reply && !api_masto_id(reply, &req.in_reply_to_id)) {
        api_masto_error(r, 404, "Record not found");
        return;
    }
    req.idempotency_key = http_req_header(r, "Idempotency-Key");
    rc = mb_post_create(m->mb, m->viewer, &req, &id, &err);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, &err);
        return;
    }
    json_t *j = api_masto_status_id(m, id);
    if (j == NULL) {
        api_masto_error(r, 500, "The post was made but cannot be read back");
        return;
    }
    api_masto_send(r, 200, j);
}

/* GET /api/v1/timelines/home */
static void handle_home(struct http_req *r)
{
    struct masto_req *m = api_masto_auth(r, "read:statuses", true);
    struct store_mb_page pg;
    struct store_mb_list l;
    int rc;

    if (m == NULL || !api_masto_page(m, &pg, 20, STORE_MB_STATUSES_MAX))
        return;
    rc = mb_home(m->mb, m->viewer, &pg, &l);
    if (rc != TD_OK) {
        api_masto_fail(r, rc, NULL);
        return;
    }
    api_masto_link(m, &l);
    api_masto_send_status_list(m, &l);
}

void api_masto_statuses_routes(struct http_router *rt)
{
    http_router_add(rt, "POST", "/api/v1/statuses", handle_post);
    http_router_add(rt, "GET", "/api/v1/timelines/home", handle_home);
}
