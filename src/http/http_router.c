/* SPDX-License-Identifier: MIT */
/* Method + path-pattern router; see http_router.h. Patterns are split into
 * segments once, when added; matching walks the path's segments without
 * allocating except for captured parameter values (request arena). */
#include "http/http_router.h"

#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define ROUTER_MAX_SEGS 16

enum seg_kind { SEG_LIT, SEG_PARAM, SEG_REST };

struct seg {
    enum seg_kind kind;
    char *text; /* literal text, or the parameter name */
    size_t len;
    char *prefix; /* a parameter's literal prefix ("@" in "@:name"), or NULL */
    size_t plen;
};

struct route {
    char *method;
    char *pattern;
    struct seg segs[ROUTER_MAX_SEGS];
    size_t nsegs;
    http_handler_fn *fn;
};

struct http_router {
    struct route *routes;
    size_t n;
    size_t cap;
};

struct http_router *http_router_new(void)
{
    return td_calloc(1, sizeof(struct http_router));
}

void http_router_free(struct http_router *rt)
{
    if (rt == NULL)
        return;
    for (size_t i = 0; i < rt->n; i++) {
        for (size_t j = 0; j < rt->routes[i].nsegs; j++) {
            free(rt->routes[i].segs[j].text);
            free(rt->routes[i].segs[j].prefix);
        }
        free(rt->routes[i].method);
        free(rt->routes[i].pattern);
    }
    free(rt->routes);
    free(rt);
}

static int parse_pattern(struct route *ro, const char *pattern)
{
    const char *p = pattern;

    if (*p != '/')
        return TD_EINVAL;
    while (*p == '/') {
        const char *start = ++p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 && *p == '\0' && ro->nsegs == 0)
            break; /* the root pattern "/" */
        if (ro->nsegs == ROUTER_MAX_SEGS)
            return TD_EINVAL;
        struct seg *s = &ro->segs[ro->nsegs++];
        const char *colon = memchr(start, ':', len);
        if (colon && colon + 1 < p && memchr(start, '*', len) == NULL) {
            /* ":name", or "@:name": a literal prefix, then the parameter */
            s->kind = SEG_PARAM;
            s->text = td_strndup(colon + 1, (size_t)(p - colon - 1));
            if (colon > start) {
                s->plen = (size_t)(colon - start);
                s->prefix = td_strndup(start, s->plen);
            }
        } else if (len > 1 && start[0] == '*') {
            if (*p != '\0')
                return TD_EINVAL; /* a rest segment must be last */
            s->kind = SEG_REST;
            s->text = td_strndup(start + 1, len - 1);
        } else {
            s->kind = SEG_LIT;
            s->text = td_strndup(start, len);
        }
        s->len = strlen(s->text);
    }
    return *p == '\0' ? TD_OK : TD_EINVAL;
}

int http_router_add(struct http_router *rt, const char *method, const char *pattern,
                    http_handler_fn *fn)
{
    struct route ro;

    memset(&ro, 0, sizeof(ro));
    if (parse_pattern(&ro, pattern) != TD_OK) {
        for (size_t j = 0; j < ro.nsegs; j++) {
            free(ro.segs[j].text);
            free(ro.segs[j].prefix);
        }
        return TD_EINVAL;
    }
    if (rt->n == rt->cap) {
        rt->cap = rt->cap ? rt->cap * 2 : 16;
        rt->routes = td_realloc(rt->routes, rt->cap * sizeof(*rt->routes));
    }
    ro.method = td_strdup(method);
    ro.pattern = td_strdup(pattern);
    ro.fn = fn;
    rt->routes[rt->n++] = ro;
    return TD_OK;
}

/* Match path against ro; on success fill r's params (when r is non-NULL). */
static bool match_path(const struct route *ro, const char *path, struct http_req *r)
{
    const char *p = path;
    size_t nparams = 0;

    if (*p != '/')
        return false;
    for (size_t i = 0; i < ro->nsegs; i++) {
        const struct seg *s = &ro->segs[i];
        if (*p != '/')
            return false;
        p++;
        if (s->kind == SEG_REST) {
            if (r && nparams < HTTP_MAX_PARAMS) {
                r->param_names[nparams] = s->text;
                r->param_values[nparams++] = arena_strdup(r->arena, p);
            }
            p += strlen(p);
            break;
        }
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (s->kind == SEG_LIT) {
            if (len != s->len || memcmp(p, s->text, len) != 0)
                return false;
        } else {
            if (len <= s->plen || (s->plen && memcmp(p, s->prefix, s->plen) != 0))
                return false;
            if (r && nparams < HTTP_MAX_PARAMS) {
                r->param_names[nparams] = s->text;
                r->param_values[nparams++] = arena_strndup(r->arena, p + s->plen, len - s->plen);
            }
        }
        p += len;
    }
    if (ro->nsegs == 0)
        return strcmp(path, "/") == 0;
    if (*p != '\0')
        return false;
    if (r)
        r->nparams = nparams;
    return true;
}

static bool method_ok(const struct route *ro, const char *method)
{
    if (strcmp(ro->method, "*") == 0 || strcmp(ro->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(ro->method, "GET") == 0;
}

static void allow_add(struct buf *allow, const char *m)
{
    /* Avoid duplicates: the list is short. */
    if (allow->len) {
        const char *hit = strstr(allow->data, m);
        size_t ml = strlen(m);
        if (hit && (hit[ml] == ',' || hit[ml] == '\0') &&
            (hit == allow->data || hit[-1] == ' '))
            return;
        buf_appends(allow, ", ");
    }
    buf_appends(allow, m);
}

enum http_route_result http_router_match(const struct http_router *rt, struct http_req *r,
                                         http_handler_fn **fn, struct buf *allow)
{
    bool path_seen = false;

    for (size_t i = 0; i < rt->n; i++) {
        const struct route *ro = &rt->routes[i];
        if (!match_path(ro, r->path, NULL))
            continue;
        if (method_ok(ro, r->method)) {
            match_path(ro, r->path, r);
            r->route = ro->pattern;
            *fn = ro->fn;
            return HTTP_ROUTE_FOUND;
        }
        if (!path_seen && allow)
            buf_reset(allow);
        path_seen = true;
        if (allow) {
            allow_add(allow, ro->method);
            if (strcmp(ro->method, "GET") == 0)
                allow_add(allow, "HEAD");
        }
    }
    return path_seen ? HTTP_ROUTE_BAD_METHOD : HTTP_ROUTE_NOT_FOUND;
}
