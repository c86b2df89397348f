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

#include "store/store_oauth.h"

#include <stdbool.h>

/** Add the routes: POST /oauth/token, /oauth/device_authorization, /oauth/revoke,
 * /oauth/introspect, /oauth/register; GET|POST /oauth/userinfo; GET /oauth/jwks,
 * /.well-known/openid-configuration and /.well-known/oauth-authorization-server. */
void api_oauth_routes(struct http_router *rt);
/** True if fn is one of these endpoints' handlers. They use no cookies, session or CSRF
 * token (clients authenticate per request), so the dispatcher may skip that set-up and its
 * Set-Cookie, which does not belong on cacheable discovery documents either. */
bool api_oauth_is_handler(http_handler_fn *fn);

/** The check every API handler uses (RFC 6750): the request's Bearer token (Authorization
 * header, or access_token in a POSTed form) must be a live access token granted every scope
 * in scope (space-separated; NULL or "" for none). On success fills out (clear it with
 * store_oauth_token_clear) and returns true; otherwise answers 400 invalid_request, 401
 * (with a WWW-Authenticate: Bearer challenge, invalid_token when one was presented) or 403
 * insufficient_scope, and returns false. */
bool api_bearer(struct http_req *r, const char *scope, struct oauth_token *out);

#endif
