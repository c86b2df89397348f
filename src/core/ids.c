/* SPDX-License-Identifier: MIT */
/* Time-sortable ID generator; see ids.h for the bit layout. The state is the
 * last ID issued, kept in one atomic so that worker threads may draw IDs too:
 * each call computes the smallest valid ID above it for the current clock and
 * publishes it with compare-and-swap. */
#include "core/ids.h"

#include <stdatomic.h>
#include <time.h>

#define SEQ_MASK ((INT64_C(1) << IDS_SEQ_BITS) - 1)
#define TIME_SHIFT (IDS_NODE_BITS + IDS_SEQ_BITS)

static _Atomic int64_t last_id;
static atomic_int node_id;

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ids_set_node(int node)
{
    atomic_store(&node_id, node & IDS_NODE_MAX);
}

static int64_t make_id(int64_t ms, int64_t node, int64_t seq)
{
    return (ms << TIME_SHIFT) | (node << IDS_SEQ_BITS) | seq;
}

int64_t ids_next(void)
{
    int64_t node = atomic_load(&node_id);
    int64_t clock_ms = now_ms() - IDS_EPOCH_MS;
    int64_t prev = atomic_load(&last_id);
    int64_t next;

    /* A clock before 2020 means a broken RTC; still issue positive IDs. */
    if (clock_ms < 0)
        clock_ms = 0;
    do {
        int64_t prev_ms = prev >> TIME_SHIFT;
        int64_t prev_seq = prev & SEQ_MASK;

        if (clock_ms > prev_ms)
            next = make_id(clock_ms, node, 0);
        else if (prev_seq < SEQ_MASK)
            /* Same millisecond, or the clock stepped back: continue after prev. */
            next = make_id(prev_ms, node, prev_seq + 1);
        else
            next = make_id(prev_ms + 1, node, 0); /* sequence used up: borrow 1 ms */
        /* A node id lowered since prev could still leave next below it. */
        if (next <= prev)
            next = make_id(prev_ms + 1, node, 0);
    } while (!atomic_compare_exchange_weak(&last_id, &prev, next));
    return next;
}

int64_t ids_time_ms(int64_t id)
{
    return (id >> TIME_SHIFT) + IDS_EPOCH_MS;
}
