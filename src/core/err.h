/* SPDX-License-Identifier: MIT */
/* Error codes shared by every module, and the allocation wrappers.
 * Functions return TD_OK (0) or a negative TD_E* code; td_strerror() names it.
 * Small allocations go through td_malloc() and friends, which abort on OOM
 * (as Redis zmalloc does): a server that cannot allocate 64 bytes cannot
 * recover sensibly. Sizes that come from input are checked against a cap by
 * the caller before allocating, so they fail cleanly instead. */
#ifndef TD_ERR_H
#define TD_ERR_H

#include <stddef.h>

enum td_err {
    TD_OK = 0,
    TD_ENOMEM = -1,    /* allocation failed */
    TD_EINVAL = -2,    /* invalid argument or malformed input */
    TD_EPROTO = -3,    /* protocol violation by the peer */
    TD_ETOOBIG = -4,   /* input exceeds a configured limit */
    TD_ENOTFOUND = -5, /* no such thing */
    TD_EEXIST = -6,    /* already exists */
    TD_EIO = -7,       /* I/O or storage failure */
    TD_EAGAIN = -8,    /* need more input */
    TD_EDENIED = -9,   /* not permitted */
    TD_ELIMIT = -10,   /* rate limited */
    TD_ECLOSED = -11,  /* peer or object already closed */
    TD_EVERSION = -12, /* incompatible version (e.g. database newer than binary) */
};

/** Short English text for a TD_E* code; never NULL. */
const char *td_strerror(int err);

/** malloc/calloc/realloc/strdup that abort with a message on OOM. */
void *td_malloc(size_t n);
void *td_calloc(size_t nmemb, size_t size);
void *td_realloc(void *p, size_t n);
char *td_strdup(const char *s);
char *td_strndup(const char *s, size_t n);

#define TD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define td_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Cheap invariant checks stay on in every build (Redis serverAssert). */
#define TD_ASSERT(cond) \
    ((cond) ? (void)0 : td_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void td_assert_fail(const char *expr, const char *file, int line);

#endif
