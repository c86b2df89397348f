/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for http/http_cookie.h: the Cookie request header parser
 * (RFC 6265 §5.4) on the whole input, and the Set-Cookie writer (§4.1.1,
 * 6265bis prefixes and SameSite) with a name, value, path and SameSite taken
 * from the input. Input layout for the writer: byte 0 holds option flags,
 * then "name\nvalue\npath\nsamesite". Checked contracts (__builtin_trap() on
 * violation): parsed names are non-empty tokens, values hold no controls and
 * value_len is their length; a refused Set-Cookie leaves the buffer
 * untouched; an accepted one parses back, as a Cookie header, to the same
 * name and value, and its attributes match the options. */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http_cookie.h"

#include <stdint.h>
#include <string.h>

#define FZ_MAX_COOKIES 32
#define FZ_MAX_OUT 4096

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static void check_list(const struct http_kvlist *l)
{
    CHECK(l->len <= FZ_MAX_COOKIES);
    CHECK((l->len == 0) == (l->items == NULL));
    for (size_t i = 0; i < l->len; i++) {
        const struct http_kv *kv = &l->items[i];

        CHECK(kv->name[0] != '\0');
        CHECK(strpbrk(kv->name, "=; \t\"(),/:<>?@[\\]{}") == NULL);
        CHECK(strlen(kv->value) == kv->value_len);
        for (size_t k = 0; k < kv->value_len; k++) {
            unsigned char c = (unsigned char)kv->value[k];

            CHECK(c >= 0x20 && c != 0x7f && c != ';');
        }
    }
}

/* Next '\n'-separated field of data[*pos..size) as an arena C string
 * (an embedded NUL ends it early, as for any C caller). */
static char *next_field(struct arena *a, const uint8_t *data, size_t size, size_t *pos)
{
    const char *s = (const char *)data + *pos;
    size_t left = size - *pos;
    const char *nl = memchr(s, '\n', left);
    size_t n = nl ? (size_t)(nl - s) : left;

    *pos += nl ? n + 1 : n;
    return arena_strndup(a, s, n);
}

static void fuzz_format(struct arena *a, const uint8_t *data, size_t size)
{
    static const long ages[] = {-1, 0, 3600, 2147483647L};
    struct http_cookie_opts o;
    struct http_kvlist l;
    const char *name, *value, *path, *ss;
    struct buf b;
    size_t pos = 1;
    uint8_t flags;
    int rc;

    if (size == 0)
        return;
    flags = data[0];
    name = next_field(a, data, size, &pos);
    value = next_field(a, data, size, &pos);
    path = next_field(a, data, size, &pos);
    ss = next_field(a, data, size, &pos);
    memset(&o, 0, sizeof(o));
    o.http_only = flags & 1;
    o.secure = flags & 2;
    o.max_age = ages[(flags >> 2) & 3];
    o.path = (flags & 16) ? NULL : path;
    o.same_site = (flags & 32) ? NULL : ss;

    buf_init(&b, (flags & 64) ? 24 : FZ_MAX_OUT);
    CHECK(buf_appends(&b, "x") == TD_OK);
    rc = http_cookie_format(&b, name, value, (flags & 128) ? NULL : &o);
    CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
    if (rc != TD_OK) {
        CHECK(b.len == 1 && strcmp(b.data, "x") == 0);
        buf_free(&b);
        return;
    }
    /* "x" + "name=value; Path=...": the first pair must parse back unchanged. */
    CHECK(http_cookie_parse(a, b.data + 1, b.len - 1, 64, &l) == TD_OK);
    CHECK(l.len >= 1);
    CHECK(strcmp(l.items[0].name, name) == 0);
    CHECK(strcmp(l.items[0].value, value) == 0);
    CHECK(strlen(b.data) == b.len);
    if (!(flags & 128)) {
        CHECK((strstr(b.data, "; HttpOnly") != NULL) == o.http_only);
        CHECK((strstr(b.data, "; Secure") != NULL) == o.secure);
        CHECK((strstr(b.data, "; Max-Age=") != NULL) == (o.max_age >= 0));
        CHECK((strstr(b.data, "; SameSite=") != NULL) == (o.same_site != NULL));
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena *a = arena_new(0);
    struct http_kvlist l;
    int rc;

    rc = http_cookie_parse(a, (const char *)data, size, FZ_MAX_COOKIES, &l);
    CHECK(rc == TD_OK || rc == TD_ETOOBIG);
    if (rc == TD_OK)
        check_list(&l);
    else
        CHECK(l.len == 0 && l.items == NULL);
    fuzz_format(a, data, size);
    arena_free(a);
    return 0;
}
