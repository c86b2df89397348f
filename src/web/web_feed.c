/* SPDX-License-Identifier: MIT */
/* Atom feeds (RFC 4287) of an account's posts (/@name/feed.atom) and of a
 * hashtag's (/tags/tag/feed.atom), for feed readers.
 *
 * What a feed holds comes from the microblog service as an anonymous viewer
 * sees it (mb_account() / mb_tag() with viewer 0), so followers-only and
 * direct posts never appear. An account feed leaves reblogs out (they are
 * other people's posts; Mastodon's RSS does the same) and keeps replies.
 * Entries use the Mastodon API's URIs and URLs (base/users/name/statuses/id,
 * base/@name/id), so a post has one identity everywhere. A post with a
 * content warning gets the warning as its title and summary and still
 * carries its content, as Mastodon's RSS does: readers show the summary
 * first.
 *
 * Feeds are served bare (no cookies, no session), with a strong ETag over
 * the body, Last-Modified from the newest entry and a short public max-age,
 * so that proxies and readers can poll cheaply. Every text goes through
 * xml_text(), which escapes and drops what XML 1.0 forbids. */
#include "web/web.h"

#include "api/api_masto.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/utf8.h"
#include "http/http_form.h"
#include "social/mb.h"
#include "social/mb_text.h"
#include "store/store.h"
#include "store/store_mb.h"
#include "tandem_version.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FEED_ENTRIES 20     /* entries per page, as Mastodon's RSS */
#define FEED_TITLE_CHARS 80 /* code points of an entry title taken from the text */
#define FEED_CTYPE "application/atom+xml; charset=utf-8"

/* ---- XML ---- */

/* Bytes of the UTF-8 sequence that starts with lead, 0 for a byte that
 * cannot start one. */
static size_t seq_len(unsigned char lead)
{
    if (lead < 0x80)
        return 1;
    if (lead >= 0xc2 && lead <= 0xdf)
        return 2;
    if (lead >= 0xe0 && lead <= 0xef)
        return 3;
    if (lead >= 0xf0 && lead <= 0xf4)
        return 4;
    return 0;
}

/* Append s[0..n) as XML character data or attribute value: & < > " '
 * escaped, C0 controls other than tab, LF and CR and the non-characters
 * U+FFFE and U+FFFF dropped (XML 1.0 §2.2 Char), malformed UTF-8 replaced by
 * U+FFFD. Stored text is checked on the way in; this keeps a feed
 * well-formed even if something slipped through. */
void web_feed_xml_text(struct buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = seq_len(c);
        if (k == 1) {
            switch (c) {
            case '&': buf_appends(b, "&amp;"); break;
            case '<': buf_appends(b, "&lt;"); break;
            case '>': buf_appends(b, "&gt;"); break;
            case '"': buf_appends(b, "&quot;"); break;
            case '\'': buf_appends(b, "&apos;"); break;
            default:
                if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r')
                    buf_putc(b, (char)c);
            }
            i++;
        } else if (k == 0 || i + k > n || !utf8_valid(s + i, k)) {
            buf_appends(b, "\xef\xbf\xbd");
            i++;
        } else {
            bool nonchar = k == 3 && c == 0xef && (unsigned char)s[i + 1] == 0xbf &&
                           (unsigned char)s[i + 2] >= 0xbe;
            if (!nonchar)
                buf_append(b, s + i, k);
            i += k;
        }
    }
}

static void xml_str(struct buf *b, const char *s)
{
    web_feed_xml_text(b, s ? s : "", s ? strlen(s) : 0);
}

/* <name>text</name> */
static void xml_el(struct buf *b, const char *name, const char *text)
{
    buf_printf(b, "<%s>", name);
    xml_str(b, text);
    buf_printf(b, "</%s>\n", name);
}

/*  name="value" */
static void xml_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s=\"", name);
    xml_str(b, value);
    buf_putc(b, '"');
}

/* <link rel= type= href=/> */
static void xml_link(struct buf *b, const char *rel, const char *type, const char *href)
{
    buf_appends(b, "<link");
    xml_attr(b, "rel", rel);
    if (type)
        xml_attr(b, "type", type);
    xml_attr(b, "href", href);
    buf_appends(b, "/>\n");
}

/* RFC 3339 date-time in UTC, as Atom's date constructs want (§3.3), with
 * the milliseconds the API's dates carry: an edit in the same second as the
 * post still moves "updated". */
static void xml_date(struct buf *b, const char *name, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[32];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    buf_printf(b, "<%s>%s.%03dZ</%s>\n", name, s, (int)(ms % 1000), name);
}

/* RFC 9110 §5.6.7 IMF-fixdate, without the locale's day and month names. */
static const char *http_date(struct arena *a, int64_t ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&t, &tm);
    return arena_printf(a, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                        months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- one feed being written ---- */

struct author {
    int64_t id;
    bool ok;              /* exists and is not disabled */
    const char *username; /* arena */
    const char *name;     /* display name, or the username when it has none (arena) */
};

struct feed {
    struct http_req *r;
    struct web_app *app;
    struct masto_req *m; /* for media URLs (keyed like the API's) */
    const char *base;    /* the site's base URL */
    const struct store_mb_list *l;
    struct buf entries[FEED_ENTRIES]; /* rendered per list position; empty = left out */
    bool entry_authors;               /* a tag feed: every entry names its author */
    int64_t updated;                  /* newest entry (ms) */
    struct author authors[FEED_ENTRIES];
    size_t nauthors;
};

static const struct author *author_of(struct feed *f, int64_t id)
{
    struct account a;
    struct author *au;

    for (size_t i = 0; i < f->nauthors; i++)
        if (f->authors[i].id == id)
            return &f->authors[i];
    if (f->nauthors == FEED_ENTRIES)
        return NULL;
    au = &f->authors[f->nauthors++];
    memset(au, 0, sizeof(*au));
    au->id = id;
    if (store_account_get_by_id(f->app->store, id, &a) != TD_OK)
        return au;
    au->ok = !a.disabled;
    au->username = arena_strdup(f->r->arena, a.username);
    au->name = arena_strdup(f->r->arena, a.display_name[0] ? a.display_name : a.username);
    store_account_clear(&a);
    return au;
}

static const char *profile_url(struct feed *f, const char *username)
{
    struct buf u;
    const char *s;

    buf_init(&u, 0);
    buf_printf(&u, "%s/@", f->base);
    http_url_encode(&u, username, strlen(username));
    s = arena_strdup(f->r->arena, u.data);
    buf_free(&u);
    return s;
}

/* An entry's title: the content warning if there is one (the text stays
 * behind it), else the text with runs of white space made one space, cut to
 * FEED_TITLE_CHARS code points with an ellipsis when longer, else what kind
 * of post it is. */
static void entry_title(struct buf *b, const struct store_mb_post *p)
{
    const char *s = p->spoiler_text && p->spoiler_text[0] ? p->spoiler_text : p->source;
    struct buf t;
    size_t chars = 0, cut = 0; /* cut: bytes of the first FEED_TITLE_CHARS - 1 */
    bool space = false;

    buf_init(&t, 0);
    for (const char *c = s ? s : ""; *c && chars <= FEED_TITLE_CHARS;) {
        size_t k = seq_len((unsigned char)*c);
        if (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r') {
            space = t.len > 0;
            c++;
            continue;
        }
        if (space) {
            if (chars == FEED_TITLE_CHARS - 1)
                cut = t.len;
            buf_putc(&t, ' ');
            chars++;
            space = false;
        }
        if (k == 0 || strnlen(c, k) < k)
            k = 1; /* malformed: xml_text replaces it */
        if (chars == FEED_TITLE_CHARS - 1)
            cut = t.len;
        buf_append(&t, c, k);
        c += k;
        chars++;
    }
    if (chars > FEED_TITLE_CHARS) {
        while (cut > 0 && t.data[cut - 1] == ' ')
            cut--;
        t.len = cut;
        buf_appends(&t, "\xe2\x80\xa6"); /* … */
    }
    if (t.len == 0)
        buf_appends(&t, p->in_reply_to_id ? "Reply" : p->nmedia ? "Media" : "Post");
    xml_el(b, "title", t.data);
    buf_free(&t);
}

/* RFC 4287 §4.2.7.2 rel="enclosure": the original file, its type and size. */
static void entry_media(struct feed *f, struct buf *b, const struct store_mb_post *p)
{
    for (size_t i = 0; i < p->nmedia; i++) {
        struct store_mb_media md;
        char len[24];
        if (store_mb_media_get(f->app->store, p->media[i], false, &md) != TD_OK)
            continue;
        snprintf(len, sizeof(len), "%zu", md.len);
        buf_appends(b, "<link rel=\"enclosure\"");
        xml_attr(b, "type", md.content_type);
        xml_attr(b, "length", len);
        xml_attr(b, "href", api_masto_media_url(f->m, md.id, "original"));
        if (md.description && md.description[0])
            xml_attr(b, "title", md.description);
        buf_appends(b, "/>\n");
        store_mb_media_clear(&md);
    }
}

static void entry_write(struct feed *f, struct buf *b, const struct store_mb_post *p,
                        const struct author *au)
{
    const char *profile = profile_url(f, au->username);
    int64_t updated = p->edited_at ? p->edited_at : p->created_at;

    buf_appends(b, "<entry>\n");
    xml_el(b, "id",
           arena_printf(f->r->arena, "%s/users/%s/statuses/%lld", f->base, au->username,
                        (long long)p->id));
    entry_title(b, p);
    xml_date(b, "published", p->created_at);
    xml_date(b, "updated", updated);
    xml_link(b, "alternate", "text/html",
             arena_printf(f->r->arena, "%s/%lld", profile, (long long)p->id));
    if (f->entry_authors) {
        buf_appends(b, "<author>\n");
        xml_el(b, "name", au->name);
        xml_el(b, "uri", profile);
        buf_appends(b, "</author>\n");
    }
    if (p->spoiler_text && p->spoiler_text[0])
        xml_el(b, "summary", p->spoiler_text);
    /* type="html": the post's HTML, escaped once more as the element's text */
    buf_appends(b, "<content type=\"html\">");
    xml_str(b, p->content);
    buf_appends(b, "</content>\n");
    for (size_t i = 0; i < p->ntags; i++) {
        buf_appends(b, "<category");
        xml_attr(b, "term", p->tags[i]);
        xml_attr(b, "scheme", arena_printf(f->r->arena, "%s/tags/", f->base));
        buf_appends(b, "/>\n");
    }
    entry_media(f, b, p);
    buf_appends(b, "</entry>\n");
    if (updated > f->updated)
        f->updated = updated;
}

static int post_cb(void *ud, const struct store_mb_post *p)
{
    struct feed *f = ud;
    const struct author *au;

    for (size_t i = 0; i < f->l->n && i < FEED_ENTRIES; i++) {
        if (f->l->v[i].id != p->id)
            continue;
        au = author_of(f, p->account_id);
        if (au && au->ok) /* a disabled account's posts are not shown */
            entry_write(f, &f->entries[i], p, au);
        break;
    }
    return 0;
}

/* Render the list's posts (already filtered for an anonymous viewer by the
 * service) into f->entries, in list order. */
static int entries_load(struct feed *f, const struct store_mb_list *l)
{
    int64_t ids[FEED_ENTRIES];
    size_t n = l->n < FEED_ENTRIES ? l->n : FEED_ENTRIES;

    f->l = l;
    for (size_t i = 0; i < n; i++)
        ids[i] = l->v[i].id;
    return store_mb_posts_get(f->app->store, ids, n, 0, post_cb, f);
}

static void feed_init(struct feed *f, struct http_req *r)
{
    memset(f, 0, sizeof(*f));
    f->r = r;
    f->app = r->app;
    f->m = api_masto_req(r);
    f->base = f->app->base_url;
    for (size_t i = 0; i < FEED_ENTRIES; i++)
        buf_init(&f->entries[i], 0);
}

static void feed_free(struct feed *f)
{
    for (size_t i = 0; i < FEED_ENTRIES; i++)
        buf_free(&f->entries[i]);
}

static void feed_head(struct buf *b)
{
    buf_appends(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                   "<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    buf_appends(b, "<generator version=\"" TANDEM_VERSION "\">Tandem</generator>\n");
}

/* Links to this page and, when it is full, to the next (older) one. */
static void feed_paging(struct feed *f, struct buf *b, const char *self, int64_t max_id)
{
    xml_link(b, "self", "application/atom+xml",
             max_id ? arena_printf(f->r->arena, "%s?max_id=%lld", self, (long long)max_id) : self);
    if (f->l->n >= FEED_ENTRIES)
        xml_link(b, "next", "application/atom+xml",
                 arena_printf(f->r->arena, "%s?max_id=%lld", self,
                              (long long)f->l->v[FEED_ENTRIES - 1].cursor));
}

static void feed_tail(struct feed *f, struct buf *b)
{
    for (size_t i = 0; i < FEED_ENTRIES; i++)
        buf_append(b, f->entries[i].data, f->entries[i].len);
    buf_appends(b, "</feed>\n");
}

/* ---- HTTP ---- */

/* Validators and caching, then the body or 304. */
static void feed_send(struct http_req *r, struct buf *b, int64_t updated)
{
    uint8_t h[16];
    char etag[2 * sizeof(h) + 3];
    const char *lm = http_date(r->arena, updated);
    const char *inm = http_req_header(r, "If-None-Match");
    const char *ims = http_req_header(r, "If-Modified-Since");
    bool fresh;

    crypto_generichash(h, sizeof(h), (const uint8_t *)b->data, b->len, NULL, 0);
    etag[0] = '"';
    for (size_t i = 0; i < sizeof(h); i++)
        snprintf(etag + 1 + 2 * i, 3, "%02x", h[i]);
    etag[1 + 2 * sizeof(h)] = '"';
    etag[2 + 2 * sizeof(h)] = '\0';
    http_resp_header(r, "ETag", etag);
    http_resp_header(r, "Last-Modified", lm);
    http_resp_header(r, "Cache-Control", "public, max-age=60");
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "X-Content-Type-Options", "nosniff");
    /* RFC 9110 §13.2.2: If-None-Match, when present, decides alone. */
    if (inm)
        fresh = strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
    else
        fresh = ims && strcmp(ims, lm) == 0;
    if (fresh) {
        buf_free(b);
        http_resp_send(r, 304, NULL, NULL, 0);
        return;
    }
    http_resp_send_buf(r, 200, FEED_CTYPE, b);
}

/* ?max_id= as an id (0 when absent); false (and 400 answered) when malformed. */
static bool feed_max_id(struct http_req *r, int64_t *out)
{
    const char *s = web_query_get(r, "max_id");

    *out = 0;
    if (s == NULL || *s == '\0')
        return true;
    if (api_masto_id(s, out))
        return true;
    http_resp_text(r, 400, "max_id must be a post id\n");
    return false;
}

static void account_head(struct feed *f, struct buf *b, const struct account *a)
{
    const char *profile = profile_url(f, a->username);
    const char *name = a->display_name[0] ? a->display_name : a->username;
    const char *avatar = a->has_avatar
                             ? arena_printf(f->r->arena, "%s/avatars/%s", f->base, a->username)
                             : arena_printf(f->r->arena, "%s/static/missing.png", f->base);

    xml_el(b, "id", profile);
    xml_el(b, "title", arena_printf(f->r->arena, "%s (@%s)", name, a->username));
    if (a->bio[0])
        xml_el(b, "subtitle", a->bio);
    xml_date(b, "updated", f->updated);
    buf_appends(b, "<author>\n");
    xml_el(b, "name", name);
    xml_el(b, "uri", profile);
    buf_appends(b, "</author>\n");
    xml_link(b, "alternate", "text/html", profile);
    xml_el(b, "icon", avatar);
    xml_el(b, "logo", avatar);
}

static void handle_account_feed(struct http_req *r)
{
    struct web_app *app = r->app;
    struct account a;
    struct store_mb_page pg = {.limit = FEED_ENTRIES};
    struct store_mb_list *l;
    struct feed *f;
    struct buf b;

    if (store_account_get_by_name(app->store, http_req_param(r, "name"), &a) != TD_OK) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    if (a.disabled) {
        store_account_clear(&a);
        http_resp_text(r, 404, "not found\n");
        return;
    }
    if (!feed_max_id(r, &pg.max_id)) {
        store_account_clear(&a);
        return;
    }
    l = arena_alloc(r->arena, sizeof(*l));
    f = arena_alloc(r->arena, sizeof(*f));
    feed_init(f, r);
    l->n = 0;
    if (mb_account(app->mb, 0, a.id, STORE_MB_EXCLUDE_REBLOGS, &pg, l) != TD_OK ||
        entries_load(f, l) != TD_OK) {
        store_account_clear(&a);
        feed_free(f);
        http_resp_text(r, 500, "the feed cannot be read now\n");
        return;
    }
    if (a.updated_at > f->updated)
        f->updated = a.updated_at; /* the title and icon come from the profile */
    buf_init(&b, 0);
    feed_head(&b);
    account_head(f, &b, &a);
    feed_paging(f, &b, arena_printf(r->arena, "%s/feed.atom", profile_url(f, a.username)),
                pg.max_id);
    feed_tail(f, &b);
    feed_free(f);
    store_account_clear(&a);
    feed_send(r, &b, f->updated);
}

/* The tag's normalized name as posts store it ("Café" -> "café"), or NULL
 * when raw is not a hashtag. */
static const char *tag_name(struct http_req *r, const char *raw)
{
    struct mb_text t;
    const char *name = NULL;
    char *src = arena_printf(r->arena, "#%s", raw ? raw : "");

    memset(&t, 0, sizeof(t)); /* mb_text_free() below also when not parsed */
    if (raw && strlen(raw) <= STORE_MB_TAG_MAX &&
        mb_text_parse(src, strlen(src), STORE_MB_TAG_MAX + 1, &t) == TD_OK && t.n_ents == 1 &&
        t.ents[0].kind == MB_ENT_TAG && t.ents[0].off == 0 && t.ents[0].len == t.len)
        name = arena_strdup(r->arena, t.ents[0].value);
    mb_text_free(&t);
    return name;
}

static void handle_tag_feed(struct http_req *r)
{
    struct web_app *app = r->app;
    const char *tag = tag_name(r, http_req_param(r, "tag"));
    struct store_mb_page pg = {.limit = FEED_ENTRIES};
    struct store_mb_list *l;
    struct feed *f;
    struct buf b, u;

    /* Not a hashtag at all: nothing is there. A valid tag nobody used yet
     * is an empty feed, which readers subscribe to without complaint. */
    if (tag == NULL) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    if (!feed_max_id(r, &pg.max_id))
        return;
    l = arena_alloc(r->arena, sizeof(*l));
    f = arena_alloc(r->arena, sizeof(*f));
    feed_init(f, r);
    f->entry_authors = true;
    l->n = 0;
    if (mb_tag(app->mb, 0, tag, &pg, l) != TD_OK || entries_load(f, l) != TD_OK) {
        feed_free(f);
        http_resp_text(r, 500, "the feed cannot be read now\n");
        return;
    }
    /* An empty feed still needs an updated date; the minute keeps its ETag
     * stable for as long as caches may keep it. */
    if (f->updated == 0)
        f->updated = store_now_ms() / 60000 * 60000;
    buf_init(&u, 0);
    buf_printf(&u, "%s/tags/", f->base);
    http_url_encode(&u, tag, strlen(tag));
    buf_init(&b, 0);
    feed_head(&b);
    xml_el(&b, "id", u.data);
    xml_el(&b, "title", arena_printf(r->arena, "#%s", tag));
    xml_date(&b, "updated", f->updated);
    xml_link(&b, "alternate", "text/html", u.data);
    feed_paging(f, &b, arena_printf(r->arena, "%s/feed.atom", u.data), pg.max_id);
    feed_tail(f, &b);
    feed_free(f);
    buf_free(&u);
    feed_send(r, &b, f->updated);
}

void web_feed_routes(struct web_app *app)
{
    web_app_route_bare(app, "GET", "/@:name/feed.atom", handle_account_feed);
    web_app_route_bare(app, "GET", "/tags/:tag/feed.atom", handle_tag_feed);
}
