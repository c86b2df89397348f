/* SPDX-License-Identifier: MIT */
/* JID parsing and preparation (RFC 7622 §3): see xmpp_jid.h for the subset
 * of PRECIS applied. Every check runs on the input slice before anything is
 * copied, so a refused JID allocates nothing. */
#include "xmpp/xmpp_jid.h"

#include "core/arena.h"
#include "core/err.h"
#include "core/utf8.h"

#include <string.h>

/* Text common to every part: 1..XMPP_JID_PART_MAX bytes of UTF-8, no controls. */
static bool part_ok(const char *s, size_t len)
{
    if (len == 0 || len > XMPP_JID_PART_MAX)
        return false;
    if (!utf8_valid(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
        /* C1 controls U+0080..U+009F are encoded C2 80..C2 9F. */
        if (ch == 0xc2 && i + 1 < len && (unsigned char)s[i + 1] < 0xa0)
            return false;
    }
    return true;
}

/* RFC 7622 §3.3.1: characters a localpart never holds, plus spaces
 * (IdentifierClass has no spaces); non-ASCII spaces are left to PRECIS. */
static bool local_ok(const char *s, size_t len)
{
    if (!part_ok(s, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (strchr("\"&'/:<>@ ", s[i]) != NULL)
            return false;
    /* U+00A0 (C2 A0) and U+3000 (E3 80 80) are the common non-ASCII spaces. */
    if (memmem(s, len, "\xc2\xa0", 2) || memmem(s, len, "\xe3\x80\x80", 3))
        return false;
    return true;
}

static bool domain_ok(const char *s, size_t len)
{
    if (!part_ok(s, len))
        return false;
    if (s[0] == '[') { /* IPv6 literal (RFC 7622 §3.2: IP-literal of RFC 3986) */
        if (len < 3 || s[len - 1] != ']')
            return false;
        for (size_t i = 1; i + 1 < len; i++)
            if (!strchr("0123456789abcdefABCDEF:.", s[i]))
                return false;
        return true;
    }
    if (s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9');
        if (!(alnum || ch == '-' || ch == '.' || ch >= 0x80))
            return false;
        /* no empty label */
        if (ch == '.' && (i == 0 || s[i - 1] == '.'))
            return false;
    }
    return true;
}

static char *lower_copy(struct arena *a, const char *s, size_t len)
{
    char *p = arena_strndup(a, s, len);
    for (size_t i = 0; i < len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z')
            p[i] = (char)(p[i] - 'A' + 'a');
    return p;
}

int xmpp_jid_parse(struct arena *a, const char *s, struct xmpp_jid *out)
{
    const char *slash;
    const char *at;
    const char *dom;
    size_t n;
    size_t dom_len;
    size_t res_len = 0;

    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return TD_EINVAL;
    /* Refuse absurd input before scanning it: three parts and two separators. */
    n = strnlen(s, 3 * XMPP_JID_PART_MAX + 3);
    if (n > 3 * XMPP_JID_PART_MAX + 2)
        return TD_EINVAL;
    slash = memchr(s, '/', n);
    if (slash) {
        res_len = n - (size_t)(slash - s + 1);
        if (!part_ok(slash + 1, res_len))
            return TD_EINVAL;
        n = (size_t)(slash - s);
    }
    at = memchr(s, '@', n);
    dom = at ? at + 1 : s;
    dom_len = n - (size_t)(dom - s);
    if (dom_len > 0 && dom[dom_len - 1] == '.') /* §3.2: one final dot is dropped */
        dom_len--;
    if (!domain_ok(dom, dom_len))
        return TD_EINVAL;
    if (at && !local_ok(s, (size_t)(at - s)))
        return TD_EINVAL;
    out->domain = lower_copy(a, dom, dom_len);
    if (at)
        out->local = lower_copy(a, s, (size_t)(at - s));
    if (slash)
        out->resource = arena_strndup(a, slash + 1, res_len);
    return TD_OK;
}

const char *xmpp_jid_local_prep(struct arena *a, const char *local)
{
    size_t n;

    if (local == NULL)
        return NULL;
    n = strnlen(local, XMPP_JID_PART_MAX + 1);
    if (!local_ok(local, n))
        return NULL;
    return lower_copy(a, local, n);
}

/* local@domain/resource with the absent parts (and their separators) left
 * out; built by hand, as every routed stanza needs one or two. */
static const char *join(struct arena *a, const char *local, const char *domain,
                        const char *resource)
{
    size_t nl = local ? strlen(local) : 0, nd = strlen(domain);
    size_t nr = resource ? strlen(resource) : 0;
    char *out = arena_alloc(a, nl + 1 + nd + 1 + nr + 1);
    char *p = out;

    if (local) {
        memcpy(p, local, nl);
        p += nl;
        *p++ = '@';
    }
    memcpy(p, domain, nd);
    p += nd;
    if (resource) {
        *p++ = '/';
        memcpy(p, resource, nr);
        p += nr;
    }
    *p = '\0';
    return out;
}

const char *xmpp_jid_bare(struct arena *a, const struct xmpp_jid *j)
{
    return join(a, j->local, j->domain, NULL);
}

const char *xmpp_jid_full(struct arena *a, const struct xmpp_jid *j)
{
    return join(a, j->local, j->domain, j->resource);
}
