/* SPDX-License-Identifier: MIT */
/* Urlencoded forms, percent-coding, header parameters and media types; see
 * http_form.h. Implements WHATWG URL §5.1 (urlencoded parsing, with the
 * stricter error rules listed in the header), RFC 3986 §2.1/§2.3
 * (percent-encoding, unreserved set) and RFC 9110 §5.6.2 (token), §5.6.4
 * (quoted-string), §5.6.6 (parameters) and §8.3.1 (media type). */
#include "http/http_form.h"

#include "core/err.h"
#include "core/utf8.h"

#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* ASCII case-insensitive comparison of n bytes (no locale, no POSIX). */
static bool ieq(const char *x, const char *y, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (lower((unsigned char)x[i]) != lower((unsigned char)y[i]))
            return false;
    }
    return true;
}

/* Decode s[0..len) into a new arena string. plus_space turns '+' into ' '
 * (form rule). Refuses malformed escapes and NUL bytes (raw or decoded).
 * The output is never longer than the input, so the allocation is bounded by
 * the input the caller already holds. */
static int pct_decode(struct arena *a, const char *s, size_t len, bool plus_space, char **out,
                      size_t *out_len)
{
    char *d = arena_alloc(a, len + 1);
    size_t n = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '%') {
            int hi, lo;

            if (len - i < 3)
                return TD_EINVAL; /* truncated, e.g. "%4" */
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return TD_EINVAL; /* e.g. "%zz" */
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == '\0')
            return TD_EINVAL;
        d[n++] = (char)c;
    }
    d[n] = '\0';
    *out = d;
    *out_len = n;
    return TD_OK;
}

/* Parses s[0..len) per WHATWG URL §5.1. Pairs are counted before the item
 * array is allocated, so max_pairs bounds the allocation. On error *out is
 * left empty; arena memory already used is reclaimed with the arena. */
int http_form_parse(struct arena *a, const char *s, size_t len, size_t max_pairs,
                    struct http_kvlist *out)
{
    size_t count = 0, i = 0, n = 0;
    struct http_kv *items;
    int rc;

    out->items = NULL;
    out->len = 0;
    for (size_t k = 0; k < len; k++) {
        /* A pair starts at a non-'&' byte at the start or after a '&'. */
        if (s[k] != '&' && (k == 0 || s[k - 1] == '&'))
            count++;
    }
    if (count == 0)
        return TD_OK;
    if (count > max_pairs)
        return TD_ETOOBIG;
    items = arena_alloc(a, count * sizeof(*items));

    while (i < len) {
        const char *seg = s + i, *amp, *eq;
        size_t seg_len, name_len;
        char *name, *value;
        size_t dlen;

        amp = memchr(seg, '&', len - i);
        seg_len = amp ? (size_t)(amp - seg) : len - i;
        i += seg_len + 1;
        if (seg_len == 0)
            continue; /* WHATWG: empty sequences are skipped */
        eq = memchr(seg, '=', seg_len);
        name_len = eq ? (size_t)(eq - seg) : seg_len;
        rc = pct_decode(a, seg, name_len, true, &name, &dlen);
        if (rc != TD_OK)
            return rc;
        if (!utf8_valid(name, dlen))
            return TD_EINVAL;
        if (eq) {
            rc = pct_decode(a, eq + 1, seg_len - name_len - 1, true, &value, &dlen);
            if (rc != TD_OK)
                return rc;
            if (!utf8_valid(value, dlen))
                return TD_EINVAL;
        } else {
            value = arena_strndup(a, "", 0);
            dlen = 0;
        }
        TD_ASSERT(n < count);
        items[n].name = name;
        items[n].value = value;
        items[n].value_len = dlen;
        n++;
    }
    out->items = items;
    out->len = n;
    return TD_OK;
}

const char *http_kv_get(const struct http_kvlist *l, const char *name)
{
    if (l == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->items[i].name, name) == 0)
            return l->items[i].value;
    }
    return NULL;
}

/* Percent-decodes a path segment or path; '+' is literal (RFC 3986). */
int http_url_decode(struct arena *a, const char *s, size_t len, char **out, size_t *out_len)
{
    size_t n;
    int rc = pct_decode(a, s, len, false, out, &n);

    if (rc != TD_OK) {
        *out = NULL;
        n = 0;
    }
    if (out_len)
        *out_len = n;
    return rc;
}

/* RFC 3986 §2.3 unreserved characters pass; the rest is %XX (uppercase,
 * §2.1). On TD_ETOOBIG the buffer may hold part of the encoding. */
int http_url_encode(struct buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = buf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = buf_append(out, e, 3);
        }
        if (rc != TD_OK)
            return rc;
    }
    return TD_OK;
}

static const char *skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Walks `type/subtype *( OWS ";" OWS [ name "=" value ] )` (RFC 9110
 * §5.6.6; empty parameters are allowed there). The text before the first
 * ';' is not examined, so this also serves Content-Disposition (RFC 6266
 * §4.1 uses the same parameter syntax). Returns the first value whose name
 * matches, or NULL when absent or when the list is malformed before it. */
const char *http__header_param(struct arena *a, const char *value, const char *param,
                               bool lenient)
{
    const char *p;
    size_t plen;

    if (value == NULL || param == NULL)
        return NULL;
    plen = strlen(param);
    p = strchr(value, ';');
    while (p != NULL && *p == ';') {
        const char *name, *v;
        size_t name_len, vlen;
        char *res = NULL;

        p = skip_ows(p + 1);
        if (*p == ';' || *p == '\0')
            continue; /* empty parameter */
        name = p;
        while (is_tchar((unsigned char)*p))
            p++;
        name_len = (size_t)(p - name);
        if (name_len == 0 || *p != '=')
            return NULL;
        p++;
        if (*p == '"') {
            /* quoted-string: count, then copy with quoted-pairs resolved. */
            const char *q = ++p;
            size_t n = 0;

            while (*q != '"') {
                unsigned char c = (unsigned char)*q;

                if (c == '\0')
                    return NULL; /* unterminated */
                if (c == '\\') {
                    unsigned char nx = (unsigned char)q[1];
                    bool pair = lenient ? (nx == '"' || nx == '\\')
                                        : (nx == '\t' || (nx >= 0x20 && nx != 0x7f));
                    if (!lenient && !pair)
                        return NULL; /* bad quoted-pair */
                    q += pair ? 2 : 1;
                    n++;
                    continue;
                }
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return NULL; /* not qdtext */
                q++;
                n++;
            }
            if (name_len == plen && ieq(name, param, plen)) {
                size_t k = 0;

                res = arena_alloc(a, n + 1);
                while (p < q) {
                    if (*p == '\\') {
                        unsigned char nx = (unsigned char)p[1];
                        if (!lenient || nx == '"' || nx == '\\')
                            p++;
                    }
                    res[k++] = *p++;
                }
                res[k] = '\0';
            }
            p = q + 1;
        } else {
            v = p;
            while (is_tchar((unsigned char)*p))
                p++;
            vlen = (size_t)(p - v);
            if (vlen == 0)
                return NULL;
            if (name_len == plen && ieq(name, param, plen))
                res = arena_strndup(a, v, vlen);
        }
        if (res != NULL)
            return res;
        p = skip_ows(p);
        if (*p != ';' && *p != '\0')
            return NULL;
    }
    return NULL;
}

const char *http_header_param(struct arena *a, const char *value, const char *param)
{
    return http__header_param(a, value, param, false);
}

/* Compares the media type before any ';' with type, ignoring case and the
 * optional whitespace around it. */
bool http_media_type_is(const char *value, const char *type)
{
    const char *p, *end;
    size_t tlen;

    if (value == NULL || type == NULL)
        return false;
    p = skip_ows(value);
    end = strchr(p, ';');
    if (end == NULL)
        end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    tlen = strlen(type);
    return (size_t)(end - p) == tlen && ieq(p, type, tlen);
}
