/* SPDX-License-Identifier: MIT */
/* Bump allocator; see arena.h. */
#include "core/arena.h"

#include "core/err.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct chunk {
    struct chunk *next;
    size_t size; /* usable bytes in mem */
    size_t used;
    alignas(max_align_t) char mem[];
};

struct defer {
    struct defer *next;
    void (*fn)(void *);
    void *p;
};

struct arena {
    struct chunk *head; /* newest chunk first; the last one is kept on reset */
    size_t chunk_size;
    struct defer *defers; /* newest first: run in reverse order of registration */
};

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = td_malloc(sizeof(*c) + size);

    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

struct arena *arena_new(size_t chunk_size)
{
    struct arena *a = td_malloc(sizeof(*a));

    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->head = chunk_new(a->chunk_size);
    a->defers = NULL;
    return a;
}

void *arena_alloc(struct arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    struct chunk *c = a->head;
    size_t off = (c->used + align - 1) & ~(align - 1);

    if (n > ((size_t)-1) / 2)
        td_assert_fail("arena allocation too large", __FILE__, __LINE__);
    if (off + n > c->size) {
        if (n > a->chunk_size / 4) {
            /* Big allocation: its own chunk behind the head so the head's
             * free space stays usable. */
            struct chunk *big = chunk_new(n);
            big->used = n;
            big->next = c->next;
            c->next = big;
            return big->mem;
        }
        c = chunk_new(a->chunk_size);
        c->next = a->head;
        a->head = c;
        off = 0;
    }
    c->used = off + n;
    return c->mem + off;
}

void *arena_calloc(struct arena *a, size_t n)
{
    void *p = arena_alloc(a, n);

    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return arena_strdup(a, "");
    p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
    struct defer *d = arena_alloc(a, sizeof(*d));

    d->fn = fn;
    d->p = p;
    d->next = a->defers;
    a->defers = d;
}

static void run_defers(struct arena *a)
{
    while (a->defers) {
        struct defer *d = a->defers;
        a->defers = d->next; /* a callback may register more */
        d->fn(d->p);
    }
}

void arena_reset(struct arena *a)
{
    run_defers(a);
    struct chunk *c = a->head;

    /* Keep the oldest chunk (the tail): it is a normal-sized one. */
    while (c->next) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    if (c->size != a->chunk_size) {
        free(c);
        c = chunk_new(a->chunk_size);
    }
    c->used = 0;
    a->head = c;
}

void arena_free(struct arena *a)
{
    if (a == NULL)
        return;
    run_defers(a);
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}
