/* SPDX-License-Identifier: MIT */
/* Process metrics in the Prometheus text exposition format (version 0.0.4).
 * HTTP requests are counted by route pattern, method and status, with one
 * latency histogram per route; gauges are read through callbacks at scrape
 * time so that modules own their numbers. Loop thread only. The number of
 * distinct label sets is capped (routes are patterns, not paths, so the set
 * is small; the cap guards against a bug turning paths into labels). */
#ifndef TD_METRICS_H
#define TD_METRICS_H

#include "core/buf.h"

#include <stddef.h>

#define METRICS_MAX_SERIES 512
#define METRICS_MAX_HISTOGRAMS 16

/** Count one HTTP request. route may be NULL (unmatched). */
void metrics_http_observe(const char *route, const char *method, int status, double seconds);
/** A gauge read at scrape time: name (with optional {labels}), help, and a reader. */
typedef double metrics_gauge_fn(void *ud);
void metrics_gauge_add(const char *name, const char *help, metrics_gauge_fn *fn, void *ud);
/** The same for a counter (a total that only grows), exposed with TYPE counter. */
void metrics_counter_add(const char *name, const char *help, metrics_gauge_fn *fn, void *ud);
/** Observe one value (seconds) in the histogram called name (no labels; the
 *  HTTP latency buckets), made on first use. Names past METRICS_MAX_HISTOGRAMS
 *  are dropped (counted in tandem_metrics_series_dropped_total). */
void metrics_observe(const char *name, const char *help, double seconds);
/** Record the event loop's lag (how late a periodic timer fired), in seconds. */
void metrics_loop_lag(double seconds);
/** Append the whole exposition. */
void metrics_render(struct buf *out);
/** Forget everything (tests, shutdown). */
void metrics_reset(void);

#endif
