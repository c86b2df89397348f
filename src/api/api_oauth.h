/* SPDX-License-Identifier: MIT */
/* The JSON endpoints of the OAuth 2.0 authorization server and OpenID
 * Connect provider: token (RFC 6749 §3.2, §4.1.3, §4.4, §6; RFC 8628 §3.4),
 * device authorization (RFC 8628 §3.1), revocation (RFC 7009), introspection
 * (RFC 7662), userinfo (OIDC Core §5.3), discovery (RFC 8414, OIDC
 * Discovery §4), JWKS and dynamic client registration (RFC 7591). The
 * protocol decisions live in oauth/oauth.c; this module maps them onto HTTP.
 * Handlers reach the provider through ((struct web_app *)r->app)->oauth. */
#ifndef TD_API_OAUTH_H
#define TD_API_OAUTH_H

#include "http/http_router.h"

#include <stdbool.h>

/** Add the routes: POST /oauth/token, /oauth/device_authorization, /oauth/revoke,
 * /oauth/introspect, /oauth/register; GET|POST /oauth/userinfo; GET /oauth/jwks,
 * /.well-known/openid-configuration and /.well-known/oauth-authorization-server. */
void api_oauth_routes(struct http_router *rt);
/** True if fn is one of these endpoints' handlers. They use no cookies, session or CSRF
 * token (clients authenticate per request), so the dispatcher may skip that set-up and its
 * Set-Cookie, which does not belong on cacheable discovery documents either. */
bool api_oauth_is_handler(http_handler_fn *fn);

#endif
