/* SPDX-License-Identifier: MIT */
/* multipart/form-data parser; see http_multipart.h. Implements the body
 * framing of RFC 2046 §5.1.1 (boundary syntax, delimiter = CRLF "--"
 * boundary, transport padding, close delimiter, preamble and epilogue
 * ignored) and the form rules of RFC 7578 §4.2 (Content-Disposition:
 * form-data with a name parameter, optional filename reduced to its last
 * path component), §4.4 (default text/plain) and §4.7 (Content-Transfer-
 * Encoding is ignored). Like Go's mime/multipart, "--boundary" followed by
 * a byte other than '-', SP, HT or CR is treated as data, not a delimiter.
 * Quoted parameters in Content-Disposition are read leniently (see
 * http__header_param) because browsers send Windows paths unescaped and
 * percent-encode '"' instead (HTML Standard, multipart/form-data encoding);
 * %22 and friends are left as they are. */
#include "http/http_multipart.h"

#include "core/err.h"
#include "core/utf8.h"
#include "http/http_form.h"

#include <stdbool.h>
#include <string.h>

#define MAX_BOUNDARY 70 /* RFC 2046 §5.1.1: boundary := 0*69<bchars> bcharsnospace */

enum delim { DELIM_NOT, DELIM_NEXT, DELIM_CLOSE, DELIM_BAD };

/* RFC 2046 §5.1.1: bcharsnospace and, except last, space. */
static bool valid_boundary(const char *b)
{
    size_t n = strlen(b);

    if (n == 0 || n > MAX_BOUNDARY || b[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)b[i];

        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            continue;
        if (c == '\0' || strchr("'()+_,-./:=? ", c) == NULL)
            return false;
    }
    return true;
}

/* First occurrence of needle in hay[0..hlen); needle is at most 74 bytes, so
 * the worst case stays linear in hlen. */
static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    const char *end = hay + hlen, *p = hay;

    while ((size_t)(end - p) >= nlen) {
        p = memchr(p, needle[0], (size_t)(end - p) - nlen + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
        p++;
    }
    return NULL;
}

/* Classifies what follows "--boundary" at p. For DELIM_NEXT, *next is the
 * start of the next part (after transport padding and CRLF). */
static enum delim after_delim(const char *p, const char *end, const char **next)
{
    if (p == end)
        return DELIM_BAD; /* truncated */
    if (*p != '-' && *p != ' ' && *p != '\t' && *p != '\r')
        return DELIM_NOT;
    if (*p == '-')
        return (end - p >= 2 && p[1] == '-') ? DELIM_CLOSE : DELIM_BAD;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++; /* transport-padding */
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        *next = p + 2;
        return DELIM_NEXT;
    }
    return DELIM_BAD;
}

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool name_is(const char *s, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i], d = (unsigned char)lit[i];

        if (c >= 'A' && c <= 'Z')
            c += 32;
        if (d >= 'A' && d <= 'Z')
            d += 32;
        if (c != d)
            return false;
    }
    return true;
}

/* Parses the header block h[0..len) (lines joined by CRLF, final CRLFCRLF
 * excluded) into p's name, filename and content_type. */
static int parse_part_headers(struct arena *a, const char *h, size_t len, struct http_part *p)
{
    const char *end = h + len, *cd = NULL, *ct = NULL;
    const char *fn;

    while (h < end) {
        const char *eol = find(h, (size_t)(end - h), "\r\n", 2);
        const char *line_end = eol ? eol : end;
        const char *colon, *v, *ve;

        if (h[0] == ' ' || h[0] == '\t')
            return TD_EINVAL; /* obs-fold, RFC 9112 §5.2 */
        colon = memchr(h, ':', (size_t)(line_end - h));
        if (colon == NULL || colon == h)
            return TD_EINVAL;
        for (const char *c = h; c < colon; c++) {
            if (!is_tchar((unsigned char)*c))
                return TD_EINVAL;
        }
        v = colon + 1;
        ve = line_end;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        for (const char *c = v; c < ve; c++) {
            unsigned char u = (unsigned char)*c;
            if ((u < 0x20 && u != '\t') || u == 0x7f)
                return TD_EINVAL; /* NUL, bare CR or LF, other controls */
        }
        if (name_is(h, (size_t)(colon - h), "Content-Disposition")) {
            if (cd != NULL)
                return TD_EINVAL;
            cd = arena_strndup(a, v, (size_t)(ve - v));
        } else if (name_is(h, (size_t)(colon - h), "Content-Type")) {
            if (ct != NULL)
                return TD_EINVAL;
            ct = arena_strndup(a, v, (size_t)(ve - v));
        }
        h = eol ? eol + 2 : end;
    }
    /* RFC 7578 §4.2 */
    if (cd == NULL || !http_media_type_is(cd, "form-data"))
        return TD_EINVAL;
    p->name = http__header_param(a, cd, "name", true);
    if (p->name == NULL || !utf8_valid(p->name, strlen(p->name)))
        return TD_EINVAL;
    fn = http__header_param(a, cd, "filename", true);
    if (fn != NULL) {
        const char *base = fn;

        /* RFC 7578 §4.2: no directory information; "../../x" gives "x". */
        for (const char *c = fn; *c; c++) {
            if (*c == '/' || *c == '\\')
                base = c + 1;
        }
        fn = base;
        if (!utf8_valid(fn, strlen(fn)))
            return TD_EINVAL;
    }
    p->filename = fn;
    p->content_type = (ct != NULL && ct[0] != '\0') ? ct : "text/plain";
    return TD_OK;
}

/* Single pass over the body: locate the first delimiter (skipping the
 * preamble), then for each part read its header block (capped by
 * lim->max_part_header_bytes) and scan for the next delimiter. The parts
 * array grows by doubling inside the arena and never beyond max_parts. */
int http_multipart_parse(struct arena *a, const char *content_type, const char *body,
                         size_t len, const struct http_multipart_limits *lim,
                         struct http_part **parts, size_t *nparts)
{
    static const struct http_multipart_limits defaults = {
        HTTP_MULTIPART_MAX_PARTS, HTTP_MULTIPART_MAX_PART_HEADER_BYTES};
    const char *boundary, *end, *pos = NULL, *m;
    char delim[4 + MAX_BOUNDARY];
    size_t dlen, n = 0, cap = 0;
    struct http_part *arr = NULL;
    enum delim kind = DELIM_NOT;
    int rc = TD_EINVAL;

    *parts = NULL;
    *nparts = 0;
    if (lim == NULL)
        lim = &defaults;
    if (body == NULL)
        body = len == 0 ? "" : NULL;
    if (body == NULL)
        return TD_EINVAL;
    end = body + len;
    if (!http_media_type_is(content_type, "multipart/form-data"))
        return TD_EINVAL;
    boundary = http_header_param(a, content_type, "boundary");
    if (boundary == NULL || !valid_boundary(boundary))
        return TD_EINVAL;
    dlen = strlen(boundary);
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, dlen);
    dlen += 4;

    /* The first delimiter may open the body without a preceding CRLF. */
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        kind = after_delim(body + dlen - 2, end, &pos);
    m = body;
    while (kind == DELIM_NOT) {
        m = find(m, (size_t)(end - m), delim, dlen);
        if (m == NULL)
            return TD_EINVAL; /* boundary absent from the body */
        kind = after_delim(m + dlen, end, &pos);
        m++;
    }

    while (kind == DELIM_NEXT) {
        struct http_part p;
        const char *data;

        if (n == lim->max_parts) {
            rc = TD_ETOOBIG;
            goto out;
        }
        if (end - pos >= 2 && pos[0] == '\r' && pos[1] == '\n') {
            data = pos + 2; /* no headers at all; rejected below */
            rc = parse_part_headers(a, pos, 0, &p);
        } else {
            size_t window = (size_t)(end - pos);
            size_t hcap = lim->max_part_header_bytes + 4;
            const char *h;

            if (hcap < 4)
                hcap = (size_t)-1; /* overflow: no practical cap */
            h = find(pos, window < hcap ? window : hcap, "\r\n\r\n", 4);
            if (h == NULL) {
                rc = window >= hcap ? TD_ETOOBIG : TD_EINVAL;
                goto out;
            }
            data = h + 4;
            rc = parse_part_headers(a, pos, (size_t)(h - pos), &p);
        }
        if (rc != TD_OK)
            goto out;

        /* RFC 2046 §5.1.1: body-part := MIME-part-headers [CRLF *OCTET], so
         * the blank line's CRLF may itself open the next delimiter when the
         * part has no body (Go's mime/multipart accepts this too). */
        m = data;
        kind = DELIM_NOT;
        p.data = data;
        p.len = 0;
        if ((size_t)(end - data) >= dlen - 2 && memcmp(data, delim + 2, dlen - 2) == 0)
            kind = after_delim(data + dlen - 2, end, &pos);
        while (kind == DELIM_NOT) {
            const char *hit = find(m, (size_t)(end - m), delim, dlen);

            if (hit == NULL) {
                rc = TD_EINVAL; /* no closing delimiter */
                goto out;
            }
            kind = after_delim(hit + dlen, end, &pos);
            p.data = data;
            p.len = (size_t)(hit - data);
            m = hit + 1;
        }
        if (kind == DELIM_BAD)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct http_part *na;

            if (ncap > lim->max_parts)
                ncap = lim->max_parts;
            na = arena_alloc(a, ncap * sizeof(*na));
            if (n)
                memcpy(na, arr, n * sizeof(*na));
            arr = na;
            cap = ncap;
        }
        arr[n++] = p;
    }
    if (kind != DELIM_CLOSE) {
        rc = TD_EINVAL; /* truncated or malformed delimiter line */
        goto out;
    }
    *parts = arr;
    *nparts = n;
    rc = TD_OK;
out:
    return rc;
}
