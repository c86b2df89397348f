/* SPDX-License-Identifier: MIT */
/* Mustache templates (https://mustache.github.io/mustache.5.html), compiled
 * once at start-up into a flat instruction list and rendered per request
 * against a jansson value. Implements the official spec modules comments,
 * delimiters, interpolation, inverted, partials, sections and ~inheritance
 * (parents {{<p}} and blocks {{$b}}); lambdas are not supported. Partials and
 * parents are fetched through a caller callback and compiled on demand; the
 * compiled form is cached inside the root template and reused while the
 * callback keeps returning the same source. Hostile input is bounded: the
 * source size, the nesting of sections/partials/blocks (MUSTACHE_MAX_DEPTH)
 * and the work done per render (MUSTACHE_MAX_STEPS). */
#ifndef TD_MUSTACHE_H
#define TD_MUSTACHE_H

#include <jansson.h>
#include <stddef.h>

#include "core/buf.h"

/* Deepest nesting of sections, partials, parents and blocks, both inside one
 * template (checked when compiling) and while rendering (a self-recursive
 * partial stops here with TD_EINVAL instead of overflowing the stack). */
#define MUSTACHE_MAX_DEPTH 64
/* Largest template source accepted by mustache_compile(). */
#define MUSTACHE_MAX_SRC (4u << 20)
/* Most instructions executed by one mustache_render() (TD_ETOOBIG past it):
 * stops data-driven blow-ups such as nested loops that print nothing. */
#define MUSTACHE_MAX_STEPS (1ul << 26)

struct mustache; /* a compiled template */

/** Source of partial/parent `name` (its length in *len) or NULL if none. The
 *  bytes must stay valid until mustache_render() returns. */
typedef const char *mustache_partial_fn(void *ud, const char *name, size_t *len);

/** Compile src[0..len) into *out (free with mustache_free()). Returns TD_OK,
 *  or TD_EINVAL/TD_ETOOBIG with *err set to a message such as
 *  "line 3: unclosed section 'items'" (caller frees; err may be NULL). */
int mustache_compile(const char *src, size_t len, struct mustache **out, char **err);

/** Render t with data ctx (any json_t, usually an object; NULL = empty) and
 *  append the result to out. Partials and parents are looked up through
 *  partial(ud, name) (partial may be NULL: no partials) and compiled on
 *  demand into a cache owned by t, so t is mutated and one template must not
 *  be rendered by two threads at once. Returns TD_OK, TD_ETOOBIG when out's
 *  ceiling or MUSTACHE_MAX_STEPS is hit, or TD_EINVAL when a partial fails to
 *  compile or MUSTACHE_MAX_DEPTH is passed. On error out holds partial
 *  output. */
int mustache_render(const struct mustache *t, json_t *ctx, mustache_partial_fn *partial, void *ud,
                    struct buf *out);

/** Free a compiled template and its partial cache. NULL-safe. */
void mustache_free(struct mustache *t);

#endif
