/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for http/http_multipart.h (RFC 7578 multipart/form-data,
 * RFC 2046 §5.1.1 framing). Input layout: the first line (up to '\n', a
 * trailing '\r' dropped) is the Content-Type header value, the rest is the
 * body. The body is copied into a buffer of exactly its size so reads past
 * it are caught. Small limits are used so the limit paths are reached.
 * Checked contracts (__builtin_trap() on violation): on success every part's
 * data lies inside the body, names are UTF-8, filenames hold no path
 * separator, content types are set; on error the outputs are NULL and 0. */
#include "core/arena.h"
#include "core/err.h"
#include "core/utf8.h"
#include "http/http_multipart.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static void run(struct arena *a, const char *ct, const char *body, size_t len,
                const struct http_multipart_limits *lim)
{
    struct http_part *parts = (struct http_part *)1;
    size_t nparts = 99999;
    size_t max_parts = lim ? lim->max_parts : HTTP_MULTIPART_MAX_PARTS;
    int rc;

    rc = http_multipart_parse(a, ct, body, len, lim, &parts, &nparts);
    CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
    if (rc != TD_OK) {
        CHECK(parts == NULL && nparts == 0);
        return;
    }
    CHECK(nparts <= max_parts);
    CHECK((nparts == 0) == (parts == NULL));
    for (size_t i = 0; i < nparts; i++) {
        const struct http_part *p = &parts[i];

        CHECK(p->name != NULL && utf8_valid(p->name, strlen(p->name)));
        CHECK(p->content_type != NULL);
        if (p->filename != NULL) {
            CHECK(utf8_valid(p->filename, strlen(p->filename)));
            CHECK(strchr(p->filename, '/') == NULL && strchr(p->filename, '\\') == NULL);
        }
        CHECK(p->len <= len);
        if (p->len > 0)
            CHECK(p->data >= body && p->data + p->len <= body + len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct http_multipart_limits small = {4, 256};
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - s) : size;
    size_t body_len = nl ? size - ct_len - 1 : 0;
    struct arena *a = arena_new(0);
    char *ct, *body;

    ct = arena_strndup(a, s, ct_len > 0 && s[ct_len - 1] == '\r' ? ct_len - 1 : ct_len);
    body = malloc(body_len ? body_len : 1);
    if (body == NULL)
        abort();
    if (body_len > 0)
        memcpy(body, nl + 1, body_len);
    run(a, ct, body, body_len, NULL);
    run(a, ct, body, body_len, &small);
    free(body);
    arena_free(a);
    return 0;
}
