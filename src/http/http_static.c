/* SPDX-License-Identifier: MIT */
/* Static file handler; see http_static.h. Paths are checked twice: first
 * lexically (no "..", "." or empty segments, no NUL or backslash, no leading
 * dot), then by realpath() against the root, so a symlink cannot lead out. */
#include "http/http_static.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

struct entry {
    struct entry *next;
    char *path;         /* relpath */
    time_t checked_at;  /* last stat()/realpath() of the file (wall clock, seconds) */
    time_t mtime;
    off_t size;
    char etag[48];
    char last_modified[40];
    const char *mime;
    char *data;         /* file contents, size bytes */
    char *gz;           /* gzip form or NULL when not worth it */
    size_t gz_len;
};

struct http_static {
    char *root;         /* realpath of the root, no trailing slash */
    size_t root_len;
    struct entry *entries;
    size_t cached_bytes;
};

static const struct {
    const char *ext;
    const char *mime;
    bool compress;
} mimes[] = {
    {"html", "text/html; charset=utf-8", true},
    {"css", "text/css; charset=utf-8", true},
    {"js", "text/javascript; charset=utf-8", true},
    {"mjs", "text/javascript; charset=utf-8", true},
    {"json", "application/json", true},
    {"svg", "image/svg+xml", true},
    {"txt", "text/plain; charset=utf-8", true},
    {"xml", "application/xml", true},
    {"png", "image/png", false},
    {"jpg", "image/jpeg", false},
    {"jpeg", "image/jpeg", false},
    {"gif", "image/gif", false},
    {"webp", "image/webp", false},
    {"ico", "image/x-icon", false},
    {"woff2", "font/woff2", false},
    {"wasm", "application/wasm", false},
};

static int mime_index(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL || strchr(dot, '/'))
        return -1;
    for (size_t i = 0; i < TD_ARRAY_LEN(mimes); i++)
        if (strcasecmp(dot + 1, mimes[i].ext) == 0)
            return (int)i;
    return -1;
}

const char *http_static_mime(const char *name)
{
    int i = mime_index(name);
    return i < 0 ? "application/octet-stream" : mimes[i].mime;
}

struct http_static *http_static_new(const char *root, char **err)
{
    char real[PATH_MAX];
    struct http_static *st;

    if (realpath(root, real) == NULL) {
        char msg[PATH_MAX + 64];
        snprintf(msg, sizeof(msg), "static directory %s: %s", root, strerror(errno));
        *err = td_strdup(msg);
        return NULL;
    }
    st = td_calloc(1, sizeof(*st));
    st->root = td_strdup(real);
    st->root_len = strlen(real);
    return st;
}

static void entry_free(struct entry *e)
{
    free(e->path);
    free(e->data);
    free(e->gz);
    free(e);
}

void http_static_free(struct http_static *st)
{
    if (st == NULL)
        return;
    while (st->entries) {
        struct entry *n = st->entries->next;
        entry_free(st->entries);
        st->entries = n;
    }
    free(st->root);
    free(st);
}

/* Lexical check of a relative path. */
static bool path_ok(const char *rel)
{
    const char *p = rel;

    if (*p == '\0' || strlen(rel) > 1024)
        return false;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || p[0] == '.') /* "", ".", "..", and hidden files */
            return false;
        for (size_t i = 0; i < len; i++)
            if (p[i] == '\\' || (unsigned char)p[i] < 0x20)
                return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

static void gzip_entry(struct entry *e)
{
    z_stream z;
    size_t cap = compressBound((uLong)e->size) + 32;
    char *out;

    if (e->size < 256)
        return;
    memset(&z, 0, sizeof(z));
    /* windowBits 15 + 16 selects the gzip wrapper (RFC 1952). */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    out = td_malloc(cap);
    z.next_in = (Bytef *)e->data;
    z.avail_in = (uInt)e->size;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out < (uLong)e->size) {
        e->gz = out;
        e->gz_len = z.total_out;
    } else {
        free(out);
    }
    deflateEnd(&z);
}

static int read_file(const char *full, off_t size, char **out)
{
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    char *data;
    off_t got = 0;

    if (fd < 0)
        return TD_ENOTFOUND;
    data = td_malloc((size_t)size + 1);
    while (got < size) {
        ssize_t n = read(fd, data + got, (size_t)(size - got));
        if (n <= 0)
            break;
        got += n;
    }
    close(fd);
    if (got != size) {
        free(data);
        return TD_EIO;
    }
    *out = data;
    return TD_OK;
}

/* Find or (re)load the entry for rel; NULL if not servable. */
static struct entry *lookup(struct http_static *st, const char *rel, const char *full,
                            const struct stat *sb)
{
    struct entry **pp = &st->entries;
    struct entry *e;
    struct tm tm;

    while (*pp && strcmp((*pp)->path, rel) != 0)
        pp = &(*pp)->next;
    e = *pp;
    if (e && e->mtime == sb->st_mtime && e->size == sb->st_size)
        return e;
    if (e) { /* changed on disk */
        *pp = e->next;
        st->cached_bytes -= (size_t)e->size + e->gz_len;
        entry_free(e);
    }
    if (sb->st_size > (off_t)STATIC_CACHE_MAX_FILE ||
        st->cached_bytes + (size_t)sb->st_size > STATIC_CACHE_MAX_TOTAL)
        return NULL; /* too big to cache: the caller streams it uncached */
    e = td_calloc(1, sizeof(*e));
    if (read_file(full, sb->st_size, &e->data) != TD_OK) {
        free(e);
        return NULL;
    }
    e->path = td_strdup(rel);
    e->mtime = sb->st_mtime;
    e->size = sb->st_size;
    snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx\"", (unsigned long long)sb->st_mtime,
             (unsigned long long)sb->st_size);
    gmtime_r(&sb->st_mtime, &tm);
    strftime(e->last_modified, sizeof(e->last_modified), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    int mi = mime_index(rel);
    e->mime = mi < 0 ? "application/octet-stream" : mimes[mi].mime;
    if (mi >= 0 && mimes[mi].compress)
        gzip_entry(e);
    st->cached_bytes += (size_t)e->size + e->gz_len;
    e->next = st->entries;
    st->entries = e;
    return e;
}

static struct entry *fresh_entry(struct http_static *st, const char *rel, time_t now)
{
    for (struct entry *e = st->entries; e; e = e->next)
        if (strcmp(e->path, rel) == 0)
            return now - e->checked_at < 1 ? e : NULL;
    return NULL;
}

static bool accepts_gzip(const struct http_req *r)
{
    const char *ae = http_req_header(r, "Accept-Encoding");
    /* A "gzip;q=0" refusal is rare enough to treat as no. */
    return ae && strstr(ae, "gzip") && !strstr(ae, "gzip;q=0");
}

/* RFC 9110 §13.1.2: If-None-Match wins over If-Modified-Since. */
static bool not_modified(const struct http_req *r, const struct entry *e)
{
    const char *inm = http_req_header(r, "If-None-Match");
    const char *ims;

    if (inm)
        return strcmp(inm, "*") == 0 || strstr(inm, e->etag) != NULL;
    ims = http_req_header(r, "If-Modified-Since");
    return ims && strcmp(ims, e->last_modified) == 0;
}

void http_static_serve(struct http_static *st, struct http_req *r, const char *relpath)
{
    char full[PATH_MAX];
    char real[PATH_MAX];
    struct stat sb;
    struct entry *e;

    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        http_resp_header(r, "Allow", "GET, HEAD");
        http_resp_text(r, 405, "method not allowed\n");
        return;
    }
    if (!path_ok(relpath)) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    /* A file checked within the last second is served from memory without
     * touching the file system again (nginx's open_file_cache_valid idea). */
    e = fresh_entry(st, relpath, time(NULL));
    if (e)
        goto send;
    snprintf(full, sizeof(full), "%s/%s", st->root, relpath);
    if (realpath(full, real) == NULL || strncmp(real, st->root, st->root_len) != 0 ||
        real[st->root_len] != '/' || stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    e = lookup(st, relpath, real, &sb);
    if (e == NULL) {
        http_resp_text(r, 404, "not found\n");
        return;
    }
    e->checked_at = time(NULL);
send:
    http_resp_header(r, "ETag", e->etag);
    http_resp_header(r, "Last-Modified", e->last_modified);
    http_resp_header(r, "Cache-Control", "public, max-age=3600");
    if (e->gz)
        http_resp_header(r, "Vary", "Accept-Encoding");
    if (not_modified(r, e)) {
        http_resp_send(r, 304, NULL, NULL, 0);
        return;
    }
    if (e->gz && accepts_gzip(r)) {
        http_resp_header(r, "Content-Encoding", "gzip");
        http_resp_send(r, 200, e->mime, e->gz, e->gz_len);
        return;
    }
    http_resp_send(r, 200, e->mime, e->data, (size_t)e->size);
}
