/* SPDX-License-Identifier: MIT */
/* Unit tests for http/http_multipart: well-formed bodies as browsers and
 * curl send them, binary data, preamble/epilogue, and hostile framing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/http_multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT "multipart/form-data; boundary=XyZ"

static const struct http_multipart_limits lim = {16, 1024};

/* The start of a body: one part header block. */
#define P1 "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"

static int setup(void **state)
{
    *state = arena_new(0);
    return 0;
}

static int teardown(void **state)
{
    arena_free(*state);
    return 0;
}

static int parse(struct arena *a, const char *ct, const char *body, size_t len,
                 struct http_part **p, size_t *n)
{
    return http_multipart_parse(a, ct, body, len, &lim, p, n);
}

#define PARSE(a, ct, lit, p, n) parse(a, ct, lit, sizeof(lit) - 1, p, n)

static void test_basic(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    static const char body[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"title\"\r\n"
        "\r\n"
        "Hello\r\n"
        "--XyZ\r\n"
        "content-disposition: form-data; name=\"upload\"; filename=\"a b.png\"\r\n"
        "Content-Type: image/png\r\n"
        "\r\n"
        "PNGDATA\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=empty\r\n"
        "\r\n"
        "\r\n"
        "--XyZ--\r\n";

    assert_int_equal(PARSE(a, CT, body, &p, &n), TD_OK);
    assert_int_equal(n, 3);
    assert_string_equal(p[0].name, "title");
    assert_null(p[0].filename);
    assert_string_equal(p[0].content_type, "text/plain");
    assert_int_equal(p[0].len, 5);
    assert_memory_equal(p[0].data, "Hello", 5);
    assert_true(p[0].data >= body && p[0].data < body + sizeof(body)); /* not copied */
    assert_string_equal(p[1].name, "upload");
    assert_string_equal(p[1].filename, "a b.png");
    assert_string_equal(p[1].content_type, "image/png");
    assert_int_equal(p[1].len, 7);
    assert_memory_equal(p[1].data, "PNGDATA", 7);
    assert_string_equal(p[2].name, "empty");
    assert_int_equal(p[2].len, 0);
}

static void test_boundary_forms(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    static const char body[] =
        "--a b'()+_,-./:=?\r\n"
        "Content-Disposition: form-data; name=x\r\n\r\n"
        "1\r\n"
        "--a b'()+_,-./:=?--";

    /* Quoted boundary with every allowed special character, no final CRLF. */
    assert_int_equal(PARSE(a, "Multipart/Form-Data; charset=x; boundary=\"a b'()+_,-./:=?\"",
                           body, &p, &n),
                     TD_OK);
    assert_int_equal(n, 1);
    assert_memory_equal(p[0].data, "1", 1);
}

static void test_preamble_epilogue_padding(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    static const char body[] =
        "This is the preamble. --XyZ is not at a line start.\r\n"
        "--XyZNOT a delimiter either\r\n"
        "--XyZ \t\r\n" /* transport padding */
        "Content-Disposition: form-data; name=\"a\"\r\n"
        "Content-Transfer-Encoding: binary\r\n" /* ignored, RFC 7578 §4.7 */
        "\r\n"
        "v\r\n--XyZ-not-quite\r\n" /* Go-style: "--XyZ-" then "n" is a bad delimiter */
        "--XyZ--\r\n";
    static const char body2[] =
        "preamble\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"a\"\r\n\r\n"
        "v\r\n--XyZx still data\r\n"
        "--XyZ--  \r\nEpilogue with --XyZ\r\n--XyZ\r\ngarbage";

    assert_int_equal(PARSE(a, CT, body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, body2, &p, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].len, 20);
    assert_memory_equal(p[0].data, "v\r\n--XyZx still data", 20);
}

static void test_binary(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    static const char body[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f\"; filename=\"bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
        "\r\n\r\n\0\xff\r\n--XY\r\n--XyZ\x01\r\n-\r\n\r\n"
        "\r\n--XyZ--";

    assert_int_equal(PARSE(a, CT, body, &p, &n), TD_OK);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].len, 27);
    assert_memory_equal(p[0].data, "\r\n\r\n\0\xff\r\n--XY\r\n--XyZ\x01\r\n-\r\n\r\n", 27);
    assert_string_equal(p[0].content_type, "application/octet-stream");
}

static void test_filenames(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    static const char body[] =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f1\"; filename=\"../../etc/passwd\"\r\n\r\n"
        "x\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f2\"; filename=\"C:\\Users\\me\\cv.pdf\"\r\n\r\n"
        "x\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f3\"; filename=\"\"\r\n\r\n"
        "\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f4\"; filename=\"dir/\"\r\n\r\n"
        "\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f5\"; filename=\"a\\\"b%22.txt\"\r\n\r\n"
        "\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"f6\"; filename=\"..\\\\..\\\\x\\/y\"\r\n\r\n"
        "\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; filename=\"\xc3\xa9t\xc3\xa9.txt\"; name=\"f7\"\r\n\r\n"
        "\r\n"
        "--XyZ--\r\n";

    assert_int_equal(PARSE(a, CT, body, &p, &n), TD_OK);
    assert_int_equal(n, 7);
    assert_string_equal(p[0].filename, "passwd");
    assert_string_equal(p[1].filename, "cv.pdf");
    assert_string_equal(p[2].filename, "");
    assert_string_equal(p[3].filename, "");
    assert_string_equal(p[4].filename, "a\"b%22.txt");
    assert_string_equal(p[5].filename, "y");
    assert_string_equal(p[6].name, "f7");
    assert_string_equal(p[6].filename, "\xc3\xa9t\xc3\xa9.txt");
}

static void test_bad_content_type(void **state)
{
    struct arena *a = *state;
    struct http_part *p = (void *)1;
    size_t n = 99;
    static const char body[] =
        P1 "v\r\n--XyZ--\r\n";

    assert_int_equal(PARSE(a, "multipart/form-data", body, &p, &n), TD_EINVAL);
    assert_null(p);
    assert_int_equal(n, 0);
    assert_int_equal(PARSE(a, "multipart/form-data; boundary=", body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, "multipart/form-data; boundary=\"\"", body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, "multipart/form-data; boundary=\"XyZ \"", body, &p, &n),
                     TD_EINVAL); /* trailing space */
    assert_int_equal(PARSE(a, "multipart/form-data; boundary=\"a\\\"b\"", body, &p, &n),
                     TD_EINVAL); /* '"' is not a bchar */
    assert_int_equal(PARSE(a, "multipart/mixed; boundary=XyZ", body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, "application/x-www-form-urlencoded", body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, NULL, body, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, "multipart/form-data; boundary=\"XyZ", body, &p, &n), TD_EINVAL);
}

static void test_boundary_lengths(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    char ct[128], body[256];
    int blen;

    for (int len = 70; len <= 71; len++) {
        char b[80];

        memset(b, 'q', (size_t)len);
        b[len] = '\0';
        snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", b);
        blen = snprintf(body, sizeof(body),
                        "--%s\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--%s--", b, b);
        assert_int_equal(parse(a, ct, body, (size_t)blen, &p, &n),
                         len == 70 ? TD_OK : TD_EINVAL);
    }
}

static void test_bad_framing(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;

    /* Empty body and boundary absent from the body. */
    assert_int_equal(parse(a, CT, "", 0, &p, &n), TD_EINVAL);
    assert_int_equal(parse(a, CT, NULL, 0, &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, "just some text\r\n--Other\r\n", &p, &n), TD_EINVAL);
    /* Truncated final delimiter, in several places. */
    assert_int_equal(PARSE(a, CT, P1 "v\r\n--XyZ-",
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, P1 "v\r\n--XyZ",
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, P1 "v\r\n--Xy",
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, P1 "v",
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, P1 "v\r\n--XyZ\r\n",
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, "--XyZ", &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, "--XyZ\r", &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, "--XyZ \r\nxx", &p, &n), TD_EINVAL);
    /* Delimiter line with junk after padding. */
    assert_int_equal(PARSE(a, CT, "--XyZ  junk\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                                  "v\r\n--XyZ--", &p, &n), TD_EINVAL);
    /* Headers without CRLFCRLF. */
    assert_int_equal(PARSE(a, CT, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n", &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, "--XyZ\r\nContent-Disposition: form-data; name=a\r\nv\r\n--XyZ--",
                           &p, &n), TD_EINVAL);
    /* A part whose blank line doubles as the delimiter's CRLF has no body. */
    assert_int_equal(PARSE(a, CT, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                                  "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n"
                                  "w\r\n--XyZ--", &p, &n), TD_OK);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].len, 0);
    assert_string_equal(p[1].name, "b");
    assert_memory_equal(p[1].data, "w", 1);
    assert_int_equal(PARSE(a, CT, "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                                  "--XyZ", &p, &n), TD_EINVAL);
    /* An immediate close delimiter is an empty form. */
    assert_int_equal(PARSE(a, CT, "--XyZ--\r\n", &p, &n), TD_OK);
    assert_int_equal(n, 0);
    assert_null(p);
}

static void test_bad_headers(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;

#define ONE(h) "--XyZ\r\n" h "\r\n\r\nv\r\n--XyZ--"
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a"), &p, &n), TD_OK);
    /* No headers at all / no Content-Disposition. */
    assert_int_equal(PARSE(a, CT, "--XyZ\r\n\r\nv\r\n--XyZ--", &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Type: text/plain"), &p, &n), TD_EINVAL);
    /* Wrong disposition type, missing or malformed name. */
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: attachment; name=a"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data"), &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; filename=x"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=\"a"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=\"\xff\""), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a; "
                                      "filename=\"\xc0\xaf\""), &p, &n),
                     TD_EINVAL);
    /* Duplicates, folding, junk lines, bad names, NUL and bare LF. */
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a\r\n"
                                      "Content-Disposition: form-data; name=b"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data;\r\n name=a"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a\r\njunk"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a\r\nBad Name: x"),
                           &p, &n), TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a\r\n: x"), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=\"a\0b\""), &p, &n),
                     TD_EINVAL);
    assert_int_equal(PARSE(a, CT, ONE("Content-Disposition: form-data; name=a\nX-A: b"), &p, &n),
                     TD_EINVAL);
    /* A later bad part spoils the whole body. */
    assert_int_equal(PARSE(a, CT, P1 "v\r\n"
                                  "--XyZ\r\nX: y\r\n\r\nw\r\n--XyZ--", &p, &n),
                     TD_EINVAL);
#undef ONE
}

static void test_limits(void **state)
{
    struct arena *a = *state;
    struct http_part *p;
    size_t n;
    struct buf_s { char *d; size_t len; } b;
    const char *part = P1 "v\r\n";
    size_t plen = strlen(part);
    struct http_multipart_limits l2 = {3, 40};
    size_t count = 5000;
    char hdr[200];
    int hlen;

    /* max_parts: exactly 16 is fine, 17 is not. */
    b.d = malloc(plen * count + 16);
    for (int want = 16; want <= 17; want++) {
        b.len = 0;
        for (int i = 0; i < want; i++) {
            memcpy(b.d + b.len, part, plen);
            b.len += plen;
        }
        memcpy(b.d + b.len, "--XyZ--", 7);
        b.len += 7;
        assert_int_equal(parse(a, CT, b.d, b.len, &p, &n), want == 16 ? TD_OK : TD_ETOOBIG);
        if (want == 16) {
            assert_int_equal(n, 16);
            assert_string_equal(p[15].name, "a");
        }
    }
    /* Many parts with the default limits (lim NULL: 128). */
    b.len = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(b.d + b.len, part, plen);
        b.len += plen;
    }
    memcpy(b.d + b.len, "--XyZ--", 7);
    b.len += 7;
    assert_int_equal(http_multipart_parse(a, CT, b.d, b.len, NULL, &p, &n), TD_ETOOBIG);
    l2.max_parts = count;
    l2.max_part_header_bytes = 100;
    assert_int_equal(http_multipart_parse(a, CT, b.d, b.len, &l2, &p, &n), TD_OK);
    assert_int_equal(n, count);
    /* max_parts 0 refuses any part but allows an empty form. */
    l2.max_parts = 0;
    assert_int_equal(http_multipart_parse(a, CT, part, plen, &l2, &p, &n), TD_ETOOBIG);
    assert_int_equal(http_multipart_parse(a, CT, "--XyZ--", 7, &l2, &p, &n), TD_OK);
    free(b.d);

    /* Header bytes: the block "Content-Disposition: form-data; name=a" is 38. */
    l2.max_parts = 3;
    hlen = snprintf(hdr, sizeof(hdr), "%s--XyZ--", part);
    l2.max_part_header_bytes = 38;
    assert_int_equal(http_multipart_parse(a, CT, hdr, (size_t)hlen, &l2, &p, &n), TD_OK);
    l2.max_part_header_bytes = 37;
    assert_int_equal(http_multipart_parse(a, CT, hdr, (size_t)hlen, &l2, &p, &n), TD_ETOOBIG);
    /* A header block that never ends: TOOBIG once past the cap, EINVAL if short. */
    hlen = snprintf(hdr, sizeof(hdr), "--XyZ\r\nX-Long: %0100d", 0);
    l2.max_part_header_bytes = 50;
    assert_int_equal(http_multipart_parse(a, CT, hdr, (size_t)hlen, &l2, &p, &n), TD_ETOOBIG);
    l2.max_part_header_bytes = 500;
    assert_int_equal(http_multipart_parse(a, CT, hdr, (size_t)hlen, &l2, &p, &n), TD_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boundary_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preamble_epilogue_padding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filenames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_content_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boundary_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
