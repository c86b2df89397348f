/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition; see metrics.h. Series live in a fixed array
 * searched linearly: with at most a few hundred series and one lookup per
 * request this costs less than hashing, and it needs no allocation. */
#include "core/metrics.h"

#include "core/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct req_series {
    char route[96];
    char method[12];
    int status;
    unsigned long long count;
};

struct lat_series {
    char route[96];
    unsigned long long bucket[NBUCKETS];
    unsigned long long count;
    double sum;
};

struct gauge {
    char *name;
    char *help;
    metrics_gauge_fn *fn;
    void *ud;
    bool counter;          /* TYPE counter rather than gauge */
};

struct hist {
    char name[96];
    char *help;
    unsigned long long bucket[NBUCKETS];
    unsigned long long count;
    double sum;
};

static struct req_series reqs[METRICS_MAX_SERIES];
static size_t nreqs;
static struct lat_series lats[METRICS_MAX_SERIES / 4];
static size_t nlats;
static struct gauge gauges[64];
static size_t ngauges;
static struct hist hists[METRICS_MAX_HISTOGRAMS];
static size_t nhists;
static double lag_last, lag_max;
static unsigned long long dropped;

static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

void metrics_http_observe(const char *route, const char *method, int status, double seconds)
{
    size_t i;

    if (route == NULL)
        route = "unmatched";
    for (i = 0; i < nreqs; i++)
        if (reqs[i].status == status && strcmp(reqs[i].route, route) == 0 &&
            strcmp(reqs[i].method, method) == 0)
            break;
    if (i == nreqs) {
        if (nreqs == METRICS_MAX_SERIES) {
            dropped++;
            return;
        }
        copy(reqs[i].route, sizeof(reqs[i].route), route);
        copy(reqs[i].method, sizeof(reqs[i].method), method);
        reqs[i].status = status;
        nreqs++;
    }
    reqs[i].count++;

    for (i = 0; i < nlats; i++)
        if (strcmp(lats[i].route, route) == 0)
            break;
    if (i == nlats) {
        if (nlats == TD_ARRAY_LEN(lats))
            return;
        copy(lats[i].route, sizeof(lats[i].route), route);
        nlats++;
    }
    for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= buckets[b])
            lats[i].bucket[b]++;
    lats[i].count++;
    lats[i].sum += seconds;
}

static void reader_add(const char *name, const char *help, metrics_gauge_fn *fn, void *ud,
                       bool counter)
{
    if (ngauges == TD_ARRAY_LEN(gauges))
        return;
    gauges[ngauges].name = td_strdup(name);
    gauges[ngauges].help = td_strdup(help);
    gauges[ngauges].fn = fn;
    gauges[ngauges].ud = ud;
    gauges[ngauges].counter = counter;
    ngauges++;
}

void metrics_gauge_add(const char *name, const char *help, metrics_gauge_fn *fn, void *ud)
{
    reader_add(name, help, fn, ud, false);
}

void metrics_counter_add(const char *name, const char *help, metrics_gauge_fn *fn, void *ud)
{
    reader_add(name, help, fn, ud, true);
}

void metrics_observe(const char *name, const char *help, double seconds)
{
    size_t i;

    for (i = 0; i < nhists; i++)
        if (strcmp(hists[i].name, name) == 0)
            break;
    if (i == nhists) {
        if (nhists == METRICS_MAX_HISTOGRAMS) {
            dropped++;
            return;
        }
        copy(hists[i].name, sizeof(hists[i].name), name);
        hists[i].help = td_strdup(help);
        nhists++;
    }
    for (size_t b = 0; b < NBUCKETS; b++)
        if (seconds <= buckets[b])
            hists[i].bucket[b]++;
    hists[i].count++;
    hists[i].sum += seconds;
}

static void hist_render(struct buf *out, const struct hist *h)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    for (size_t b = 0; b < NBUCKETS; b++)
        buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h->name, buckets[b], h->bucket[b]);
    buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", h->name,
               h->count, h->name, h->sum, h->name, h->count);
}

void metrics_loop_lag(double seconds)
{
    lag_last = seconds;
    if (seconds > lag_max)
        lag_max = seconds;
}

/* Label values are route patterns and method names, which we write ourselves;
 * escape anyway (backslash, quote, newline) as the format requires. */
static void label(struct buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_putc(out, '\\');
        if (*v == '\n') {
            buf_appends(out, "\\n");
            continue;
        }
        buf_putc(out, *v);
    }
}

void metrics_render(struct buf *out)
{
    buf_appends(out, "# HELP tandem_http_requests_total HTTP requests answered.\n"
                     "# TYPE tandem_http_requests_total counter\n");
    for (size_t i = 0; i < nreqs; i++) {
        buf_appends(out, "tandem_http_requests_total{route=\"");
        label(out, reqs[i].route);
        buf_appends(out, "\",method=\"");
        label(out, reqs[i].method);
        buf_printf(out, "\",status=\"%d\"} %llu\n", reqs[i].status, reqs[i].count);
    }
    buf_appends(out, "# HELP tandem_http_request_duration_seconds Time from request "
                     "received to answer written.\n"
                     "# TYPE tandem_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i < nlats; i++) {
        for (size_t b = 0; b < NBUCKETS; b++) {
            buf_appends(out, "tandem_http_request_duration_seconds_bucket{route=\"");
            label(out, lats[i].route);
            buf_printf(out, "\",le=\"%g\"} %llu\n", buckets[b], lats[i].bucket[b]);
        }
        buf_appends(out, "tandem_http_request_duration_seconds_bucket{route=\"");
        label(out, lats[i].route);
        buf_printf(out, "\",le=\"+Inf\"} %llu\n", lats[i].count);
        buf_appends(out, "tandem_http_request_duration_seconds_sum{route=\"");
        label(out, lats[i].route);
        buf_printf(out, "\"} %.6f\n", lats[i].sum);
        buf_appends(out, "tandem_http_request_duration_seconds_count{route=\"");
        label(out, lats[i].route);
        buf_printf(out, "\"} %llu\n", lats[i].count);
    }
    buf_printf(out,
               "# HELP tandem_loop_lag_seconds How late the event loop ran a 1 s timer, last "
               "sample.\n# TYPE tandem_loop_lag_seconds gauge\ntandem_loop_lag_seconds %.6f\n"
               "# HELP tandem_loop_lag_max_seconds Largest loop lag seen.\n"
               "# TYPE tandem_loop_lag_max_seconds gauge\ntandem_loop_lag_max_seconds %.6f\n",
               lag_last, lag_max);
    buf_printf(out,
               "# HELP tandem_metrics_series_dropped_total Observations dropped over the "
               "series cap.\n# TYPE tandem_metrics_series_dropped_total counter\n"
               "tandem_metrics_series_dropped_total %llu\n",
               dropped);
    for (size_t i = 0; i < nhists; i++)
        hist_render(out, &hists[i]);
    for (size_t i = 0; i < ngauges; i++) {
        const char *brace = strchr(gauges[i].name, '{');
        size_t base = brace ? (size_t)(brace - gauges[i].name) : strlen(gauges[i].name);
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strncmp(gauges[j].name, gauges[i].name, base) == 0 &&
                (gauges[j].name[base] == '\0' || gauges[j].name[base] == '{'))
                first = false;
        if (first)
            buf_printf(out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)base, gauges[i].name,
                       gauges[i].help, (int)base, gauges[i].name,
                       gauges[i].counter ? "counter" : "gauge");
        buf_printf(out, "%s %.17g\n", gauges[i].name, gauges[i].fn(gauges[i].ud));
    }
}

void metrics_reset(void)
{
    for (size_t i = 0; i < ngauges; i++) {
        free(gauges[i].name);
        free(gauges[i].help);
    }
    ngauges = 0;
    for (size_t i = 0; i < nhists; i++)
        free(hists[i].help);
    memset(hists, 0, sizeof(hists));
    nhists = 0;
    nreqs = 0;
    nlats = 0;
    memset(lats, 0, sizeof(lats));
    lag_last = lag_max = 0;
    dropped = 0;
}
