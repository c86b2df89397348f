/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for web/mustache.h (mustache(5) and the spec modules it
 * implements). Input layout: NUL bytes split the input into the template
 * followed by partial sources p0, p1, ...; the partial callback serves "p0"
 * to "p9" from those pieces, "self" as the template itself (recursion) and
 * nothing else. Templates that compile are rendered against a fixed small
 * JSON context into a buffer with a 1 MiB ceiling, twice (the second render
 * uses the partial cache and must give the same result and output), and
 * once more into a 32-byte buffer. Checked contracts (__builtin_trap() on
 * violation): documented return codes only, an error message on failed
 * compiles, deterministic output, ceilings respected. */
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "web/mustache.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_OUT (1024 * 1024)
#define FZ_MAX_PARTIALS 10

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static const char fz_context[] =
    "{\"name\":\"Ada\",\"html\":\"<b>&\\\"'</b>\",\"n\":3,\"pi\":3.5,\"zero\":0,"
    "\"t\":true,\"f\":false,\"nil\":null,\"s\":\"\","
    "\"list\":[1,\"two\",{\"name\":\"x\",\"list\":[true]}],\"empty\":[],"
    "\"obj\":{\"a\":{\"b\":\"c\"},\"name\":\"inner\"}}";

struct pieces {
    const char *src[FZ_MAX_PARTIALS + 1]; /* [0] is the template */
    size_t len[FZ_MAX_PARTIALS + 1];
    size_t n;
};

static const char *get_partial(void *ud, const char *name, size_t *len)
{
    const struct pieces *p = ud;

    if (strcmp(name, "self") == 0) {
        *len = p->len[0];
        return p->src[0];
    }
    if (name[0] == 'p' && name[1] >= '0' && name[1] <= '9' && name[2] == '\0') {
        size_t i = (size_t)(name[1] - '0') + 1;

        if (i < p->n) {
            *len = p->len[i];
            return p->src[i];
        }
    }
    return NULL;
}

static json_t *context(void)
{
    static json_t *ctx;

    if (ctx == NULL) {
        ctx = json_loads(fz_context, 0, NULL);
        if (ctx == NULL)
            abort();
    }
    return ctx;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct mustache *t = NULL;
    struct pieces p;
    struct buf out, out2, tiny;
    char *err = NULL;
    size_t pos = 0;
    int rc, rc2;

    log_set_level(LOG_ERR); /* failed partials are logged at warn */
    memset(&p, 0, sizeof(p));
    while (p.n < FZ_MAX_PARTIALS + 1) {
        const char *nul = memchr(s + pos, '\0', size - pos);
        size_t n = nul ? (size_t)(nul - (s + pos)) : size - pos;

        p.src[p.n] = s + pos;
        p.len[p.n] = n;
        p.n++;
        if (nul == NULL)
            break;
        pos += n + 1;
    }

    rc = mustache_compile(p.src[0], p.len[0], &t, &err);
    CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
    if (rc != TD_OK) {
        CHECK(err != NULL);
        free(err);
        mustache_free(t);
        return 0;
    }
    free(err);
    CHECK(t != NULL);

    buf_init(&out, FZ_MAX_OUT);
    buf_init(&out2, FZ_MAX_OUT);
    buf_init(&tiny, 32);
    rc = mustache_render(t, context(), get_partial, &p, &out);
    CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
    CHECK(out.len <= FZ_MAX_OUT);
    rc2 = mustache_render(t, context(), get_partial, &p, &out2);
    CHECK(rc2 == rc);
    if (rc == TD_OK)
        CHECK(out.len == out2.len && (out.len == 0 || memcmp(out.data, out2.data, out.len) == 0));
    rc2 = mustache_render(t, context(), get_partial, &p, &tiny);
    CHECK(rc2 == TD_OK || rc2 == TD_EINVAL || rc2 == TD_ETOOBIG);
    CHECK(tiny.len <= 32);
    if (rc == TD_OK && out.len <= 32) {
        CHECK(rc2 == TD_OK);
        CHECK(tiny.len == out.len && (out.len == 0 || memcmp(tiny.data, out.data, out.len) == 0));
    }
    buf_free(&out);
    buf_free(&out2);
    buf_free(&tiny);
    mustache_free(t);
    /* A NULL context and no partial callback must work too. */
    buf_init(&out, FZ_MAX_OUT);
    rc = mustache_compile(p.src[0], p.len[0], &t, NULL);
    if (rc == TD_OK) {
        rc = mustache_render(t, NULL, NULL, NULL, &out);
        CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
        mustache_free(t);
    }
    buf_free(&out);
    return 0;
}
