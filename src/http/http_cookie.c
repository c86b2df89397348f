/* SPDX-License-Identifier: MIT */
/* Cookie header parsing and Set-Cookie formatting; see http_cookie.h.
 * Implements RFC 6265 §4.1.1 (Set-Cookie syntax: token names, cookie-octet
 * values, path-value), §4.2.1 and §5.4 (Cookie header), plus the SameSite
 * attribute and the __Secure-/__Host- name prefixes of RFC 6265bis
 * (draft-ietf-httpbis-rfc6265bis §4.1.3, §5.6.7). Deviation: the parser
 * skips nameless pairs ("foo" without '=') that 6265bis would keep with an
 * empty name, since no server-side reader can address them. */
#include "http/http_cookie.h"

#include "core/err.h"

#include <string.h>

/* RFC 9110 §5.6.2 tchar (RFC 6265 §4.1.1 refers to the same token rule). */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 6265 §4.1.1: cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
static bool is_cookie_octet(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
           (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

static bool is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool ieq(const char *x, const char *y)
{
    for (;; x++, y++) {
        unsigned char a = (unsigned char)*x, b = (unsigned char)*y;

        if (a >= 'A' && a <= 'Z')
            a += 32;
        if (b >= 'A' && b <= 'Z')
            b += 32;
        if (a != b)
            return false;
        if (a == '\0')
            return true;
    }
}

/* One candidate pair of the header, trimmed. */
struct pair {
    const char *name, *value;
    size_t name_len, value_len;
};

/* Splits the piece s[0..len) (between ';') into a pair. Returns false for a
 * malformed piece, which the caller skips. */
static bool split_pair(const char *s, size_t len, struct pair *p)
{
    const char *eq = memchr(s, '=', len);
    const char *n = s, *ne, *v, *ve;

    if (eq == NULL)
        return false;
    ne = eq;
    while (n < ne && (*n == ' ' || *n == '\t'))
        n++;
    while (ne > n && (ne[-1] == ' ' || ne[-1] == '\t'))
        ne--;
    if (ne == n)
        return false;
    for (const char *c = n; c < ne; c++) {
        if (!is_tchar((unsigned char)*c))
            return false;
    }
    v = eq + 1;
    ve = s + len;
    while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
        ve--;
    for (const char *c = v; c < ve; c++) {
        if (is_ctl((unsigned char)*c))
            return false; /* includes NUL: values must be safe C strings */
    }
    if (ve - v >= 2 && v[0] == '"' && ve[-1] == '"') {
        v++; /* RFC 6265 §4.1.1: cookie-value may be wrapped in DQUOTEs */
        ve--;
    }
    p->name = n;
    p->name_len = (size_t)(ne - n);
    p->value = v;
    p->value_len = (size_t)(ve - v);
    return true;
}

/* Two passes over the header: count the well-formed pairs (to check the cap
 * before allocating), then copy them into the arena. */
int http_cookie_parse(struct arena *a, const char *header, size_t len, size_t max_cookies,
                      struct http_kvlist *out)
{
    struct http_kv *items = NULL;
    size_t count = 0;

    out->items = NULL;
    out->len = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0, n = 0;

        while (i < len) {
            const char *seg = header + i;
            const char *semi = memchr(seg, ';', len - i);
            size_t seg_len = semi ? (size_t)(semi - seg) : len - i;
            struct pair p;

            i += seg_len + 1;
            if (!split_pair(seg, seg_len, &p))
                continue;
            if (pass == 0) {
                count++;
                continue;
            }
            TD_ASSERT(n < count);
            items[n].name = arena_strndup(a, p.name, p.name_len);
            items[n].value = arena_strndup(a, p.value, p.value_len);
            items[n].value_len = p.value_len;
            n++;
        }
        if (pass == 0) {
            if (count == 0)
                return TD_OK;
            if (count > max_cookies)
                return TD_ETOOBIG;
            items = arena_alloc(a, count * sizeof(*items));
        }
    }
    out->items = items;
    out->len = count;
    return TD_OK;
}

/* Validates everything first, then appends; on a buffer error the buffer is
 * cut back to its old length so no half header is left behind. */
int http_cookie_format(struct buf *out, const char *name, const char *value,
                       const struct http_cookie_opts *o)
{
    static const struct http_cookie_opts defaults = {.max_age = -1};
    const char *path, *ss = NULL;
    size_t old_len = out->len;
    int rc;

    if (o == NULL)
        o = &defaults;
    if (name == NULL || value == NULL || name[0] == '\0')
        return TD_EINVAL;
    for (const char *c = name; *c; c++) {
        if (!is_tchar((unsigned char)*c))
            return TD_EINVAL;
    }
    for (const char *c = value; *c; c++) {
        if (!is_cookie_octet((unsigned char)*c))
            return TD_EINVAL;
    }
    path = o->path ? o->path : "/";
    if (path[0] != '/')
        return TD_EINVAL; /* RFC 6265 §5.2.4: other paths are ignored by user agents */
    for (const char *c = path; *c; c++) {
        if (is_ctl((unsigned char)*c) || *c == ';' || (unsigned char)*c > 0x7e)
            return TD_EINVAL; /* §4.1.1 path-value */
    }
    if (o->same_site != NULL) {
        if (ieq(o->same_site, "Lax"))
            ss = "Lax";
        else if (ieq(o->same_site, "Strict"))
            ss = "Strict";
        else if (ieq(o->same_site, "None"))
            ss = "None";
        else
            return TD_EINVAL;
        if (ss[0] == 'N' && !o->secure)
            return TD_EINVAL; /* 6265bis §5.6.7: browsers drop None without Secure */
    }
    /* 6265bis §4.1.3: the prefixes are promises browsers enforce. */
    if (strncmp(name, "__Secure-", 9) == 0 && !o->secure)
        return TD_EINVAL;
    if (strncmp(name, "__Host-", 7) == 0 && (!o->secure || strcmp(path, "/") != 0))
        return TD_EINVAL;

    rc = buf_printf(out, "%s=%s; Path=%s", name, value, path);
    if (rc == TD_OK && o->max_age == 0)
        rc = buf_appends(out, "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    else if (rc == TD_OK && o->max_age > 0)
        rc = buf_printf(out, "; Max-Age=%ld", o->max_age);
    if (rc == TD_OK && o->http_only)
        rc = buf_appends(out, "; HttpOnly");
    if (rc == TD_OK && o->secure)
        rc = buf_appends(out, "; Secure");
    if (rc == TD_OK && ss != NULL)
        rc = buf_printf(out, "; SameSite=%s", ss);
    if (rc != TD_OK && out->data != NULL) {
        out->len = old_len;
        out->data[old_len] = '\0';
    }
    return rc;
}
