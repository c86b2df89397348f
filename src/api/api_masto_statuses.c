/* SPDX-License-Identifier: MIT */
/* The Mastodon API's statuses endpoints; see api_masto.h. */
#include "api/api_masto.h"

void api_masto_statuses_routes(struct http_router *rt)
{
    (void)rt;
}
