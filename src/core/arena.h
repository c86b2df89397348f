/* SPDX-License-Identifier: MIT */
/* A bump allocator for things that live exactly as long as one request or
 * one exchange (h2o's per-request pool): allocate freely, free nothing, and
 * reset the whole arena when the request ends. Memory comes in chunks; an
 * allocation larger than a chunk gets its own. Aborts on OOM like td_malloc. */
#ifndef TD_ARENA_H
#define TD_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct arena;

/** A new arena whose chunks are chunk_size bytes (0 = 4 KiB). */
struct arena *arena_new(size_t chunk_size);
/** n bytes, aligned for any type, valid until arena_reset/arena_free. */
void *arena_alloc(struct arena *a, size_t n);
/** n zeroed bytes. */
void *arena_calloc(struct arena *a, size_t n);
/** Copy of s[0..n) plus a NUL. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Call fn(p) when the arena is next reset or freed (last registered, first
 *  called): for things the arena's owner holds beyond plain memory (a
 *  request's JSON documents). */
void arena_defer(struct arena *a, void (*fn)(void *), void *p);
/** Forget every allocation, keeping the first chunk for reuse. */
void arena_reset(struct arena *a);
/** Free the arena and everything in it. NULL-safe. */
void arena_free(struct arena *a);

#endif
