/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for core/conf.h: the input is written to an in-memory
 * file (memfd, reused across inputs, no file system litter) and loaded with
 * conf_load() through its /proc/self/fd path, so libinih and the option
 * table see it exactly as a tandem.ini. Checked contracts (__builtin_trap()
 * on violation): TD_OK or TD_EINVAL only; on error a message is set and the
 * struct is zeroed; on success every string field is non-NULL, and the
 * effective configuration printed by conf_dump() loads again and prints
 * identically (dump/load round trip). TANDEM_* environment variables are
 * removed at start-up so only the input decides the result. */
#include "core/conf.h"
#include "core/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static int fz_fd = -1;
static char fz_path[64];

extern char **environ;

static void setup(void)
{
    /* Drop TANDEM_* overrides (restart the scan after each unsetenv). */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e; e++) {
            if (strncmp(*e, "TANDEM_", 7) == 0) {
                char name[256];
                const char *eq = strchr(*e, '=');
                size_t n = eq ? (size_t)(eq - *e) : strlen(*e);

                if (n >= sizeof(name))
                    n = sizeof(name) - 1;
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    fz_fd = memfd_create("fuzz_conf", 0);
    if (fz_fd < 0)
        abort();
    snprintf(fz_path, sizeof(fz_path), "/proc/self/fd/%d", fz_fd);
}

/* Replaces the memfd's contents with p[0..n). */
static void put(const void *p, size_t n)
{
    if (ftruncate(fz_fd, 0) != 0)
        abort();
    if (n > 0 && pwrite(fz_fd, p, n, 0) != (ssize_t)n)
        abort();
}

static char *dump(const struct conf *c, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);

    if (f == NULL)
        abort();
    conf_dump(c, f);
    fclose(f);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct conf c, c2;
    char *err = NULL, *text, *text2;
    size_t len, len2;
    int rc;

    if (fz_fd < 0)
        setup();
    put(data, size);
    rc = conf_load(&c, fz_path, &err);
    CHECK(rc == TD_OK || rc == TD_EINVAL);
    if (rc != TD_OK) {
        CHECK(err != NULL);
        CHECK(c.domain == NULL && c.data_dir == NULL);
        free(err);
        conf_free(&c);
        return 0;
    }
    CHECK(err == NULL || err[0] == '\0');
    free(err);
    CHECK(c.domain && c.base_url && c.http_host && c.tls_cert && c.tls_key && c.data_dir &&
          c.templates_dir && c.static_dir && c.signup_name && c.log_level_name);

    text = dump(&c, &len);
    put(text, len);
    err = NULL;
    CHECK(conf_load(&c2, fz_path, &err) == TD_OK);
    free(err);
    text2 = dump(&c2, &len2);
    CHECK(len == len2 && memcmp(text, text2, len) == 0);
    free(text);
    free(text2);
    conf_free(&c2);
    conf_free(&c);
    return 0;
}
