/* SPDX-License-Identifier: MIT */
/* Online sessions by JID: a chained hash table keyed by bare JID (seeded
 * FNV-1a, doubled when the load passes 1), each node holding the list of its
 * resources' routes. See xmpp_router.h. */
#include "xmpp/xmpp_router.h"

#include "core/err.h"

#include <openssl/rand.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct xmpp_router_node {
    struct xmpp_router_node *next; /* hash chain */
    struct xmpp_route *routes;
    uint64_t hash;
    size_t len;
    char bare[]; /* NUL-terminated */
};

struct xmpp_router {
    struct xmpp_router_node **slots;
    size_t nslots; /* power of two */
    size_t nnodes;
    size_t nroutes;
    uint64_t seed;
};

#define INITIAL_SLOTS 64

static uint64_t hash_of(const struct xmpp_router *r, const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL ^ r->seed;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

struct xmpp_router *xmpp_router_new(void)
{
    struct xmpp_router *r = td_calloc(1, sizeof(*r));
    r->nslots = INITIAL_SLOTS;
    r->slots = td_calloc(r->nslots, sizeof(*r->slots));
    if (RAND_bytes((unsigned char *)&r->seed, sizeof(r->seed)) != 1)
        r->seed = (uint64_t)(uintptr_t)r;
    return r;
}

void xmpp_router_free(struct xmpp_router *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nslots; i++) {
        struct xmpp_router_node *n = r->slots[i];
        while (n) {
            struct xmpp_router_node *next = n->next;
            for (struct xmpp_route *rt = n->routes; rt; rt = rt->_next)
                rt->_node = NULL;
            free(n);
            n = next;
        }
    }
    free(r->slots);
    free(r);
}

static struct xmpp_router_node *node_find(const struct xmpp_router *r, const char *bare,
                                          size_t len, uint64_t h)
{
    for (struct xmpp_router_node *n = r->slots[h & (r->nslots - 1)]; n; n = n->next)
        if (n->hash == h && n->len == len && memcmp(n->bare, bare, len) == 0)
            return n;
    return NULL;
}

static void grow(struct xmpp_router *r)
{
    size_t ns = r->nslots * 2;
    struct xmpp_router_node **slots = td_calloc(ns, sizeof(*slots));

    for (size_t i = 0; i < r->nslots; i++) {
        struct xmpp_router_node *n = r->slots[i];
        while (n) {
            struct xmpp_router_node *next = n->next;
            n->next = slots[n->hash & (ns - 1)];
            slots[n->hash & (ns - 1)] = n;
            n = next;
        }
    }
    free(r->slots);
    r->slots = slots;
    r->nslots = ns;
}

int xmpp_router_add(struct xmpp_router *r, struct xmpp_route *rt, struct xmpp_route **conflict)
{
    struct xmpp_router_node *n;
    uint64_t h;

    if (conflict)
        *conflict = NULL;
    if (rt->full == NULL || rt->full[rt->bare_len] != '/' || rt->bare_len == 0)
        return TD_EINVAL;
    h = hash_of(r, rt->full, rt->bare_len);
    n = node_find(r, rt->full, rt->bare_len, h);
    if (n) {
        for (struct xmpp_route *o = n->routes; o; o = o->_next) {
            if (strcmp(o->full, rt->full) == 0) {
                if (conflict)
                    *conflict = o;
                return TD_EEXIST;
            }
        }
    } else {
        if (r->nnodes >= r->nslots)
            grow(r);
        n = td_calloc(1, sizeof(*n) + rt->bare_len + 1);
        memcpy(n->bare, rt->full, rt->bare_len);
        n->len = rt->bare_len;
        n->hash = h;
        n->next = r->slots[h & (r->nslots - 1)];
        r->slots[h & (r->nslots - 1)] = n;
        r->nnodes++;
    }
    rt->_next = n->routes;
    n->routes = rt;
    rt->_node = n;
    r->nroutes++;
    return TD_OK;
}

void xmpp_router_remove(struct xmpp_router *r, struct xmpp_route *rt)
{
    struct xmpp_router_node *n = rt->_node;
    struct xmpp_route **pp;

    if (n == NULL)
        return;
    for (pp = &n->routes; *pp; pp = &(*pp)->_next) {
        if (*pp == rt) {
            *pp = rt->_next;
            r->nroutes--;
            break;
        }
    }
    rt->_node = NULL;
    rt->_next = NULL;
    if (n->routes)
        return;
    /* Last resource gone: unlink the node. */
    struct xmpp_router_node **np = &r->slots[n->hash & (r->nslots - 1)];
    while (*np && *np != n)
        np = &(*np)->next;
    if (*np)
        *np = n->next;
    r->nnodes--;
    free(n);
}

struct xmpp_route *xmpp_router_find(const struct xmpp_router *r, const char *full)
{
    const char *slash = strchr(full, '/');
    struct xmpp_router_node *n;

    if (slash == NULL)
        return NULL;
    n = node_find(r, full, (size_t)(slash - full), hash_of(r, full, (size_t)(slash - full)));
    if (n == NULL)
        return NULL;
    for (struct xmpp_route *rt = n->routes; rt; rt = rt->_next)
        if (strcmp(rt->full, full) == 0)
            return rt;
    return NULL;
}

struct xmpp_route *xmpp_router_resources(const struct xmpp_router *r, const char *bare)
{
    size_t len = strlen(bare);
    struct xmpp_router_node *n = node_find(r, bare, len, hash_of(r, bare, len));
    return n ? n->routes : NULL;
}

struct xmpp_route *xmpp_route_next(const struct xmpp_route *rt)
{
    return rt->_next;
}

size_t xmpp_router_best(const struct xmpp_router *r, const char *bare, struct xmpp_route **out,
                        size_t cap)
{
    int best = -1;
    size_t k = 0;

    for (struct xmpp_route *rt = xmpp_router_resources(r, bare); rt; rt = rt->_next)
        if (rt->available && rt->priority > best)
            best = rt->priority;
    if (best < 0)
        return 0;
    for (struct xmpp_route *rt = xmpp_router_resources(r, bare); rt && k < cap; rt = rt->_next)
        if (rt->available && rt->priority == best)
            out[k++] = rt;
    return k;
}

size_t xmpp_router_count(const struct xmpp_router *r)
{
    return r->nroutes;
}
