/* SPDX-License-Identifier: MIT */
/* The microblog's post text; see mb_text.h. One pass checks and normalizes
 * the source (RFC 3629 UTF-8 via core/utf8), a second finds the entities
 * left to right, trying a link, then a mention, then a hashtag at each code
 * point; an entity that starts earlier wins over one inside it, which is
 * what Mastodon's Extractor.remove_overlapping_entities gives. Every matcher
 * only moves forward from its start and gives up at the first character that
 * cannot belong to it, so the whole parse is linear in the input.
 *
 * The grammars, as Mastodon writes them (read from its source, not copied):
 *  - mention: not after '=', '/' or a word character; "@" then a username
 *    [A-Za-z0-9_]+ with runs of '.'/'-' only between such runs, then
 *    optionally "@" and a domain of [[:word:]] runs joined by '.'/'-'. A
 *    match directly followed by '@', a Latin accented letter or "://" is
 *    not a mention at all (twitter-text's end_mention_match), which keeps
 *    "@user@" and "@josé" from linking the wrong account.
 *  - hashtag: not after an ASCII word character, '/' or ')'; "#" then a
 *    name that has at least one alphabetic character, or whose inner part
 *    holds one of the separators "_", U+00B7, U+30FB, U+200C (Tag's
 *    HASHTAG_FIRST_SEQUENCE/HASHTAG_LAST_SEQUENCE); a trailing "http" or
 *    "https" directly before "://" is left out of the name.
 *  - link: not after an ASCII letter or digit, '@', '$' or '#'; "http://" or
 *    "https://", a host, an optional port, an optional path and query. The
 *    path takes anything but white space, "<>?" and unbalanced parentheses
 *    (two levels of balanced ones, as in Wikipedia URLs) and must end on a
 *    character that is not sentence punctuation (".,!?:;'\"*" and friends),
 *    so "(see https://x.org/a)." leaves out ")."; the query takes the
 *    twitter-text query set and ends on [A-Za-z0-9_&=#/-] or non-ASCII.
 *    Differences from Mastodon: twitter-text checks the top-level domain
 *    against a list; here the host needs two or more labels and a last one
 *    of two or more letters (or "xn--" punycode), so "http://localhost" and
 *    bare IP addresses are not linked, as there. White space outside ASCII
 *    ends a query here (twitter-text lets U+3000 into one).
 *
 * Other deviations, on purpose: lengths count code points, not grapheme
 * clusters (mb_text.h); C1 controls are refused like C0; a lone CR is a line
 * break, as Rails' simple_format treats it; the hashtag name for search is
 * lower-cased ASCII with full-width Latin letters and digits folded to ASCII
 * (the part of Mastodon's NFKC that matters most), other characters are kept
 * as typed because no library already linked offers NFKC. */
#include "social/mb_text.h"

#include "core/err.h"
#include "core/utf8.h"
#include "social/mb_unicode.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINK_SHOWN_CHARS 30 /* TextFormatter shows this many code points of a link */

/* ---- code points ---- */

/* Decodes the code point at s[i] of valid UTF-8 text; *n gets its length. */
static uint32_t dec(const char *s, size_t len, size_t i, size_t *n)
{
    const uint8_t *p = (const uint8_t *)s + i;
    uint32_t c = p[0];

    if (c < 0x80 || i + 1 >= len) {
        *n = 1;
        return c;
    }
    if (c < 0xe0) {
        *n = 2;
        return ((c & 0x1f) << 6) | (p[1] & 0x3f);
    }
    if (c < 0xf0) {
        *n = 3;
        return ((c & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
    }
    *n = 4;
    return ((c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3f) << 12) |
           ((uint32_t)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
}

/* The code point that ends just before s[i] (i > 0), or 0 at the start. */
static uint32_t dec_prev(const char *s, size_t len, size_t i)
{
    size_t j = i, n;

    if (i == 0)
        return 0;
    do {
        j--;
    } while (j > 0 && ((uint8_t)s[j] & 0xc0) == 0x80);
    return dec(s, len, j, &n);
}

static bool is_ascii_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_ascii_word(uint32_t c)
{
    return is_ascii_alnum(c) || c == '_';
}

static unsigned uc_flags(uint32_t c)
{
    size_t lo = 0, hi = TD_ARRAY_LEN(mb_uc_ranges);

    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return MB_UC_WORD | MB_UC_ALPHA;
        return (c >= '0' && c <= '9') || c == '_' ? MB_UC_WORD : 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c < mb_uc_ranges[mid].lo)
            hi = mid;
        else if (c > mb_uc_ranges[mid].hi)
            lo = mid + 1;
        else
            return mb_uc_ranges[mid].flags;
    }
    return 0;
}

/* Onigmo's [[:word:]]: letters, marks, decimal digits, connector punctuation. */
static bool is_word(uint32_t c)
{
    return (uc_flags(c) & MB_UC_WORD) != 0;
}

static bool is_alpha(uint32_t c)
{
    return (uc_flags(c) & MB_UC_ALPHA) != 0;
}

/* Unicode White_Space. */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

/* twitter-text's latin_accents: a mention followed by one of these is a
 * username cut short by a character usernames cannot hold. */
static bool is_latin_accent(uint32_t c)
{
    return (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) || (c >= 0xf8 && c <= 0x24f) ||
           c == 0x253 || c == 0x254 || c == 0x256 || c == 0x257 || c == 0x259 || c == 0x25b ||
           c == 0x263 || c == 0x268 || c == 0x26f || c == 0x272 || c == 0x289 || c == 0x28b ||
           c == 0x2bb || (c >= 0x300 && c <= 0x36f) || (c >= 0x1e00 && c <= 0x1eff);
}

/* Mastodon's HASHTAG_SEPARATORS. */
static bool is_tag_sep(uint32_t c)
{
    return c == '_' || c == 0xb7 || c == 0x30fb || c == 0x200c;
}

static bool has_prefix_ci(const char *s, size_t len, size_t i, const char *lit)
{
    size_t n = strlen(lit);

    if (len - i < n)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = s[i + k];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[k])
            return false;
    }
    return true;
}

/* ---- validation and normalization ---- */

static int fail(struct mb_text *t, int rc, const char *why, size_t off)
{
    t->error = why;
    t->error_off = off;
    return rc;
}

/* Byte offset of the first ill-formed sequence in s, which utf8_valid()
 * rejected: each sequence is checked on its own, by the same validator. */
static size_t utf8_bad_offset(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t c = (uint8_t)s[i];
        size_t n = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

        if (n > len - i || !utf8_valid(s + i, n))
            return i;
        i += n;
    }
    return len;
}

static bool is_strip_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

/* Checks src and writes the normalized text into t->text/t->len. */
static int normalize(const char *src, size_t len, struct mb_text *t)
{
    size_t a, b, o = 0;
    char *d;

    if (!utf8_valid(src, len))
        return fail(t, TD_EINVAL, "invalid UTF-8", utf8_bad_offset(src, len));
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)src[i];

        if (c == 0)
            return fail(t, TD_EINVAL, "NUL byte", i);
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
            return fail(t, TD_EINVAL, "control character", i);
        /* C1 controls U+0080..U+009F are C2 80..C2 9F. */
        if (c == 0xc2 && i + 1 < len && (uint8_t)src[i + 1] < 0xa0)
            return fail(t, TD_EINVAL, "control character", i);
    }
    d = td_malloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            d[o++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            d[o++] = src[i];
        }
    }
    /* Strip as Mastodon's Status does (String#strip) before anything counts. */
    a = 0;
    b = o;
    while (a < b && is_strip_space(d[a]))
        a++;
    while (b > a && is_strip_space(d[b - 1]))
        b--;
    memmove(d, d + a, b - a);
    d[b - a] = '\0';
    t->text = d;
    t->len = b - a;
    return TD_OK;
}

/* ---- entity matchers: each returns the end offset, or 0 for no match ---- */

/* Offset after a run of ASCII [A-Za-z0-9_] from i. */
static size_t skip_uname(const char *s, size_t len, size_t i)
{
    while (i < len && is_ascii_word((uint8_t)s[i]))
        i++;
    return i;
}

/* Offset after a run of [[:word:]] code points from i. */
static size_t skip_word(const char *s, size_t len, size_t i)
{
    size_t n;

    while (i < len && is_word(dec(s, len, i, &n)))
        i += n;
    return i;
}

/* RUN ([.-]+ RUN)*, RUN given by skip; returns the end, i if no first run. */
static size_t skip_joined(const char *s, size_t len, size_t i,
                          size_t (*skip)(const char *, size_t, size_t))
{
    size_t j = skip(s, len, i);

    if (j == i)
        return i;
    for (;;) {
        size_t k = j, e;

        while (k < len && (s[k] == '.' || s[k] == '-'))
            k++;
        if (k == j)
            break;
        e = skip(s, len, k);
        if (e == k)
            break;
        j = e;
    }
    return j;
}

/* A mention at s[i] == '@'; *user_end gets the end of the username. */
static size_t match_mention(const char *s, size_t len, size_t i, size_t *user_end)
{
    uint32_t prev = dec_prev(s, len, i), next;
    size_t j, n;

    if (i > 0 && (prev == '=' || prev == '/' || is_word(prev)))
        return 0;
    j = skip_joined(s, len, i + 1, skip_uname);
    if (j == i + 1)
        return 0;
    *user_end = j;
    if (j < len && s[j] == '@') {
        size_t e = skip_joined(s, len, j + 1, skip_word);

        if (e > j + 1)
            j = e;
    }
    if (j < len) {
        next = dec(s, len, j, &n);
        if (next == '@' || next == 0xff20 || is_latin_accent(next) ||
            has_prefix_ci(s, len, j, "://"))
            return 0;
    }
    return j;
}

/* A hashtag at s[i] == '#': the end of its name. */
static size_t match_tag(const char *s, size_t len, size_t i)
{
    size_t j = i + 1, n, idx = 0;
    size_t last_word_end = 0, last_word_idx = 0, first_k = 0; /* first_k 0 = none */
    size_t prefix_end = 0;  /* end of the leading run of word characters */
    bool prefix_alpha = false, in_prefix = true;
    bool first_is_word = false;

    if (i > 0) {
        uint8_t p = (uint8_t)s[i - 1];

        if (is_ascii_word(p) || p == '/' || p == ')')
            return 0;
    }
    /* One pass over the run of word characters and separators after '#'. */
    while (j < len) {
        uint32_t c = dec(s, len, j, &n);
        bool w = is_word(c), sep = is_tag_sep(c);

        if (!w && !sep)
            break;
        if (idx == 0)
            first_is_word = w;
        if (w) {
            last_word_end = j + n;
            last_word_idx = idx;
        }
        if (idx >= 1 && first_k == 0 && (is_alpha(c) || sep))
            first_k = idx;
        if (in_prefix && w) {
            prefix_end = j + n;
            prefix_alpha = prefix_alpha || is_alpha(c);
        } else {
            in_prefix = false;
        }
        j += n;
        idx++;
    }
    /* HASHTAG_FIRST_SEQUENCE: a word character, later an alphabetic one or a
     * separator, later again a word character; it ends on the last one. */
    if (first_is_word && first_k != 0 && first_k < last_word_idx)
        j = last_word_end;
    else if (prefix_end != 0 && prefix_alpha) /* HASHTAG_LAST_SEQUENCE */
        j = prefix_end;
    else
        return 0;
    /* "#foohttps://..." is a tag "foo" glued to a link. */
    if (has_prefix_ci(s, len, j, "://")) {
        size_t cut = 0;

        if (j - (i + 1) > 5 && memcmp(s + j - 5, "https", 5) == 0)
            cut = 5;
        else if (j - (i + 1) > 4 && memcmp(s + j - 4, "http", 4) == 0)
            cut = 4;
        if (cut) {
            bool alpha = false;

            j -= cut;
            for (size_t k = i + 1; k < j; k += n) {
                uint32_t c = dec(s, len, k, &n);

                alpha = alpha || is_alpha(c) || (k > i + 1 && is_tag_sep(c));
            }
            if (!alpha)
                return 0;
        }
    }
    return j;
}

static bool is_host_char(uint32_t c)
{
    return is_ascii_alnum(c) || c == '-' || c == '_' || c == '.' || (c >= 0x80 && is_word(c));
}

/* A host of two or more labels of letters, digits, '-', '_' or non-ASCII
 * word characters, each starting and ending on a letter or digit, with a
 * last label of two or more letters or "xn--" punycode. */
static bool host_ok(const char *s, size_t len, size_t a, size_t b)
{
    size_t labels = 0, i = a, n;

    while (i < b) {
        size_t ls = i, le;
        uint32_t first, last = 0;
        bool letters = true;
        size_t chars = 0;

        while (i < b && s[i] != '.') {
            uint32_t c = dec(s, len, i, &n);

            if (c < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                letters = false;
            else if (c >= 0x80 && !is_alpha(c))
                letters = false;
            last = c;
            chars++;
            i += n;
        }
        le = i;
        if (le == ls)
            return false; /* empty label */
        first = dec(s, len, ls, &n);
        if (first == '-' || first == '_' || last == '-' || last == '_')
            return false;
        labels++;
        if (i == b) { /* the top-level label */
            bool puny = le - ls > 4 && has_prefix_ci(s, len, ls, "xn--");

            if (labels < 2 || (!(letters && chars >= 2) && !puny))
                return false;
        } else {
            i++; /* the dot */
        }
    }
    return labels >= 2;
}

/* General path characters (twitter-text as Mastodon configures it). */
static bool is_path_char(uint32_t c)
{
    return !is_space(c) && c != '<' && c != '>' && c != '(' && c != ')' && c != '?';
}

/* Characters a path may end on: not sentence punctuation. */
static bool is_path_end_char(uint32_t c)
{
    if (!is_path_char(c) || c == 0x300c || c == 0x300d)
        return false;
    return c >= 0x80 || strchr("!*\"';:=,.$%[]~&|@", (int)c) == NULL;
}

/* A balanced "(...)" at s[i] == '(' with at most one nested level. */
static size_t match_parens(const char *s, size_t len, size_t i)
{
    size_t j = i + 1, n, k;
    bool any = false;

    while (j < len && is_path_char(dec(s, len, j, &n))) {
        j += n;
        any = true;
    }
    if (j < len && s[j] == ')' && any)
        return j + 1;
    if (j >= len || s[j] != '(')
        return 0;
    k = j + 1;
    while (k < len && is_path_char(dec(s, len, k, &n)))
        k += n;
    if (k == j + 1 || k >= len || s[k] != ')')
        return 0;
    k++;
    while (k < len && is_path_char(dec(s, len, k, &n)))
        k += n;
    if (k >= len || s[k] != ')')
        return 0;
    return k + 1;
}

/* After '/': the end of the longest path that ends on a path-ending
 * character or a balanced group (or nothing: "/" alone is a path). */
static size_t match_path(const char *s, size_t len, size_t i)
{
    size_t good = i, n;

    while (i < len) {
        uint32_t c = dec(s, len, i, &n);

        if (c == '(') {
            size_t e = match_parens(s, len, i);

            if (e == 0)
                break;
            i = good = e;
            continue;
        }
        if (!is_path_char(c))
            break;
        i += n;
        if (is_path_end_char(c))
            good = i;
    }
    return good;
}

/* twitter-text's query characters, plus non-ASCII that is not white space
 * nor a noncharacter (its UCHARS). */
static bool is_uchar(uint32_t c)
{
    return c >= 0xa0 && !is_space(c) && !(c >= 0xfdd0 && c <= 0xfdef) && (c & 0xfffe) != 0xfffe;
}

static bool is_query_char(uint32_t c)
{
    return is_ascii_alnum(c) || is_uchar(c) ||
           (c < 0x80 && strchr("!?*'();:&=+$/%#[]-_.,~|@^", (int)c));
}

static bool is_query_end_char(uint32_t c)
{
    return is_ascii_alnum(c) || is_uchar(c) || (c < 0x80 && strchr("_&=#/-", (int)c));
}

/* A link at s[i]: the end of the URL. */
static size_t match_link(const char *s, size_t len, size_t i)
{
    uint32_t prev = dec_prev(s, len, i);
    size_t h, j, n;

    if (i > 0 && (is_ascii_alnum(prev) || prev == '@' || prev == '$' || prev == '#' ||
                  prev == 0xff20 || prev == 0xff03))
        return 0;
    if (has_prefix_ci(s, len, i, "http://"))
        h = i + 7;
    else if (has_prefix_ci(s, len, i, "https://"))
        h = i + 8;
    else
        return 0;
    j = h;
    while (j < len && is_host_char(dec(s, len, j, &n)))
        j += n;
    while (j > h && (s[j - 1] == '.' || s[j - 1] == '-' || s[j - 1] == '_'))
        j--; /* "see https://example.org." */
    if (!host_ok(s, len, h, j))
        return 0;
    if (j + 1 < len && s[j] == ':' && s[j + 1] >= '0' && s[j + 1] <= '9') {
        j++;
        while (j < len && s[j] >= '0' && s[j] <= '9')
            j++;
    }
    if (j < len && s[j] == '/')
        j = match_path(s, len, j + 1);
    if (j < len && s[j] == '?') {
        size_t k = j + 1, good = 0;

        while (k < len) {
            uint32_t c = dec(s, len, k, &n);

            if (!is_query_char(c))
                break;
            k += n;
            if (is_query_end_char(c))
                good = k;
        }
        if (good)
            j = good;
    }
    return j;
}

/* ---- parsing ---- */

static void add_entity(struct mb_text *t, enum mb_entity_kind kind, size_t off, size_t end,
                       size_t user_end)
{
    struct mb_entity *e = &t->ents[t->n_ents++];
    const char *s = t->text;
    size_t a = off, o = 0, n;
    char *v;

    e->kind = kind;
    e->off = off;
    e->len = end - off;
    e->user_len = 0;
    if (kind != MB_ENT_LINK)
        a++; /* drop the sigil */
    v = td_malloc(end - a + 1);
    for (size_t k = a; k < end; k += n) {
        uint32_t c = dec(s, t->len, k, &n);

        if (kind == MB_ENT_LINK) {
            memcpy(v + o, s + k, n);
            o += n;
            continue;
        }
        if (kind == MB_ENT_TAG && c >= 0xff21 && c <= 0xff3a) /* full-width A-Z */
            c = c - 0xff21 + 'a';
        else if (kind == MB_ENT_TAG && c >= 0xff41 && c <= 0xff5a) /* full-width a-z */
            c = c - 0xff41 + 'a';
        else if (kind == MB_ENT_TAG && c >= 0xff10 && c <= 0xff19) /* full-width 0-9 */
            c = c - 0xff10 + '0';
        else if (c >= 'A' && c <= 'Z')
            c = c - 'A' + 'a';
        if (c < 0x80) {
            v[o++] = (char)c; /* folding only ever shrinks the value */
        } else {
            memcpy(v + o, s + k, n);
            o += n;
        }
    }
    v[o] = '\0';
    e->value = v;
    e->value_len = o;
    if (kind == MB_ENT_MENTION)
        e->user_len = user_end - (off + 1);
}

static void find_entities(struct mb_text *t)
{
    const char *s = t->text;
    size_t len = t->len, i = 0, n;

    t->ents = td_calloc(MB_TEXT_MAX_ENTITIES, sizeof(*t->ents));
    while (i < len) {
        size_t end = 0, user_end = 0;
        char c = s[i];

        if ((c == 'h' || c == 'H') && t->n_links < MB_TEXT_MAX_LINKS) {
            end = match_link(s, len, i);
            if (end) {
                add_entity(t, MB_ENT_LINK, i, end, 0);
                t->n_links++;
            }
        } else if (c == '@' && t->n_mentions < MB_TEXT_MAX_MENTIONS) {
            end = match_mention(s, len, i, &user_end);
            if (end) {
                add_entity(t, MB_ENT_MENTION, i, end, user_end);
                t->n_mentions++;
            }
        } else if (c == '#' && t->n_tags < MB_TEXT_MAX_TAGS) {
            end = match_tag(s, len, i);
            if (end) {
                add_entity(t, MB_ENT_TAG, i, end, 0);
                t->n_tags++;
            }
        }
        if (end) {
            i = end;
        } else {
            dec(s, len, i, &n);
            i += n;
        }
    }
}

/* Code points, with links as MB_TEXT_URL_CHARS and mentions as "@user". */
static size_t count_chars(const struct mb_text *t)
{
    size_t chars = 0, i = 0, e = 0;

    while (i < t->len) {
        if (e < t->n_ents && t->ents[e].off == i) {
            const struct mb_entity *en = &t->ents[e++];

            if (en->kind == MB_ENT_LINK)
                chars += MB_TEXT_URL_CHARS;
            else if (en->kind == MB_ENT_MENTION)
                chars += 1 + en->user_len; /* usernames are ASCII */
            else
                chars += utf8_count(t->text + en->off, en->len);
            i = en->off + en->len;
            continue;
        }
        if (((uint8_t)t->text[i] & 0xc0) != 0x80)
            chars++;
        i++;
    }
    return chars;
}

int mb_text_parse(const char *src, size_t len, size_t limit, struct mb_text *t)
{
    int rc;

    memset(t, 0, sizeof(*t));
    if (len > MB_TEXT_MAX_BYTES)
        return fail(t, TD_ETOOBIG, "text too large", MB_TEXT_MAX_BYTES);
    if (src == NULL && len > 0)
        return fail(t, TD_EINVAL, "no text", 0);
    rc = normalize(src ? src : "", len, t);
    if (rc != TD_OK)
        return rc;
    find_entities(t);
    t->chars = count_chars(t);
    if (t->chars > limit)
        return fail(t, TD_ETOOBIG, "text too long", t->len);
    return TD_OK;
}

void mb_text_free(struct mb_text *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_ents; i++)
        free(t->ents[i].value);
    free(t->ents);
    free(t->text);
    memset(t, 0, sizeof(*t));
}

/* ---- rendering ---- */

/* Escaped text with Rails simple_format's line handling: one newline is
 * "<br />", two or more end the paragraph. */
static int put_text(struct buf *out, const char *s, size_t n)
{
    size_t i = 0, start = 0;
    int rc = TD_OK;

    while (i < n && rc == TD_OK) {
        size_t k = i;

        if (s[i] != '\n') {
            i++;
            continue;
        }
        rc = buf_append_html(out, s + start, i - start);
        while (k < n && s[k] == '\n')
            k++;
        if (rc == TD_OK)
            rc = buf_appends(out, k - i == 1 ? "<br />" : "</p><p>");
        i = start = k;
    }
    if (rc == TD_OK)
        rc = buf_append_html(out, s + start, n - start);
    return rc;
}

/* Byte length of the first `chars` code points of s[0..n). */
static size_t cp_prefix(const char *s, size_t n, size_t chars)
{
    size_t i = 0;

    while (i < n && chars > 0) {
        i++;
        while (i < n && ((uint8_t)s[i] & 0xc0) == 0x80)
            i++;
        chars--;
    }
    return i;
}

static int put_link(struct buf *out, const char *url, size_t n)
{
    size_t pre, shown;
    bool cut;
    int rc;

    pre = has_prefix_ci(url, n, 0, "https://") ? 8 : 7;
    if (has_prefix_ci(url, n, pre, "www."))
        pre += 4;
    shown = cp_prefix(url + pre, n - pre, LINK_SHOWN_CHARS);
    cut = pre + shown < n;
    rc = buf_appends(out, "<a href=\"");
    if (rc == TD_OK)
        rc = buf_append_html(out, url, n);
    if (rc == TD_OK)
        rc = buf_appends(out, "\" target=\"_blank\" rel=\"nofollow noopener noreferrer\" "
                              "translate=\"no\"><span class=\"invisible\">");
    if (rc == TD_OK)
        rc = buf_append_html(out, url, pre);
    if (rc == TD_OK)
        rc = buf_appends(out, cut ? "</span><span class=\"ellipsis\">"
                                  : "</span><span class=\"\">");
    if (rc == TD_OK)
        rc = buf_append_html(out, url + pre, shown);
    if (rc == TD_OK)
        rc = buf_appends(out, "</span><span class=\"invisible\">");
    if (rc == TD_OK)
        rc = buf_append_html(out, url + pre + shown, n - pre - shown);
    if (rc == TD_OK)
        rc = buf_appends(out, "</span></a>");
    return rc;
}

/* A mention or hashtag: the caller's URL, or plain text without one. */
static int put_ref(struct buf *out, const struct mb_text *t, const struct mb_entity *e,
                   mb_text_url_cb *cb, void *ctx)
{
    const char *src = t->text + e->off;
    struct buf url;
    int rc;

    if (cb == NULL)
        return buf_append_html(out, src, e->len);
    buf_init(&url, MB_TEXT_CB_URL_MAX);
    rc = cb(ctx, t, e, &url);
    if (rc == TD_ENOTFOUND) {
        buf_free(&url);
        return buf_append_html(out, src, e->len);
    }
    if (rc != TD_OK) {
        buf_free(&url);
        return rc;
    }
    if (e->kind == MB_ENT_MENTION)
        rc = buf_appends(out, "<span class=\"h-card\" translate=\"no\"><a href=\"");
    else
        rc = buf_appends(out, "<a href=\"");
    if (rc == TD_OK)
        rc = buf_append_html(out, url.data ? url.data : "", url.len);
    buf_free(&url);
    if (rc == TD_OK)
        rc = buf_appends(out, e->kind == MB_ENT_MENTION
                                  ? "\" class=\"u-url mention\">@<span>"
                                  : "\" class=\"mention hashtag\" rel=\"tag\">#<span>");
    /* The name as typed; a mention shows only its user part, as Mastodon. */
    if (rc == TD_OK)
        rc = buf_append_html(out, src + 1, e->kind == MB_ENT_MENTION ? e->user_len : e->len - 1);
    if (rc == TD_OK)
        rc = buf_appends(out, e->kind == MB_ENT_MENTION ? "</span></a></span>" : "</span></a>");
    return rc;
}

int mb_text_render_html(const struct mb_text *t, const struct mb_text_render *r,
                        struct buf *out)
{
    size_t i = 0;
    int rc;

    if (t->len == 0)
        return TD_OK;
    rc = buf_appends(out, "<p>");
    for (size_t k = 0; k < t->n_ents && rc == TD_OK; k++) {
        const struct mb_entity *e = &t->ents[k];

        rc = put_text(out, t->text + i, e->off - i);
        if (rc != TD_OK)
            break;
        if (e->kind == MB_ENT_LINK)
            rc = put_link(out, t->text + e->off, e->len);
        else if (e->kind == MB_ENT_MENTION)
            rc = put_ref(out, t, e, r ? r->mention_url : NULL, r ? r->ctx : NULL);
        else
            rc = put_ref(out, t, e, r ? r->tag_url : NULL, r ? r->ctx : NULL);
        i = e->off + e->len;
    }
    if (rc == TD_OK)
        rc = put_text(out, t->text + i, t->len - i);
    if (rc == TD_OK)
        rc = buf_appends(out, "</p>");
    return rc;
}

int mb_text_render_plain(const struct mb_text *t, struct buf *out)
{
    return buf_append(out, t->text ? t->text : "", t->len);
}
