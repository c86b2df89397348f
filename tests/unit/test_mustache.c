/* SPDX-License-Identifier: MIT */
/* Unit tests for web/mustache: every case of the official Mustache spec files
 * found in $MUSTACHE_SPEC_DIR (default ../shared/data/mustache-spec; lambda
 * files are skipped), plus hand tests for default escaping, number output,
 * compile errors with line numbers, the nesting limit against self-recursive
 * partials and parents, the output ceiling, the per-render work limit and the
 * partial cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "web/mustache.h"

/* Partials for the tests: a json object name -> source string. */
static const char *obj_partial(void *ud, const char *name, size_t *len)
{
    json_t *v = json_object_get((json_t *)ud, name);

    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Compile src, render it with data (a JSON text) and partials (a JSON object
 * text or NULL); returns the render code and the output in *res (caller
 * frees). */
static int render_str(const char *src, const char *data, const char *partials, size_t max,
                      char **res)
{
    struct mustache *t = NULL;
    json_t *d = json_loads(data, JSON_DECODE_ANY, NULL);
    json_t *p = partials ? json_loads(partials, 0, NULL) : json_object();
    char *err = NULL;
    struct buf b;
    int rc;

    assert_non_null(d);
    assert_non_null(p);
    buf_init(&b, max);
    rc = mustache_compile(src, strlen(src), &t, &err);
    if (rc != TD_OK)
        fail_msg("compile '%s': %s", src, err);
    rc = mustache_render(t, d, obj_partial, p, &b);
    *res = b.data ? buf_steal(&b, NULL) : strdup("");
    buf_free(&b);
    mustache_free(t);
    json_decref(d);
    json_decref(p);
    return rc;
}

static void expect(const char *src, const char *data, const char *partials, const char *want)
{
    char *got = NULL;

    assert_int_equal(render_str(src, data, partials, 0, &got), TD_OK);
    assert_string_equal(got, want);
    free(got);
}

/* Run one spec file; returns the number of cases, counts failures. */
static size_t run_spec_file(const char *path, size_t *failed)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_t *tests, *tc;
    size_t i, n = 0;

    if (root == NULL)
        fail_msg("%s: %s", path, jerr.text);
    tests = json_object_get(root, "tests");
    assert_true(json_is_array(tests));
    json_array_foreach(tests, i, tc) {
        const char *name = json_string_value(json_object_get(tc, "name"));
        json_t *tmpl = json_object_get(tc, "template");
        const char *want = json_string_value(json_object_get(tc, "expected"));
        json_t *partials = json_object_get(tc, "partials");
        json_t *empty = json_object();
        struct mustache *t = NULL;
        char *err = NULL;
        struct buf b;
        int rc;

        n++;
        buf_init(&b, 1 << 20);
        rc = mustache_compile(json_string_value(tmpl), json_string_length(tmpl), &t, &err);
        if (rc == TD_OK)
            rc = mustache_render(t, json_object_get(tc, "data"), obj_partial,
                                 partials ? partials : empty, &b);
        if (rc != TD_OK || strcmp(b.data ? b.data : "", want) != 0) {
            (*failed)++;
            fprintf(stderr, "FAIL %s: %s (rc=%d%s%s)\n  want: ", path, name, rc,
                    err ? " " : "", err ? err : "");
            json_dumpf(json_object_get(tc, "expected"), stderr, JSON_ENCODE_ANY);
            fprintf(stderr, "\n  got:  ");
            json_t *g = json_stringn(b.data ? b.data : "", b.len);
            json_dumpf(g, stderr, JSON_ENCODE_ANY);
            json_decref(g);
            fprintf(stderr, "\n");
        }
        free(err);
        buf_free(&b);
        mustache_free(t);
        json_decref(empty);
    }
    json_decref(root);
    return n;
}

static void test_spec(void **state)
{
    const char *dir = getenv("MUSTACHE_SPEC_DIR");
    size_t files = 0, cases = 0, failed = 0;
    struct dirent *de;
    DIR *d;

    (void)state;
    if (dir == NULL || dir[0] == '\0')
        dir = "../shared/data/mustache-spec";
    d = opendir(dir);
    if (d == NULL)
        fail_msg("cannot open spec dir %s (set MUSTACHE_SPEC_DIR)", dir);
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        char path[4096];

        if (nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        if (strncmp(de->d_name, "~lambdas", 8) == 0)
            continue; /* lambdas are not supported */
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cases += run_spec_file(path, &failed);
        files++;
    }
    closedir(d);
    fprintf(stderr, "mustache spec: %zu files, %zu cases, %zu failed\n", files, cases, failed);
    assert_true(files >= 7);
    assert_true(cases >= 150);
    assert_int_equal(failed, 0);
}

static void test_escaping(void **state)
{
    (void)state;
    expect("{{x}}|{{{x}}}|{{& x}}", "{\"x\": \"<a href=\\\"'&'\\\">\"}", NULL,
           "&lt;a href=&quot;&#39;&amp;&#39;&quot;&gt;|<a href=\"'&'\">|<a href=\"'&'\">");
    /* data is never re-parsed as a template */
    expect("{{x}}", "{\"x\": \"{{y}}\", \"y\": \"no\"}", NULL, "{{y}}");
}

static void test_values(void **state)
{
    (void)state;
    expect("{{i}} {{r}} {{h}} {{n}} {{t}} {{f}} {{z}} {{o}} {{a}}",
           "{\"i\": -42, \"r\": 0.1, \"h\": 1e300, \"n\": null, \"t\": true, \"f\": false,"
           " \"z\": 2.5, \"o\": {\"k\": 1}, \"a\": [1]}",
           NULL, "-42 0.1 1e+300  true false 2.5  ");
    /* falsey: missing, null, false, [], "" */
    expect("{{#s}}A{{/s}}{{^s}}B{{/s}}{{#e}}C{{/e}}{{^e}}D{{/e}}{{#z}}E{{/z}}",
           "{\"s\": \"\", \"e\": [], \"z\": 0}", NULL, "BDE");
    /* top-level non-object data and a NULL context */
    expect("[{{.}}]", "\"x&y\"", NULL, "[x&amp;y]");
    {
        struct mustache *t = NULL;
        struct buf b;

        buf_init(&b, 0);
        assert_int_equal(mustache_compile("a{{x}}b{{#y}}c{{/y}}", 20, &t, NULL), TD_OK);
        assert_int_equal(mustache_render(t, NULL, NULL, NULL, &b), TD_OK);
        assert_string_equal(b.data, "ab");
        buf_free(&b);
        mustache_free(t);
    }
}

static void expect_compile_error(const char *src, const char *msg)
{
    struct mustache *t = (struct mustache *)1;
    char *err = NULL;

    assert_int_equal(mustache_compile(src, strlen(src), &t, &err), TD_EINVAL);
    assert_null(t);
    assert_non_null(err);
    assert_string_equal(err, msg);
    free(err);
}

static void test_compile_errors(void **state)
{
    char deep[MUSTACHE_MAX_DEPTH * 12 + 64];
    struct mustache *t0 = NULL;
    char *e0 = NULL;
    struct buf b;

    (void)state;
    expect_compile_error("a\nb\n{{#items}}x\n", "line 3: unclosed section 'items'");
    expect_compile_error("a\n{{name", "line 2: unclosed tag");
    expect_compile_error("{{{name}}", "line 1: unclosed tag");
    expect_compile_error("x\n\n{{/a}}", "line 3: unexpected closing tag 'a'");
    expect_compile_error("{{#a}}\n{{/b}}", "line 2: closing tag 'b' does not match 'a'");
    expect_compile_error("{{  }}", "line 1: empty tag name");
    expect_compile_error("{{= | =}}", "line 1: invalid set-delimiter tag");
    expect_compile_error("{{=a b c=}}", "line 1: invalid set-delimiter tag");
    expect_compile_error("{{=<% %>=}}\n<%x}}", "line 2: unclosed tag");
    /* a comment spanning lines moves the line count on */
    expect_compile_error("{{!\n\n}}{{#a}}", "line 3: unclosed section 'a'");
    /* long names are cut in messages */
    buf_init(&b, 0);
    buf_appends(&b, "{{#");
    for (int i = 0; i < 100; i++)
        buf_putc(&b, 'n');
    buf_appends(&b, "}}");
    assert_int_equal(mustache_compile(b.data, b.len, &t0, &e0), TD_EINVAL);
    assert_int_equal(strlen(e0), strlen("line 1: unclosed section ''") + 64);
    free(e0);
    buf_free(&b);
    /* err may be NULL */
    {
        struct mustache *t = NULL;
        assert_int_equal(mustache_compile("{{#a}}", 6, &t, NULL), TD_EINVAL);
        assert_null(t);
    }
    /* nesting deeper than the limit is refused at compile time */
    buf_init(&b, 0);
    for (int i = 0; i <= MUSTACHE_MAX_DEPTH; i++)
        buf_appends(&b, "{{#a}}");
    snprintf(deep, sizeof(deep), "line 1: sections nested deeper than %d", MUSTACHE_MAX_DEPTH);
    expect_compile_error(b.data, deep);
    buf_free(&b);
}

static void test_depth_limit(void **state)
{
    char *got = NULL;

    (void)state;
    /* a self-recursive partial stops with TD_EINVAL instead of overflowing the stack */
    assert_int_equal(render_str("{{>r}}", "{}", "{\"r\": \"x{{>r}}\"}", 0, &got), TD_EINVAL);
    assert_int_equal(strspn(got, "x"), MUSTACHE_MAX_DEPTH);
    free(got);
    /* the same through indentation and sections */
    assert_int_equal(render_str("  {{>r}}\n", "{\"a\": [1]}", "{\"r\": \"{{#a}}\\n {{>r}}\\n{{/a}}\"}",
                                0, &got),
                     TD_EINVAL);
    free(got);
    /* and through inheritance */
    assert_int_equal(render_str("{{<p}}{{/p}}", "{}", "{\"p\": \"{{<p}}{{$b}}x{{/b}}{{/p}}\"}", 0,
                                &got),
                     TD_EINVAL);
    free(got);
    /* recursion that ends is fine */
    expect("{{>n}}", "{\"c\": {\"v\": 1, \"c\": {\"v\": 2, \"c\": {\"v\": 3, \"c\": false}}}}",
           "{\"n\": \"{{#c}}{{v}}{{>n}}{{/c}}\"}", "123");
}

static void test_output_ceiling(void **state)
{
    char *got = NULL;

    (void)state;
    assert_int_equal(render_str("{{#l}}{{.}},{{/l}}", "{\"l\": [\"aaaa\", \"bbbb\", \"cccc\"]}", NULL,
                                10, &got),
                     TD_ETOOBIG);
    assert_true(strlen(got) <= 10);
    free(got);
    assert_int_equal(render_str("{{#l}}{{.}},{{/l}}", "{\"l\": [\"aaaa\", \"bbbb\"]}", NULL, 10, &got),
                     TD_OK);
    assert_string_equal(got, "aaaa,bbbb,");
    free(got);
    /* escaping can push past the ceiling as well */
    assert_int_equal(render_str("{{x}}", "{\"x\": \"<<<\"}", NULL, 8, &got), TD_ETOOBIG);
    free(got);
}

static void test_step_limit(void **state)
{
    json_t *d = json_object(), *l = json_array();
    struct mustache *t = NULL;
    const char *src = "{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}";
    struct buf b;

    (void)state;
    for (int i = 0; i < 100; i++)
        json_array_append_new(l, json_integer(i));
    json_object_set_new(d, "l", l);
    assert_int_equal(mustache_compile(src, strlen(src), &t, NULL), TD_OK);
    buf_init(&b, 0);
    /* 100^4 iterations that print nothing stop at MUSTACHE_MAX_STEPS */
    assert_int_equal(mustache_render(t, d, NULL, NULL, &b), TD_ETOOBIG);
    buf_free(&b);
    mustache_free(t);
    json_decref(d);
}

static void test_partial_errors_and_cache(void **state)
{
    json_t *parts = json_pack("{s:s}", "p", "<{{x}}>");
    json_t *d = json_pack("{s:i}", "x", 7);
    struct mustache *t = NULL;
    const char *src = "{{>p}}{{>missing}}{{>p}}";
    struct buf b;

    (void)state;
    assert_int_equal(mustache_compile(src, strlen(src), &t, NULL), TD_OK);
    buf_init(&b, 0);
    assert_int_equal(mustache_render(t, d, obj_partial, parts, &b), TD_OK);
    assert_string_equal(b.data, "<7><7>");
    /* compiled once, rendered again from the cache */
    buf_reset(&b);
    assert_int_equal(mustache_render(t, d, obj_partial, parts, &b), TD_OK);
    assert_string_equal(b.data, "<7><7>");
    /* a changed source is recompiled */
    json_object_set_new(parts, "p", json_string("[{{x}}]"));
    buf_reset(&b);
    assert_int_equal(mustache_render(t, d, obj_partial, parts, &b), TD_OK);
    assert_string_equal(b.data, "[7][7]");
    /* a partial that does not compile */
    json_object_set_new(parts, "p", json_string("{{#x}}"));
    buf_reset(&b);
    assert_int_equal(mustache_render(t, d, obj_partial, parts, &b), TD_EINVAL);
    /* no partial callback: partials render as nothing */
    buf_reset(&b);
    assert_int_equal(mustache_render(t, d, NULL, NULL, &b), TD_OK);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    mustache_free(t);
    mustache_free(NULL);
    json_decref(parts);
    json_decref(d);
}

static void test_inheritance_layout(void **state)
{
    (void)state;
    /* the shape the web layer uses: a page extending a layout. Per the spec a
     * `{{$b}}{{/b}}` pair on one line keeps its newline, so a layout puts the
     * open and close tags of a multi-line block on lines of their own. */
    expect("{{<layout}}\n"
           "{{$title}}Home{{/title}}\n"
           "{{$body}}\n"
           "  <p>{{msg}}</p>\n"
           "{{/body}}\n"
           "{{/layout}}\n",
           "{\"msg\": \"hi & bye\"}",
           "{\"layout\": \"<html>\\n<title>{{$title}}Tandem{{/title}}</title>\\n<body>\\n"
           "  {{$body}}\\n  {{/body}}\\n</body>\\n</html>\\n\"}",
           "<html>\n<title>Home</title>\n<body>\n  <p>hi &amp; bye</p>\n</body>\n</html>\n");
    /* hostile bytes: NULs and stray delimiters do not upset the parser */
    {
        struct mustache *t = NULL;
        static const char src[] = "a\0b}}{{=\0 \0=}}c\0x\0d";
        struct buf b;

        assert_int_equal(mustache_compile(src, sizeof(src) - 1, &t, NULL), TD_OK);
        buf_init(&b, 0);
        assert_int_equal(mustache_render(t, NULL, NULL, NULL, &b), TD_OK);
        assert_int_equal(b.len, 7);
        assert_memory_equal(b.data, "a\0b}}cd", 7);
        buf_free(&b);
        mustache_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_output_ceiling),
        cmocka_unit_test(test_step_limit),
        cmocka_unit_test(test_partial_errors_and_cache),
        cmocka_unit_test(test_inheritance_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
