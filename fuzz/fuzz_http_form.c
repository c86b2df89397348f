/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for the small HTTP text parsers of http/http_form.h:
 * urlencoded forms (WHATWG URL Standard §5.1), percent-decoding (RFC 3986
 * §2.1), header parameters (RFC 9110 §5.6.6) and media types (RFC 9110
 * §8.3.1). Besides "no crash, no leak" it checks the documented contracts:
 * every parsed name and value is valid UTF-8 without NUL and value_len is its
 * length, and percent-encoding a parse result and parsing it again gives the
 * same result (a form round-trips through http_url_encode). A violation
 * calls __builtin_trap(). */
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "http/http_form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_PAIRS 64
#define FZ_MAX_OUT (1024 * 1024)

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static void check_list(const struct http_kvlist *l)
{
    CHECK(l->len <= FZ_MAX_PAIRS);
    CHECK((l->len == 0) == (l->items == NULL));
    for (size_t i = 0; i < l->len; i++) {
        const struct http_kv *kv = &l->items[i];

        CHECK(kv->name != NULL && kv->value != NULL);
        CHECK(strlen(kv->value) == kv->value_len);
        CHECK(utf8_valid(kv->name, strlen(kv->name)));
        CHECK(utf8_valid(kv->value, kv->value_len));
    }
    if (l->len > 0)
        CHECK(http_kv_get(l, l->items[0].name) == l->items[0].value);
}

/* parse(encode(l)) must equal l. */
static void check_form_roundtrip(struct arena *a, const struct http_kvlist *l)
{
    struct http_kvlist again;
    struct buf b;

    buf_init(&b, FZ_MAX_OUT);
    for (size_t i = 0; i < l->len; i++) {
        if (i > 0)
            CHECK(buf_putc(&b, '&') == TD_OK);
        CHECK(http_url_encode(&b, l->items[i].name, strlen(l->items[i].name)) == TD_OK);
        CHECK(buf_putc(&b, '=') == TD_OK);
        CHECK(http_url_encode(&b, l->items[i].value, l->items[i].value_len) == TD_OK);
    }
    CHECK(http_form_parse(a, b.data ? b.data : "", b.len, FZ_MAX_PAIRS, &again) == TD_OK);
    CHECK(again.len == l->len);
    for (size_t i = 0; i < l->len; i++) {
        const struct http_kv *x = &l->items[i], *y = &again.items[i];

        CHECK(strcmp(x->name, y->name) == 0);
        CHECK(x->value_len == y->value_len && memcmp(x->value, y->value, x->value_len) == 0);
    }
    buf_free(&b);
}

static void fuzz_url_decode(struct arena *a, const char *s, size_t len)
{
    char *dec = NULL, *again = NULL;
    size_t dec_len = 0, again_len = 0;
    struct buf b;

    if (http_url_decode(a, s, len, &dec, &dec_len) != TD_OK)
        return;
    CHECK(dec != NULL && dec_len <= len && strlen(dec) == dec_len);
    buf_init(&b, FZ_MAX_OUT);
    CHECK(http_url_encode(&b, dec, dec_len) == TD_OK);
    CHECK(http_url_decode(a, b.data ? b.data : "", b.len, &again, &again_len) == TD_OK);
    CHECK(again_len == dec_len && memcmp(again, dec, dec_len) == 0);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const params[] = {"boundary", "charset", "name", "filename", "q"};
    static const char *const types[] = {"multipart/form-data", "application/x-www-form-urlencoded",
                                        "text/plain", "application/json"};
    struct arena *a = arena_new(0);
    const char *s = (const char *)data;
    struct http_kvlist l;
    char *str, *nl;
    int rc;

    rc = http_form_parse(a, s, size, FZ_MAX_PAIRS, &l);
    CHECK(rc == TD_OK || rc == TD_EINVAL || rc == TD_ETOOBIG);
    if (rc == TD_OK) {
        check_list(&l);
        check_form_roundtrip(a, &l);
    }
    fuzz_url_decode(a, s, size);

    /* Header values are C strings: the input up to its first NUL. The first
     * line may also name a parameter to look up in the rest. */
    str = arena_strndup(a, s, size);
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const char *v = http_header_param(a, str, params[i]);

        if (v != NULL)
            CHECK(strlen(v) <= strlen(str));
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        (void)http_media_type_is(str, types[i]);
    nl = strchr(str, '\n');
    if (nl != NULL) {
        *nl = '\0';
        (void)http_header_param(a, nl + 1, str);
        (void)http_media_type_is(nl + 1, str);
        CHECK(!http_media_type_is(NULL, str));
    }
    arena_free(a);
    return 0;
}
