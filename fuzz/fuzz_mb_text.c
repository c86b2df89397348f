/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for social/mb_text (post text: RFC 3629 UTF-8 checks,
 * Mastodon's entity grammars, its HTML rendering). The input is the post.
 * Checked invariants, each a __builtin_trap() when broken:
 *  - parsing either fails with TD_EINVAL/TD_ETOOBIG and a reason, or gives
 *    valid UTF-8 text no longer than the input, without NUL or controls
 *    other than \t and \n, and entities in order, inside the text, never
 *    overlapping, within the per-kind caps, each starting with its sigil;
 *  - the length limit is applied exactly (limit chars passes, chars-1 not);
 *  - the plain rendering is the normalized text;
 *  - the HTML stays within MB_TEXT_HTML_MAX and is well-formed: every '<'
 *    opens one of the tags the renderer writes, attributes are name="value"
 *    without raw quotes or angle brackets, <p>/<a>/<span> nest and all
 *    close, no <a> inside an <a>, '&' only starts the five escapes, and no
 *    '>' appears in text. So no '<' from the input ever reaches the page. */
#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "social/mb_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

/* Accounts whose names start with 'x' do not exist; tag URLs carry the name
 * raw, so anything the grammar lets into a name meets the escaper. */
static int mention_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                       struct buf *url)
{
    (void)ctx;
    (void)t;
    if (e->value[0] == 'x')
        return TD_ENOTFOUND;
    return buf_printf(url, "https://example.test/@%s", e->value);
}

static int tag_url(void *ctx, const struct mb_text *t, const struct mb_entity *e,
                   struct buf *url)
{
    (void)ctx;
    (void)t;
    return buf_printf(url, "https://example.test/tags/%s?q=\"'<>&", e->value);
}

static bool starts(const char *s, size_t n, size_t i, const char *lit)
{
    size_t l = strlen(lit);

    return n - i >= l && memcmp(s + i, lit, l) == 0;
}

/* Attributes: ( ' ' name '="' [^"<>]* '"' )* then '>'. Returns the offset
 * after '>' or 0. */
static size_t check_attrs(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] == ' ') {
        i++;
        while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
            i++;
        if (!starts(s, n, i, "=\""))
            return 0;
        i += 2;
        while (i < n && s[i] != '"') {
            if (s[i] == '<' || s[i] == '>')
                return 0;
            i++;
        }
        if (i >= n)
            return 0;
        i++;
    }
    return i < n && s[i] == '>' ? i + 1 : 0;
}

static void check_html(const char *s, size_t n)
{
    char stack[8];
    size_t depth = 0, i = 0;
    bool in_a = false;

    while (i < n) {
        if (s[i] == '<') {
            char tag;

            if (starts(s, n, i, "<br />")) {
                i += 6;
                continue;
            }
            if (s[i + 1] == '/') {
                tag = starts(s, n, i, "</p>") ? 'p' : starts(s, n, i, "</a>") ? 'a'
                      : starts(s, n, i, "</span>") ? 's' : 0;
                CHECK(tag != 0 && depth > 0 && stack[depth - 1] == tag);
                depth--;
                if (tag == 'a')
                    in_a = false;
                i += tag == 'p' ? 4 : tag == 'a' ? 4 : 7;
                continue;
            }
            if (starts(s, n, i, "<p>")) {
                CHECK(depth == 0);
                tag = 'p';
                i += 3;
            } else if (starts(s, n, i, "<a ")) {
                CHECK(!in_a);
                in_a = true;
                tag = 'a';
                i = check_attrs(s, n, i + 2);
            } else if (starts(s, n, i, "<span>")) {
                tag = 's';
                i += 6;
            } else if (starts(s, n, i, "<span ")) {
                tag = 's';
                i = check_attrs(s, n, i + 5);
            } else {
                CHECK(false); /* a '<' the renderer did not write */
                return;
            }
            CHECK(i != 0);
            CHECK(depth < sizeof(stack));
            stack[depth++] = tag;
            continue;
        }
        CHECK(s[i] != '>' && s[i] != '"');
        if (s[i] == '&')
            CHECK(starts(s, n, i, "&amp;") || starts(s, n, i, "&lt;") || starts(s, n, i, "&gt;") ||
                  starts(s, n, i, "&quot;") || starts(s, n, i, "&#39;"));
        i++;
    }
    CHECK(depth == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct mb_text_render r = {mention_url, tag_url, NULL};
    const char *src = (const char *)data;
    struct mb_text t, t2;
    size_t prev_end = 0, counts[4] = {0};
    struct buf out;
    int rc;

    rc = mb_text_parse(src, size, (size_t)-1, &t);
    if (rc != TD_OK) {
        CHECK(rc == TD_EINVAL || rc == TD_ETOOBIG);
        CHECK(t.error != NULL && t.text == NULL && t.n_ents == 0);
        if (rc == TD_EINVAL)
            CHECK(!utf8_valid(src, size) || memchr(src, 0, size) != NULL ||
                  utf8_has_controls(src, size) || t.error_off < size);
        mb_text_free(&t);
        return 0;
    }
    CHECK(utf8_valid(src, size));
    CHECK(t.text != NULL && t.len <= size && t.text[t.len] == '\0');
    CHECK(utf8_valid(t.text, t.len) && memchr(t.text, 0, t.len) == NULL);
    CHECK(!utf8_has_controls(t.text, t.len) && memchr(t.text, '\r', t.len) == NULL);
    CHECK(t.n_ents <= MB_TEXT_MAX_ENTITIES);
    for (size_t i = 0; i < t.n_ents; i++) {
        const struct mb_entity *e = &t.ents[i];

        CHECK(e->off >= prev_end && e->len > 1 && e->off + e->len <= t.len);
        CHECK(e->kind >= MB_ENT_MENTION && e->kind <= MB_ENT_LINK);
        counts[e->kind]++;
        CHECK(e->value != NULL && strlen(e->value) == e->value_len && e->value_len <= e->len);
        CHECK(utf8_valid(e->value, e->value_len));
        if (e->kind == MB_ENT_MENTION)
            CHECK(t.text[e->off] == '@' && e->user_len > 0 && e->user_len <= e->value_len);
        else if (e->kind == MB_ENT_TAG)
            CHECK(t.text[e->off] == '#');
        else
            CHECK(t.text[e->off] == 'h' || t.text[e->off] == 'H');
        prev_end = e->off + e->len;
    }
    CHECK(counts[MB_ENT_MENTION] == t.n_mentions && t.n_mentions <= MB_TEXT_MAX_MENTIONS);
    CHECK(counts[MB_ENT_TAG] == t.n_tags && t.n_tags <= MB_TEXT_MAX_TAGS);
    CHECK(counts[MB_ENT_LINK] == t.n_links && t.n_links <= MB_TEXT_MAX_LINKS);
    CHECK(t.chars <= utf8_count(t.text, t.len) + MB_TEXT_URL_CHARS * t.n_links);

    /* The limit is exact. */
    CHECK(mb_text_parse(src, size, t.chars, &t2) == TD_OK && t2.chars == t.chars);
    mb_text_free(&t2);
    if (t.chars > 0) {
        CHECK(mb_text_parse(src, size, t.chars - 1, &t2) == TD_ETOOBIG && t2.chars == t.chars);
        mb_text_free(&t2);
    }

    buf_init(&out, 0);
    CHECK(mb_text_render_plain(&t, &out) == TD_OK);
    CHECK(out.len == t.len && (t.len == 0 || memcmp(out.data, t.text, t.len) == 0));
    buf_free(&out);

    buf_init(&out, MB_TEXT_HTML_MAX(t.len));
    CHECK(mb_text_render_html(&t, &r, &out) == TD_OK);
    CHECK((t.len == 0) == (out.len == 0));
    check_html(out.data ? out.data : "", out.len);
    buf_free(&out);
    mb_text_free(&t);
    return 0;
}
