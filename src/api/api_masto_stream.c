/* SPDX-License-Identifier: MIT */
/* The Mastodon API's stream endpoints; see api_masto.h. */
#include "api/api_masto.h"

void api_masto_stream_routes(struct http_router *rt)
{
    (void)rt;
}
