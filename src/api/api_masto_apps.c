/* SPDX-License-Identifier: MIT */
/* The Mastodon API's apps endpoints; see api_masto.h. */
#include "api/api_masto.h"

void api_masto_apps_routes(struct http_router *rt)
{
    (void)rt;
}
