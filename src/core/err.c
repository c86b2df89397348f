/* SPDX-License-Identifier: MIT */
/* Error names and the aborting allocation wrappers declared in err.h. */
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *td_strerror(int err)
{
    switch (err) {
    case TD_OK: return "ok";
    case TD_ENOMEM: return "out of memory";
    case TD_EINVAL: return "invalid input";
    case TD_EPROTO: return "protocol error";
    case TD_ETOOBIG: return "too large";
    case TD_ENOTFOUND: return "not found";
    case TD_EEXIST: return "already exists";
    case TD_EIO: return "i/o error";
    case TD_EAGAIN: return "need more input";
    case TD_EDENIED: return "permission denied";
    case TD_ELIMIT: return "rate limited";
    case TD_ECLOSED: return "closed";
    case TD_EVERSION: return "incompatible version";
    default: return "unknown error";
    }
}

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *td_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *td_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *td_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *td_strndup(const char *s, size_t n)
{
    char *p = td_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *td_strdup(const char *s)
{
    return td_strndup(s, strlen(s));
}

void td_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s at %s:%d\n", expr, file, line);
    abort();
}
