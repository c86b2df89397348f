/* SPDX-License-Identifier: MIT */
/* HTTP File Upload (XEP-0363), the service XEP-0479 asks of an IM server.
 *
 * XMPP side, on the subdomain xmpp.upload_domain (route_domain hook):
 * disco#info (§2: identity store/file, the feature, and the XEP-0128 form
 * with max-file-size), the server's disco#items lists the service, and a
 * slot request (§3) from a local user gets a PUT and a GET URL. Errors
 * (§4): a file over the limit is not-acceptable with <file-too-large> and
 * <max-file-size>; a missing or bad filename/size/content-type is
 * bad-request; a user over the quota (UPLOAD_QUOTA_BYTES, UPLOAD_QUOTA_FILES)
 * gets resource-constraint of type cancel without <retry/>: files are kept
 * for good (no expiry yet), so waiting would not help (§4's <retry stamp>
 * is for temporary limits).
 *
 * Slots keep no state: the PUT URL is
 *   <base_url>/upload/<owner>/<id>/<name>?e=<expiry>&s=<size>&sig=<hmac>
 * where owner is a keyed hash of the user's bare JID (so the quota counts
 * the files under <data_dir>/uploads/<owner>/ without a database and the
 * URL does not name the user), id is random, and sig is HMAC-SHA-256 with
 * the store secret "upload" over owner, id, name, expiry, size and the
 * requested content type (empty when the request named none: then any
 * Content-Type is taken). A slot is good for UPLOAD_SLOT_TTL seconds.
 *
 * HTTP side (§5): PUT checks the signature, the expiry, Content-Length ==
 * size and Content-Type == the slot's, then writes the file on libuv's
 * thread pool: a temporary file, then link() to the final name, which
 * fails when it exists (409: a slot is written once). The content type is
 * kept next to it in <id>/.type (names never start with '.'). GET and HEAD
 * read it on the thread pool too and serve it with that type, nosniff, a
 * CSP sandbox, inline for images and attachment otherwise. CORS: every
 * answer carries Access-Control-Allow-Origin: *, OPTIONS is the preflight.
 * The HTTP body limit is raised to xmpp.upload_max_bytes for PUTs on this
 * route only (xmpp_upload_body_limit, called by the HTTP server when a
 * request head is complete). Files are kept until an operator deletes
 * them. */
#include "xmpp/xmpp_upload.h"

#include "core/buf.h"
#include "core/codec.h"
#include "core/err.h"
#include "core/log.h"
#include "core/utf8.h"
#include "http/http_form.h"
#include "store/store.h"
#include "xmpp/xmpp_c2s_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define NS_UPLOAD "urn:xmpp:http:upload:0"
#define UPLOAD_SLOT_TTL 300                      /* seconds a PUT URL is good for */
#define UPLOAD_QUOTA_BYTES (100ull * 1024 * 1024) /* per user, stored files */
#define UPLOAD_QUOTA_FILES 1000                  /* per user */
#define UPLOAD_NAME_MAX 200                      /* bytes of a file name */
#define UPLOAD_TYPE_MAX 128                      /* bytes of a content type */
#define UPLOAD_HEX 24                            /* hex digits of owner and id */
#define UPLOAD_ALLOW "GET, HEAD, PUT, OPTIONS"

struct upload {
    bool on;
    char *domain;
    char *base_url;
    char *dir; /* <data_dir>/uploads */
    size_t max_bytes;
    uint8_t key[crypto_auth_hmacsha256_KEYBYTES];
};

extern const struct xmpp_mod xmpp_mod_upload;

static struct upload *upload_of(const struct xmpp_c2s *srv)
{
    for (size_t i = 0; i < xmpp__nmods; i++)
        if (xmpp__mods[i] == &xmpp_mod_upload)
            return srv->mod[i];
    return NULL;
}

/* ---- names, types and signatures ---- */

/* A file name a slot may carry: 1..UPLOAD_NAME_MAX bytes of UTF-8 without
 * controls (C0, DEL, C1), no path separators, not starting with '.' (no "..", no hidden
 * files, and room for our .type). */
static bool name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > UPLOAD_NAME_MAX || n[0] == '.' || !utf8_valid(n, len) ||
        utf8_has_controls(n, len))
        return false;
    for (size_t i = 0; i < len; i++)
        if (n[i] == '/' || n[i] == '\\' || (unsigned char)n[i] < 0x20 || n[i] == 0x7f ||
            ((unsigned char)n[i] == 0xc2 && (unsigned char)n[i + 1] >= 0x80 &&
             (unsigned char)n[i + 1] <= 0x9f)) /* C1 controls, U+0080..U+009F */
            return false;
    return true;
}

/* A media type as type/subtype[;params] of printable ASCII, no quotes or
 * angle brackets (it goes into XML attributes and a response header). */
static bool type_ok(const char *t)
{
    size_t len = strlen(t);
    const char *slash = strchr(t, '/');

    if (len == 0 || len > UPLOAD_TYPE_MAX || !slash || slash == t || slash[1] == '\0')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c > 0x7e || strchr("\"<>\\'", c))
            return false;
    }
    return true;
}

static bool hex_ok(const char *s)
{
    if (strlen(s) != UPLOAD_HEX)
        return false;
    for (size_t i = 0; i < UPLOAD_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void sign(const struct upload *up, const char *owner, const char *id, const char *name,
                 long long expiry, unsigned long long size, const char *type,
                 uint8_t out[crypto_auth_hmacsha256_BYTES])
{
    struct buf m;

    buf_init(&m, 0);
    buf_printf(&m, "v1\n%s\n%s\n%s\n%lld\n%llu\n%s", owner, id, name, expiry, size, type);
    crypto_auth_hmacsha256(out, (const unsigned char *)m.data, m.len, up->key);
    buf_free(&m);
}

/* The owner folder of a bare JID: a keyed hash, so it names nobody. */
static void owner_of(const struct upload *up, const char *bare, char out[UPLOAD_HEX + 1])
{
    uint8_t h[crypto_auth_hmacsha256_BYTES];
    struct buf b;

    crypto_auth_hmacsha256(h, (const unsigned char *)bare, strlen(bare), up->key);
    buf_init(&b, 0);
    codec_hex_encode(&b, h, UPLOAD_HEX / 2);
    memcpy(out, b.data, UPLOAD_HEX);
    out[UPLOAD_HEX] = '\0';
    buf_free(&b);
}

/* Files and bytes under an owner's folder (<owner>/<id>/<name>). Runs on
 * the loop for a slot request: bounded by UPLOAD_QUOTA_FILES stat calls. */
static void usage_of(const char *owner_dir, unsigned long long *bytes, size_t *files)
{
    DIR *d = opendir(owner_dir);
    struct dirent *e;

    *bytes = 0;
    *files = 0;
    if (!d)
        return;
    while ((e = readdir(d)) != NULL && *files <= UPLOAD_QUOTA_FILES) {
        char sub[4200];
        DIR *d2;
        struct dirent *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", owner_dir, e->d_name);
        if (!(d2 = opendir(sub)))
            continue;
        while ((f = readdir(d2)) != NULL) {
            char p[4500];
            struct stat st;

            if (f->d_name[0] == '.')
                continue;
            snprintf(p, sizeof(p), "%s/%s", sub, f->d_name);
            if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
                *bytes += (unsigned long long)st.st_size;
                (*files)++;
            }
        }
        closedir(d2);
    }
    closedir(d);
}

static bool over_quota(const char *owner_dir, unsigned long long adding)
{
    unsigned long long bytes;
    size_t files;

    usage_of(owner_dir, &bytes, &files);
    return files + 1 > UPLOAD_QUOTA_FILES || bytes + adding > UPLOAD_QUOTA_BYTES;
}

/* ---- XMPP side ---- */

static const char *const upload_features[] = {XMPP_NS_DISCO_INFO, NS_UPLOAD, NULL};

static void disco_info(struct xmpp_session *s, struct upload *up, struct xmpp_el *iq)
{
    struct buf b;

    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, up->domain);
    buf_appends(&b, " to='");
    xmpp__esc(&b, s->full);
    buf_appends(&b, "'><query xmlns='" XMPP_NS_DISCO_INFO "'>"
                    "<identity category='store' type='file' name='HTTP File Upload'/>");
    for (size_t i = 0; upload_features[i]; i++)
        buf_printf(&b, "<feature var='%s'/>", upload_features[i]);
    /* §2: XEP-0128 extended information with the size limit. */
    buf_printf(&b,
               "<x xmlns='jabber:x:data' type='result'>"
               "<field var='FORM_TYPE' type='hidden'><value>" NS_UPLOAD "</value></field>"
               "<field var='max-file-size'><value>%zu</value></field></x></query></iq>",
               up->max_bytes);
    xmpp__send_stanza(s, b.data, b.len);
    buf_free(&b);
}

static void url_of(struct buf *b, const struct upload *up, const char *owner, const char *id,
                   const char *name)
{
    buf_appends(b, up->base_url);
    buf_printf(b, "/upload/%s/%s/", owner, id);
    http_url_encode(b, name, strlen(name));
}

static void slot_request(struct xmpp_session *s, struct upload *up, struct xmpp_el *iq,
                         struct xmpp_el *q)
{
    const char *name = xmpp_el_attr(q, "filename");
    const char *size_s = xmpp_el_attr(q, "size");
    const char *type = xmpp_el_attr(q, "content-type");
    char owner[UPLOAD_HEX + 1], id[UPLOAD_HEX + 1], owner_dir[4200];
    uint8_t rnd[UPLOAD_HEX / 2], mac[crypto_auth_hmacsha256_BYTES];
    unsigned long long size;
    char *end;
    struct buf b, tmp;

    if (!name || !name_ok(name)) {
        xmpp__stanza_error_app(s, iq, "bad-request", NULL,
                               "<text xmlns='" XMPP_NS_STANZAS "'>The filename is missing, too "
                               "long, or has path separators or control characters</text>");
        return;
    }
    size = 0;
    if (size_s && size_s[0] >= '0' && size_s[0] <= '9') {
        errno = 0;
        size = strtoull(size_s, &end, 10);
        if (errno || *end != '\0')
            size = 0;
    }
    if (size == 0) {
        xmpp__stanza_error_app(s, iq, "bad-request", NULL,
                               "<text xmlns='" XMPP_NS_STANZAS "'>The size must be a positive "
                               "number of bytes</text>");
        return;
    }
    if (type && !type_ok(type)) {
        xmpp__stanza_error_app(s, iq, "bad-request", NULL,
                               "<text xmlns='" XMPP_NS_STANZAS "'>Not a media type</text>");
        return;
    }
    if (size > up->max_bytes) {
        char app[256];
        snprintf(app, sizeof(app),
                 "<text xmlns='" XMPP_NS_STANZAS "'>File too large</text>"
                 "<file-too-large xmlns='" NS_UPLOAD "'><max-file-size>%zu</max-file-size>"
                 "</file-too-large>",
                 up->max_bytes);
        xmpp__stanza_error_app(s, iq, "not-acceptable", "modify", app);
        return;
    }
    owner_of(up, s->bare, owner);
    snprintf(owner_dir, sizeof(owner_dir), "%s/%s", up->dir, owner);
    if (over_quota(owner_dir, size)) {
        xmpp__stanza_error_app(s, iq, "resource-constraint", "cancel",
                               "<text xmlns='" XMPP_NS_STANZAS "'>Upload quota reached</text>");
        return;
    }
    randombytes_buf(rnd, sizeof(rnd));
    buf_init(&tmp, 0);
    codec_hex_encode(&tmp, rnd, sizeof(rnd));
    memcpy(id, tmp.data, UPLOAD_HEX);
    id[UPLOAD_HEX] = '\0';
    buf_free(&tmp);
    long long expiry = (long long)time(NULL) + UPLOAD_SLOT_TTL;
    sign(up, owner, id, name, expiry, size, type ? type : "", mac);

    buf_init(&tmp, 0);
    url_of(&tmp, up, owner, id, name);
    buf_printf(&tmp, "?e=%lld&s=%llu&sig=", expiry, size);
    codec_hex_encode(&tmp, mac, sizeof(mac));
    buf_init(&b, 0);
    xmpp__iq_result_open(&b, iq, up->domain);
    buf_appends(&b, " to='");
    xmpp__esc(&b, s->full);
    buf_appends(&b, "'><slot xmlns='" NS_UPLOAD "'><put url='");
    xmpp__esc(&b, tmp.data);
    buf_appends(&b, "'/><get url='");
    buf_reset(&tmp);
    url_of(&tmp, up, owner, id, name);
    xmpp__esc(&b, tmp.data);
    buf_appends(&b, "'/></slot></iq>");
    xmpp__send_stanza(s, b.data, b.len);
    log_info("xmpp.upload_slot", "conn=%llu owner=%s id=%s size=%llu", (unsigned long long)s->id,
             owner, id, size);
    buf_free(&tmp);
    buf_free(&b);
}

static int upload_route_domain(struct xmpp_session *s, int slot, struct xmpp_el *el,
                               const struct xmpp_jid *to, struct arena *a)
{
    struct upload *up = s->srv->mod[slot];
    const char *type = xmpp_el_attr(el, "type");

    (void)a;
    if (!up || !up->on || strcmp(to->domain, up->domain) != 0)
        return XMPP_MOD_PASS;
    if (strcmp(el->name, "presence") == 0)
        return XMPP_MOD_HANDLED; /* nothing to subscribe to: dropped */
    if (strcmp(el->name, "message") == 0) {
        xmpp__stanza_error(s, el, "service-unavailable");
        return XMPP_MOD_HANDLED;
    }
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return XMPP_MOD_HANDLED; /* iq results and errors to us: dropped */
    if (to->local || to->resource) {
        xmpp__stanza_error(s, el, "service-unavailable");
        return XMPP_MOD_HANDLED;
    }
    struct xmpp_el *q = xmpp_el_child(el, NULL, NULL);
    if (!q) {
        xmpp__stanza_error(s, el, "bad-request");
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, XMPP_NS_DISCO_INFO) == 0 && !xmpp_el_attr(q, "node")) {
        disco_info(s, up, el);
    } else if (strcmp(type, "get") == 0 && strcmp(q->name, "query") == 0 &&
               strcmp(q->ns, XMPP_NS_DISCO_ITEMS) == 0) {
        struct buf b;
        buf_init(&b, 0);
        xmpp__iq_result_open(&b, el, up->domain);
        buf_appends(&b, " to='");
        xmpp__esc(&b, s->full);
        buf_appends(&b, "'><query xmlns='" XMPP_NS_DISCO_ITEMS "'/></iq>");
        xmpp__send_stanza(s, b.data, b.len);
        buf_free(&b);
    } else if (strcmp(q->name, "request") == 0 && strcmp(q->ns, NS_UPLOAD) == 0) {
        if (strcmp(type, "get") != 0)
            xmpp__stanza_error(s, el, "bad-request");
        else
            slot_request(s, up, el, q);
    } else {
        xmpp__stanza_error(s, el, "service-unavailable");
    }
    return XMPP_MOD_HANDLED;
}

static void upload_disco_items(struct xmpp_c2s *srv, int slot, struct buf *out)
{
    struct upload *up = srv->mod[slot];

    if (!up || !up->on)
        return;
    buf_appends(out, "<item jid='");
    xmpp__esc(out, up->domain);
    buf_appends(out, "' name='HTTP File Upload'/>");
}

static int upload_init(struct xmpp_c2s *srv, int slot)
{
    srv->mod[slot] = td_calloc(1, sizeof(struct upload));
    return TD_OK;
}

static void upload_fini(struct xmpp_c2s *srv, int slot)
{
    struct upload *up = srv->mod[slot];

    if (!up)
        return;
    free(up->domain);
    free(up->base_url);
    free(up->dir);
    sodium_memzero(up->key, sizeof(up->key));
    free(up);
    srv->mod[slot] = NULL;
}

int xmpp_upload_configure(struct xmpp_c2s *srv, const struct xmpp_upload_opts *o, char **err)
{
    struct upload *up = upload_of(srv);
    int rc;

    if (!up || !o->domain || !o->domain[0])
        return TD_OK;
    rc = store_secret_get(srv->store, "upload", up->key, sizeof(up->key));
    if (rc != TD_OK) {
        if (err) {
            size_t n = 64;
            *err = td_malloc(n);
            snprintf(*err, n, "cannot load the upload signing key (%d)", rc);
        }
        return rc;
    }
    up->domain = td_strdup(o->domain);
    up->base_url = td_strdup(o->base_url);
    size_t n = strlen(o->data_dir) + sizeof("/uploads");
    up->dir = td_malloc(n);
    snprintf(up->dir, n, "%s/uploads", o->data_dir);
    up->max_bytes = o->max_bytes;
    up->on = true;
    log_info("xmpp.upload_started", "domain=%s max_bytes=%zu dir=%s", log_q(up->domain),
             up->max_bytes, log_q(up->dir));
    return TD_OK;
}

const struct xmpp_mod xmpp_mod_upload = {
    .name = "upload",
    .init = upload_init,
    .fini = upload_fini,
    .route_domain = upload_route_domain,
    .disco_items = upload_disco_items,
};

/* ---- HTTP side ---- */

enum job_op { JOB_NONE, JOB_PUT, JOB_GET };

/* A file operation on the thread pool. Everything it reads lives in the
 * request's arena, which stays valid until the request is answered (even
 * when the client went away), so the job needs nothing from the server. */
struct job {
    uv_work_t w;
    struct http_req *r;
    enum job_op op;
    const char *owner_dir; /* <uploads>/<owner> */
    const char *dir;       /* <owner_dir>/<id> */
    const char *path;      /* <dir>/<name> */
    const char *name;
    const char *type;      /* PUT: the type to keep */
    size_t max_bytes;      /* GET: largest file served */
    int status;
    const char *why;
    struct buf out;        /* GET: the file */
    char ctype[UPLOAD_TYPE_MAX + 1];
};

static void cors(struct http_req *r)
{
    http_resp_header(r, "Access-Control-Allow-Origin", "*");
    http_resp_header(r, "Access-Control-Allow-Methods", UPLOAD_ALLOW);
    http_resp_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int mkdir_ok(const char *p)
{
    return mkdir(p, 0750) == 0 || errno == EEXIST ? 0 : -1;
}

/* tmp + fsync + link (fails on an existing name), then the .type beside it. */
static void work_put(struct job *j)
{
    struct http_req *r = j->r;
    char *tmp = arena_printf(r->arena, "%s/.tmp-XXXXXX", j->dir);
    char *parent = arena_strdup(r->arena, j->owner_dir);
    char *slash = strrchr(parent, '/');
    struct stat st;
    int fd;

    if (slash)
        *slash = '\0';
    if (mkdir_ok(parent) != 0 || mkdir_ok(j->owner_dir) != 0 || mkdir_ok(j->dir) != 0) {
        j->status = 500, j->why = "cannot create the upload folder\n";
        return;
    }
    if (stat(j->path, &st) == 0) {
        j->status = 409, j->why = "this slot has been uploaded already\n";
        return;
    }
    if (over_quota(j->owner_dir, r->body_len)) {
        j->status = 403, j->why = "upload quota reached\n";
        return;
    }
    if ((fd = mkstemp(tmp)) < 0) {
        j->status = 500, j->why = "cannot create the file\n";
        return;
    }
    int ok = write_all(fd, r->body, r->body_len) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(tmp);
        j->status = 500, j->why = "cannot write the file\n";
        return;
    }
    if (link(tmp, j->path) != 0) {
        int e = errno;
        unlink(tmp);
        j->status = e == EEXIST ? 409 : 500;
        j->why = e == EEXIST ? "this slot has been uploaded already\n" : "cannot store the file\n";
        return;
    }
    unlink(tmp);
    char *tpath = arena_printf(r->arena, "%s/.type", j->dir);
    char *ttmp = arena_printf(r->arena, "%s/.type-XXXXXX", j->dir);
    if ((fd = mkstemp(ttmp)) >= 0) {
        ok = write_all(fd, j->type, strlen(j->type)) == 0;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(ttmp, tpath) != 0)
            unlink(ttmp);
    }
    j->status = 201;
}

static void work_get(struct job *j)
{
    struct http_req *r = j->r;
    struct stat st;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC);

    j->status = 404, j->why = "no such file\n";
    if (fd < 0)
        return;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > j->max_bytes) {
        close(fd);
        return;
    }
    buf_init(&j->out, (size_t)st.st_size + 1);
    size_t want = (size_t)st.st_size;
    char chunk[65536];
    while (j->out.len < want) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || buf_append(&j->out, chunk, (size_t)n) != TD_OK)
            break;
    }
    close(fd);
    if (j->out.len != want) {
        j->status = 500, j->why = "cannot read the file\n";
        return;
    }
    snprintf(j->ctype, sizeof(j->ctype), "application/octet-stream");
    char *tpath = arena_printf(r->arena, "%s/.type", j->dir);
    if ((fd = open(tpath, O_RDONLY | O_CLOEXEC)) >= 0) {
        char t[UPLOAD_TYPE_MAX + 1];
        ssize_t n = read(fd, t, UPLOAD_TYPE_MAX);
        close(fd);
        if (n > 0) {
            t[n] = '\0';
            if (type_ok(t))
                memcpy(j->ctype, t, (size_t)n + 1);
        }
    }
    j->status = 200;
}

static void job_work(uv_work_t *w)
{
    struct job *j = w->data;

    if (j->op == JOB_PUT)
        work_put(j);
    else
        work_get(j);
}

static void job_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    struct http_req *r = j->r;

    if (status != 0 && j->status == 0)
        j->status = 500, j->why = "cancelled\n";
    if (j->op == JOB_PUT) {
        if (j->status == 201)
            log_info("xmpp.upload_stored", "req=%s path=%s bytes=%zu", r->id_str,
                     log_q(r->path), r->body_len);
        http_resp_text(r, j->status, j->status == 201 ? "created\n" : j->why);
    } else if (j->status == 200) {
        bool image = strncmp(j->ctype, "image/", 6) == 0 && !strstr(j->ctype, "svg");
        struct buf cd;
        buf_init(&cd, 0);
        buf_appends(&cd, image ? "inline" : "attachment");
        buf_appends(&cd, "; filename*=UTF-8''");
        http_url_encode(&cd, j->name, strlen(j->name));
        http_resp_header(r, "Content-Disposition", cd.data);
        buf_free(&cd);
        http_resp_header(r, "X-Content-Type-Options", "nosniff");
        http_resp_header(r, "Content-Security-Policy", "default-src 'none'; sandbox");
        http_resp_header(r, "Cache-Control", "public, max-age=86400, immutable");
        http_resp_send_buf(r, 200, j->ctype, &j->out);
    } else {
        http_resp_text(r, j->status, j->why);
    }
    buf_free(&j->out);
    free(j);
}

static void handle_put(struct upload *up, struct http_req *r, struct job *j, const char *owner,
                       const char *id, const char *name)
{
    struct http_kvlist q;
    const char *e, *sz, *sig, *ctype = http_req_header(r, "Content-Type");
    const char *clen = http_req_header(r, "Content-Length");
    uint8_t want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
    size_t got_len = 0;
    char *end;

    if (http_form_parse(r->arena, r->query, strlen(r->query), 8, &q) != TD_OK ||
        !(e = http_kv_get(&q, "e")) || !(sz = http_kv_get(&q, "s")) ||
        !(sig = http_kv_get(&q, "sig")) ||
        codec_hex_decode(sig, strlen(sig), got, sizeof(got), &got_len) != TD_OK ||
        got_len != sizeof(got)) {
        http_resp_text(r, 403, "not an upload slot: the URL lacks its signature\n");
        return;
    }
    /* Digits only (strtoll would take signs and spaces). */
    bool bad = !*e || !*sz || strspn(e, "0123456789") != strlen(e) ||
               strspn(sz, "0123456789") != strlen(sz);
    long long expiry = 0;
    unsigned long long size = 0;
    if (!bad) {
        errno = 0;
        expiry = strtoll(e, &end, 10);
        size = strtoull(sz, &end, 10);
        bad = errno != 0;
    }
    /* The slot's type is signed: the Content-Type sent must be it, unless the
     * slot was asked without one (signed as ""). */
    bool match = false;
    if (!bad && ctype && type_ok(ctype)) {
        sign(up, owner, id, name, expiry, size, ctype, want);
        match = crypto_verify_32(want, got) == 0;
    }
    if (!bad && !match) {
        sign(up, owner, id, name, expiry, size, "", want);
        match = crypto_verify_32(want, got) == 0;
    }
    if (bad || !match) {
        http_resp_text(r, 403, "signature mismatch: the URL, size or Content-Type differ from "
                               "the slot\n");
        return;
    }
    if (expiry < (long long)time(NULL)) {
        http_resp_text(r, 403, "this upload slot has expired\n");
        return;
    }
    if (!clen || r->body_len != size) {
        http_resp_text(r, 400, "the Content-Length differs from the size of the slot\n");
        return;
    }
    j->op = JOB_PUT;
    j->type = ctype && type_ok(ctype) ? arena_strdup(r->arena, ctype) : "application/octet-stream";
}

void xmpp_upload_http(struct xmpp_c2s *srv, struct http_req *r)
{
    struct upload *up = srv ? upload_of(srv) : NULL;
    const char *owner = http_req_param(r, "owner");
    const char *id = http_req_param(r, "id");
    const char *name = http_req_param(r, "name");
    struct job *j;

    if (!up || !up->on) {
        http_resp_text(r, 404, "file upload is off on this server\n");
        return;
    }
    cors(r);
    if (!owner || !id || !name || !hex_ok(owner) || !hex_ok(id) || !name_ok(name)) {
        http_resp_text(r, strcmp(r->method, "PUT") == 0 ? 403 : 404,
                       "no upload at this address\n");
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        http_resp_header(r, "Access-Control-Max-Age", "86400");
        http_resp_send(r, 204, NULL, "", 0);
        return;
    }
    j = td_calloc(1, sizeof(*j));
    j->w.data = j;
    j->r = r;
    j->name = name;
    j->max_bytes = up->max_bytes > UPLOAD_QUOTA_BYTES ? up->max_bytes : UPLOAD_QUOTA_BYTES;
    j->owner_dir = arena_printf(r->arena, "%s/%s", up->dir, owner);
    j->dir = arena_printf(r->arena, "%s/%s", j->owner_dir, id);
    j->path = arena_printf(r->arena, "%s/%s", j->dir, name);
    j->status = 0;
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
        j->op = JOB_GET;
    } else if (strcmp(r->method, "PUT") == 0) {
        handle_put(up, r, j, owner, id, name);
        if (j->op != JOB_PUT) { /* answered */
            free(j);
            return;
        }
    } else {
        free(j);
        http_resp_header(r, "Allow", UPLOAD_ALLOW);
        http_resp_text(r, 405, "use GET, HEAD, PUT or OPTIONS here\n");
        return;
    }
    uv_queue_work(srv->loop, &j->w, job_work, job_done);
}

size_t xmpp_upload_body_limit(const struct xmpp_c2s *srv, const struct http_req *r)
{
    const struct upload *up = srv ? upload_of(srv) : NULL;

    if (!up || !up->on || !r->method || !r->path || strcmp(r->method, "PUT") != 0 ||
        strncmp(r->path, "/upload/", 8) != 0)
        return 0;
    return up->max_bytes;
}
