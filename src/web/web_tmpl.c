/* SPDX-License-Identifier: MIT */
/* Loads every *.mustache file of the templates directory at start-up,
 * compiles it once, and renders by name. Templates refer to each other as
 * partials and layouts by file name without the extension
 * ({{<layout}}...{{/layout}}). */
#include "core/err.h"
#include "core/log.h"
#include "web/mustache.h"
#include "web/web.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TMPL_MAX_FILES 256
#define TMPL_MAX_BYTES (1u << 20)

struct tmpl_entry {
    char *name;          /* file name without ".mustache" */
    char *src;
    size_t len;
    struct mustache *compiled;
};

struct web_tmpl {
    struct tmpl_entry items[TMPL_MAX_FILES];
    size_t n;
};

static struct tmpl_entry *find(struct web_tmpl *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i].name, name) == 0)
            return &t->items[i];
    return NULL;
}

static const char *partial_src(void *ud, const char *name, size_t *len)
{
    struct tmpl_entry *e = find(ud, name);
    if (e == NULL)
        return NULL;
    *len = e->len;
    return e->src;
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[4096];
    size_t n;
    int rc = TD_OK;

    if (f == NULL)
        return TD_EIO;
    buf_init(&b, TMPL_MAX_BYTES);
    while (rc == TD_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rc = buf_append(&b, chunk, n);
    fclose(f);
    if (rc != TD_OK) {
        buf_free(&b);
        return rc;
    }
    *out = buf_steal(&b, len);
    return TD_OK;
}

int web_tmpl_load(const char *dir, struct web_tmpl **out, char **err)
{
    struct web_tmpl *t = td_calloc(1, sizeof(*t));
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    char msg[4200];
    int rc = TD_OK;

    if (d == NULL) {
        snprintf(msg, sizeof(msg), "templates directory %s: %s", dir, strerror(errno));
        *err = td_strdup(msg);
        free(t);
        return TD_EIO;
    }
    while (rc == TD_OK && (de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (nl <= 9 || strcmp(de->d_name + nl - 9, ".mustache") != 0 || de->d_name[0] == '.')
            continue;
        if (t->n == TMPL_MAX_FILES) {
            *err = td_strdup("too many templates");
            rc = TD_ETOOBIG;
            break;
        }
        struct tmpl_entry *e = &t->items[t->n];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        rc = read_all(path, &e->src, &e->len);
        if (rc != TD_OK) {
            snprintf(msg, sizeof(msg), "template %s: %s", path, td_strerror(rc));
            *err = td_strdup(msg);
            break;
        }
        e->name = td_strndup(de->d_name, nl - 9);
        t->n++;
        char *cerr = NULL;
        rc = mustache_compile(e->src, e->len, &e->compiled, &cerr);
        if (rc != TD_OK) {
            snprintf(msg, sizeof(msg), "template %s: %s", path, cerr ? cerr : "invalid");
            free(cerr);
            *err = td_strdup(msg);
        }
    }
    closedir(d);
    if (rc != TD_OK) {
        web_tmpl_free(t);
        return rc;
    }
    *out = t;
    return TD_OK;
}

void web_tmpl_free(struct web_tmpl *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->items[i].name);
        free(t->items[i].src);
        mustache_free(t->items[i].compiled);
    }
    free(t);
}

int web_tmpl_render(struct web_tmpl *t, const char *name, json_t *data, struct buf *out)
{
    struct tmpl_entry *e = find(t, name);

    if (e == NULL) {
        log_err("tmpl.missing", "name=%s", log_q(name));
        return TD_ENOTFOUND;
    }
    return mustache_render(e->compiled, data, partial_src, t, out);
}
