/* SPDX-License-Identifier: MIT */
/* Unit tests for http/http_router: literals, parameters, rest segments,
 * 404 vs 405 with Allow, HEAD on GET routes, bad patterns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "http/http_router.h"

static void h_root(struct http_req *r) { (void)r; }
static void h_user(struct http_req *r) { (void)r; }
static void h_user_post(struct http_req *r) { (void)r; }
static void h_static(struct http_req *r) { (void)r; }
static void h_settings(struct http_req *r) { (void)r; }

static struct http_router *make(void)
{
    struct http_router *rt = http_router_new();
    assert_int_equal(http_router_add(rt, "GET", "/", h_root), TD_OK);
    assert_int_equal(http_router_add(rt, "GET", "/u/:name", h_user), TD_OK);
    assert_int_equal(http_router_add(rt, "POST", "/u/:name/follow", h_user_post), TD_OK);
    assert_int_equal(http_router_add(rt, "GET", "/static/*path", h_static), TD_OK);
    assert_int_equal(http_router_add(rt, "POST", "/settings", h_settings), TD_OK);
    assert_int_equal(http_router_add(rt, "PUT", "/settings", h_settings), TD_OK);
    return rt;
}

static enum http_route_result match(struct http_router *rt, struct arena *a, const char *method,
                                    const char *path, struct http_req *r, http_handler_fn **fn,
                                    struct buf *allow)
{
    memset(r, 0, sizeof(*r));
    r->arena = a;
    r->method = method;
    r->path = path;
    return http_router_match(rt, r, fn, allow);
}

static void test_matching(void **state)
{
    struct http_router *rt = make();
    struct arena *a = arena_new(0);
    struct http_req r;
    http_handler_fn *fn = NULL;
    struct buf allow;
    (void)state;
    buf_init(&allow, 0);

    assert_int_equal(match(rt, a, "GET", "/", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_ptr_equal(fn, h_root);
    assert_int_equal(match(rt, a, "GET", "/u/alice", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_ptr_equal(fn, h_user);
    assert_string_equal(http_req_param(&r, "name"), "alice");
    assert_string_equal(r.route, "/u/:name");
    assert_int_equal(match(rt, a, "HEAD", "/u/bob", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_int_equal(match(rt, a, "POST", "/u/bob/follow", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_ptr_equal(fn, h_user_post);
    assert_int_equal(match(rt, a, "GET", "/static/css/site.css", &r, &fn, &allow),
                     HTTP_ROUTE_FOUND);
    assert_string_equal(http_req_param(&r, "path"), "css/site.css");
    /* Empty or extra segments do not match a parameter. */
    assert_int_equal(match(rt, a, "GET", "/u/", &r, &fn, &allow), HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(match(rt, a, "GET", "/u/alice/extra", &r, &fn, &allow),
                     HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(match(rt, a, "GET", "/nope", &r, &fn, &allow), HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(match(rt, a, "GET", "", &r, &fn, &allow), HTTP_ROUTE_NOT_FOUND);
    arena_free(a);
    buf_free(&allow);
    http_router_free(rt);
}

static void test_method_not_allowed(void **state)
{
    struct http_router *rt = make();
    struct arena *a = arena_new(0);
    struct http_req r;
    http_handler_fn *fn = NULL;
    struct buf allow;
    (void)state;
    buf_init(&allow, 0);

    assert_int_equal(match(rt, a, "GET", "/settings", &r, &fn, &allow), HTTP_ROUTE_BAD_METHOD);
    assert_string_equal(allow.data, "POST, PUT");
    assert_int_equal(match(rt, a, "DELETE", "/u/x", &r, &fn, &allow), HTTP_ROUTE_BAD_METHOD);
    assert_string_equal(allow.data, "GET, HEAD");
    arena_free(a);
    buf_free(&allow);
    http_router_free(rt);
}

/* "@:name": a literal prefix before the parameter (Mastodon-style profiles). */
static void test_prefixed_param(void **state)
{
    struct http_router *rt = http_router_new();
    struct arena *a = arena_new(0);
    struct http_req r;
    http_handler_fn *fn = NULL;
    struct buf allow;
    (void)state;
    buf_init(&allow, 0);
    assert_int_equal(http_router_add(rt, "GET", "/@:name", h_user), TD_OK);
    assert_int_equal(http_router_add(rt, "GET", "/@:name/:id", h_user_post), TD_OK);
    assert_int_equal(match(rt, a, "GET", "/@alice", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_ptr_equal(fn, h_user);
    assert_string_equal(http_req_param(&r, "name"), "alice");
    assert_int_equal(match(rt, a, "GET", "/@bob/42", &r, &fn, &allow), HTTP_ROUTE_FOUND);
    assert_ptr_equal(fn, h_user_post);
    assert_string_equal(http_req_param(&r, "name"), "bob");
    assert_string_equal(http_req_param(&r, "id"), "42");
    /* The prefix alone, or a segment without it, does not match. */
    assert_int_equal(match(rt, a, "GET", "/@", &r, &fn, &allow), HTTP_ROUTE_NOT_FOUND);
    assert_int_equal(match(rt, a, "GET", "/alice", &r, &fn, &allow), HTTP_ROUTE_NOT_FOUND);
    arena_free(a);
    buf_free(&allow);
    http_router_free(rt);
}

static void test_bad_patterns(void **state)
{
    struct http_router *rt = http_router_new();
    (void)state;
    assert_int_equal(http_router_add(rt, "GET", "nope", h_root), TD_EINVAL);
    assert_int_equal(http_router_add(rt, "GET", "/a/*rest/b", h_root), TD_EINVAL);
    assert_int_equal(
        http_router_add(rt, "GET", "/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17", h_root),
        TD_EINVAL);
    http_router_free(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_prefixed_param),
        cmocka_unit_test(test_bad_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
