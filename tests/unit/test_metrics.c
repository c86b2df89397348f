/* SPDX-License-Identifier: MIT */
/* Unit tests for core/metrics: counters by label set, histogram buckets,
 * gauges, and the exposition format's escaping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/metrics.h"

static double forty_two(void *ud)
{
    (void)ud;
    return 42;
}

static void test_counts_and_histogram(void **state)
{
    struct buf b;
    (void)state;
    metrics_reset();
    metrics_http_observe("/u/:name", "GET", 200, 0.0007);
    metrics_http_observe("/u/:name", "GET", 200, 0.02);
    metrics_http_observe("/u/:name", "GET", 404, 0.3);
    metrics_http_observe(NULL, "POST", 400, 0);
    metrics_gauge_add("tandem_open_connections", "Open conns.", forty_two, NULL);
    buf_init(&b, 0);
    metrics_render(&b);
    assert_non_null(strstr(b.data, "tandem_http_requests_total{route=\"/u/:name\",method=\"GET\","
                                   "status=\"200\"} 2\n"));
    assert_non_null(strstr(b.data, "status=\"404\"} 1\n"));
    assert_non_null(strstr(b.data, "{route=\"unmatched\",method=\"POST\",status=\"400\"} 1"));
    /* 0.0007 and 0.02 are <= 0.025; 0.3 is not. */
    assert_non_null(strstr(b.data, "_bucket{route=\"/u/:name\",le=\"0.025\"} 2\n"));
    assert_non_null(strstr(b.data, "_bucket{route=\"/u/:name\",le=\"0.001\"} 1\n"));
    assert_non_null(strstr(b.data, "_bucket{route=\"/u/:name\",le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(b.data, "_count{route=\"/u/:name\"} 3\n"));
    assert_non_null(strstr(b.data, "# TYPE tandem_open_connections gauge\n"
                                   "tandem_open_connections 42\n"));
    buf_free(&b);
    metrics_reset();
}

static void test_label_escaping_and_cap(void **state)
{
    struct buf b;
    char route[32];
    (void)state;
    metrics_reset();
    metrics_http_observe("/a\"b\\c\n", "GET", 200, 0.001);
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(route, sizeof(route), "/r%d", i);
        metrics_http_observe(route, "GET", 200, 0.001);
    }
    buf_init(&b, 0);
    metrics_render(&b);
    assert_non_null(strstr(b.data, "route=\"/a\\\"b\\\\c\\n\""));
    assert_non_null(strstr(b.data, "tandem_metrics_series_dropped_total 11\n"));
    buf_free(&b);
    metrics_reset();
}

static void test_named_histogram(void **state)
{
    struct buf b;
    char name[32];
    (void)state;
    metrics_reset();
    metrics_observe("tandem_x_seconds", "X time.", 0.002);
    metrics_observe("tandem_x_seconds", "X time.", 0.4);
    for (int i = 0; i < METRICS_MAX_HISTOGRAMS + 2; i++) {
        snprintf(name, sizeof(name), "tandem_h%d_seconds", i);
        metrics_observe(name, "H.", 0.001);
    }
    buf_init(&b, 0);
    metrics_render(&b);
    assert_non_null(strstr(b.data, "# HELP tandem_x_seconds X time.\n"
                                   "# TYPE tandem_x_seconds histogram\n"));
    /* 0.002 is <= 0.0025; 0.4 only from 0.5 up. */
    assert_non_null(strstr(b.data, "tandem_x_seconds_bucket{le=\"0.001\"} 0\n"));
    assert_non_null(strstr(b.data, "tandem_x_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(b.data, "tandem_x_seconds_bucket{le=\"0.5\"} 2\n"));
    assert_non_null(strstr(b.data, "tandem_x_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(b.data, "tandem_x_seconds_sum 0.402000\ntandem_x_seconds_count 2\n"));
    /* one name took the first slot: the last three do not fit */
    assert_null(strstr(b.data, "tandem_h15_seconds"));
    assert_non_null(strstr(b.data, "tandem_metrics_series_dropped_total 3\n"));
    buf_free(&b);
    metrics_reset();
    buf_init(&b, 0);
    metrics_render(&b);
    assert_null(strstr(b.data, "tandem_x_seconds"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_and_histogram),
        cmocka_unit_test(test_label_escaping_and_cap),
        cmocka_unit_test(test_named_histogram),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
