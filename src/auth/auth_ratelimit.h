/* SPDX-License-Identifier: MIT */
/* Login throttling: at most max_events failures per key within any window of
 * window_ms (a true sliding window), for keys such as "u:<lowercased name>"
 * and "a:<address>". The table holds at most max_keys keys, so trying many
 * usernames or addresses cannot exhaust memory: when full, a new key evicts
 * the key whose last failure is oldest (one whose window has expired if there
 * is any). Eviction forgets a key's failures, so choose max_keys above the
 * number of keys expected to be throttled at once. Times are caller-supplied
 * milliseconds from a monotonic clock (uv_now). Loop thread only; not
 * thread-safe. */
#ifndef TD_AUTH_RATELIMIT_H
#define TD_AUTH_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_RATELIMIT_KEY_MAX 128      /* longer keys are cut to this many bytes */
#define AUTH_RATELIMIT_EVENTS_MAX 1024  /* max_events is clamped to 1..this */
#define AUTH_RATELIMIT_KEYS_MAX (1u << 24) /* max_keys is clamped to 1..this */

struct auth_ratelimit;

/** New table. max_events, window_ms (>= 1) and max_keys are clamped to sane
 *  bounds (see the constants above). Free with auth_ratelimit_free. */
struct auth_ratelimit *auth_ratelimit_new(unsigned max_events, int64_t window_ms, size_t max_keys);
/** Free the table and all entries. NULL-safe. */
void auth_ratelimit_free(struct auth_ratelimit *rl);
/** TD_OK if key may try now, else TD_ELIMIT and *retry_after_ms (> 0) says how
 *  long until it may (retry_after_ms may be NULL; it is set to 0 on TD_OK).
 *  Does not count an event; may drop key's entry if its window has expired. */
int auth_ratelimit_check(struct auth_ratelimit *rl, const char *key, int64_t now_ms,
                         int64_t *retry_after_ms);
/** Count one failure for key at now_ms, creating the entry (and evicting
 *  another if the table is full). */
void auth_ratelimit_hit(struct auth_ratelimit *rl, const char *key, int64_t now_ms);
/** Forget key's failures (e.g. after a successful login). */
void auth_ratelimit_reset(struct auth_ratelimit *rl, const char *key);
/** Change the limits (config reload); recorded failures are kept and judged
 *  by the new limits. Values are clamped as in auth_ratelimit_new. */
void auth_ratelimit_configure(struct auth_ratelimit *rl, unsigned max_events, int64_t window_ms);
/** Number of keys held (never more than max_keys). */
size_t auth_ratelimit_size(const struct auth_ratelimit *rl);

#endif
