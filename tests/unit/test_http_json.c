/* SPDX-License-Identifier: MIT */
/* Unit tests for http/http_json: valid values, depth limit before parsing,
 * duplicate keys, invalid UTF-8, error positions, media type check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "http/http_json.h"

static int parse(struct arena *a, const char *s, json_t **out, const char **why)
{
    return http_json_parse(a, s, strlen(s), 4, out, why);
}

static void test_valid(void **state)
{
    struct arena *a = arena_new(0);
    json_t *j = NULL;
    const char *why = NULL;
    (void)state;
    assert_int_equal(parse(a, "{\"status\":\"héllo\",\"n\":[1,2,{\"x\":null}]}", &j, &why), TD_OK);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "héllo");
    json_decref(j);
    assert_int_equal(parse(a, "42", &j, &why), TD_OK); /* any value at the top */
    json_decref(j);
    /* Brackets inside strings do not count as nesting. */
    assert_int_equal(parse(a, "[\"[[[[[[[[[[\\\"{{{{{{{{\"]", &j, &why), TD_OK);
    json_decref(j);
    arena_free(a);
}

static void test_hostile(void **state)
{
    struct arena *a = arena_new(0);
    json_t *j = NULL;
    const char *why = NULL;
    char deep[100001];
    (void)state;
    assert_int_equal(parse(a, "[[[[[1]]]]]", &j, &why), TD_ETOOBIG);
    assert_null(j);
    assert_non_null(strstr(why, "deeper than 4"));
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    assert_int_equal(parse(a, deep, &j, &why), TD_ETOOBIG);
    assert_int_equal(parse(a, "{\"a\":1,\"a\":2}", &j, &why), TD_EINVAL);
    assert_non_null(strstr(why, "duplicate"));
    assert_int_equal(parse(a, "{\"a\":\xff}", &j, &why), TD_EINVAL);
    assert_string_equal(why, "the body is not valid UTF-8");
    assert_int_equal(parse(a, "{\n\"a\": tru}", &j, &why), TD_EINVAL);
    assert_non_null(strstr(why, "line 2"));
    assert_int_equal(parse(a, "", &j, &why), TD_EINVAL);
    assert_int_equal(parse(a, "[1] [2]", &j, &why), TD_EINVAL);
    arena_free(a);
}

static void test_media_type(void **state)
{
    struct arena *a = arena_new(0);
    struct http_header h[1] = {{"Content-Type", "application/json; charset=utf-8"}};
    struct http_req r;
    json_t *j = NULL;
    const char *why = NULL;
    (void)state;
    memset(&r, 0, sizeof(r));
    r.arena = a;
    r.headers = h;
    r.nheaders = 1;
    r.body = "{\"ok\":true}";
    r.body_len = strlen(r.body);
    assert_int_equal(http_req_json(&r, &j, &why), TD_OK);
    assert_true(json_is_true(json_object_get(j, "ok")));
    json_decref(j);
    h[0].value = "text/plain";
    assert_int_equal(http_req_json(&r, &j, &why), TD_EPROTO);
    r.nheaders = 0;
    assert_int_equal(http_req_json(&r, &j, &why), TD_EPROTO);
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_media_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
