/* SPDX-License-Identifier: MIT */
/* Unit tests for core/conf: defaults, file and environment overrides, every
 * error class with its message (file:line or variable, and the option),
 * cross-option validation, dump round trip, reload, and the example file
 * staying in sync with conf_write_example(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/conf.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Remove every TANDEM_* variable so that the runner's environment cannot leak in. */
static int clear_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256];
        char **e;
        for (e = environ; *e; e++)
            if (strncmp(*e, "TANDEM_", 7) == 0 && strncmp(*e, "TANDEM_CONF_EXAMPLE=", 20) != 0)
                break;
        if (*e == NULL)
            break;
        const char *eq = strchr(*e, '=');
        size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
        assert_true(n < sizeof(name));
        memcpy(name, *e, n);
        name[n] = '\0';
        unsetenv(name);
    }
    return 0;
}

/* Write text to a fresh temporary file; returns its path (static buffer). */
static const char *write_tmp(const char *text)
{
    static char path[64];
    int fd;
    FILE *f;

    snprintf(path, sizeof(path), "/tmp/test_conf_XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* Load text; expect TD_EINVAL and an error containing every needle (NULL-ended). */
static void expect_error(const char *text, ...)
{
    struct conf c;
    char *err = NULL;
    const char *path = write_tmp(text);
    const char *needle;
    va_list ap;

    assert_int_equal(conf_load(&c, path, &err), TD_EINVAL);
    assert_non_null(err);
    assert_non_null(strstr(err, path));
    va_start(ap, text);
    while ((needle = va_arg(ap, const char *)) != NULL) {
        if (strstr(err, needle) == NULL)
            fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    }
    va_end(ap);
    /* The struct is left empty and freeable. */
    assert_null(c.domain);
    conf_free(&c);
    free(err);
    unlink(path);
}

/* Expect the exact error text "<path><suffix>". */
static void expect_error_exact(const char *text, const char *suffix)
{
    struct conf c;
    char *err = NULL;
    char want[512];
    const char *path = write_tmp(text);

    assert_int_equal(conf_load(&c, path, &err), TD_EINVAL);
    assert_non_null(err);
    snprintf(want, sizeof(want), "%s%s", path, suffix);
    assert_string_equal(err, want);
    free(err);
    unlink(path);
}

static char *dump_text(const struct conf *c)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    assert_non_null(f);
    conf_dump(c, f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void test_defaults(void **state)
{
    struct conf c;
    char *err = (char *)1;

    (void)state;
    assert_int_equal(conf_load(&c, NULL, &err), TD_OK);
    assert_null(err);
    assert_string_equal(c.domain, "localhost");
    assert_string_equal(c.base_url, "");
    assert_string_equal(c.http_host, "127.0.0.1");
    assert_int_equal(c.http_port, 8080);
    assert_int_equal(c.https_port, 0);
    assert_string_equal(c.tls_cert, "");
    assert_string_equal(c.tls_key, "");
    assert_string_equal(c.data_dir, "var");
    assert_string_equal(c.templates_dir, "templates");
    assert_string_equal(c.static_dir, "static");
    assert_int_equal(c.threads, 4);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.max_connections_per_ip, 512);
    assert_int_equal(c.shutdown_timeout, 10);
    assert_int_equal(c.max_header_bytes, 16384);
    assert_int_equal(c.max_headers, 64);
    assert_int_equal(c.max_url_bytes, 8192);
    assert_int_equal(c.max_body_bytes, 10485760);
    assert_int_equal(c.header_timeout, 10);
    assert_int_equal(c.body_timeout, 30);
    assert_int_equal(c.idle_timeout, 60);
    assert_int_equal(c.signup, CONF_SIGNUP_OPEN);
    assert_string_equal(c.signup_name, "open");
    assert_int_equal(c.session_days, 30);
    assert_int_equal(c.password_min_length, 8);
    assert_int_equal(c.login_max_failures, 5);
    assert_int_equal(c.login_max_failures_ip, 20);
    assert_int_equal(c.login_window, 900);
    assert_int_equal(c.avatar_max_bytes, 1048576);
    assert_int_equal(c.mb_media_max_bytes, 16777216);
    assert_int_equal(c.log_level, CONF_LOG_INFO);
    assert_string_equal(c.log_level_name, "info");
    assert_true(c.log_access);
    conf_free(&c);
    assert_null(c.domain);
    conf_free(&c); /* twice is harmless */
    conf_free(NULL);
    /* err may be NULL */
    assert_int_equal(conf_load(&c, NULL, NULL), TD_OK);
    conf_free(&c);
}

static void test_file_overrides(void **state)
{
    struct conf c;
    char *err = NULL;
    const char *path = write_tmp("; a comment\n"
                                 "# another\n"
                                 "[server]\n"
                                 "domain = example.org\n"
                                 "   http_port=0\n" /* indented: a key, not a continuation */
                                 "\thttps_port = 8443 \n"
                                 "base_url = https://example.org:8443\n"
                                 "tls_cert =\n"
                                 "data_dir = /srv/tandem data\n"
                                 "max_connections_per_ip = 10000\n"
                                 "\n"
                                 "[accounts]\n"
                                 "signup = INVITE\n"
                                 "login_window = 10\n"
                                 "[log]\n"
                                 "access = off\n"
                                 "level = debug ; inline comment\n"
                                 "[http]\n"
                                 "max_body_bytes = 1073741824\n"
                                 "max_url_bytes = -0\n" /* out of range below */
                                 );

    (void)state;
    /* The last line is out of range; fix it and check the rest. */
    assert_int_equal(conf_load(&c, path, &err), TD_EINVAL);
    assert_non_null(strstr(err, ":20: http.max_url_bytes: must be between 256 and 1048576"));
    free(err);
    err = NULL;
    unlink(path);

    path = write_tmp("[server]\n"
                     "domain = example.org\n"
                     "   http_port=0\n"
                     "\thttps_port = 8443 \n"
                     "base_url = https://example.org:8443\n"
                     "tls_cert =\n"
                     "data_dir = /srv/tandem data\n"
                     "max_connections_per_ip = 10000\n"
                     "[accounts]\n"
                     "signup = INVITE\n"
                     "login_window = 10\n"
                     "[log]\n"
                     "access = off\n"
                     "level = debug ; inline comment\n"
                     "[http]\n"
                     "max_body_bytes = 1073741824\n"
                     "max_url_bytes = 256\n");
    assert_int_equal(conf_load(&c, path, &err), TD_OK);
    assert_null(err);
    assert_string_equal(c.domain, "example.org");
    assert_int_equal(c.http_port, 0);
    assert_int_equal(c.https_port, 8443);
    assert_string_equal(c.base_url, "https://example.org:8443");
    assert_string_equal(c.tls_cert, "");
    assert_string_equal(c.data_dir, "/srv/tandem data");
    assert_int_equal(c.max_connections_per_ip, 10000);
    assert_int_equal(c.signup, CONF_SIGNUP_INVITE);
    assert_string_equal(c.signup_name, "invite");
    assert_int_equal(c.login_window, 10);
    assert_false(c.log_access);
    assert_int_equal(c.log_level, CONF_LOG_DEBUG);
    assert_string_equal(c.log_level_name, "debug");
    assert_int_equal(c.max_body_bytes, 1073741824);
    assert_int_equal(c.max_url_bytes, 256);
    /* untouched options keep their defaults */
    assert_int_equal(c.threads, 4);
    assert_string_equal(c.http_host, "127.0.0.1");
    conf_free(&c);
    unlink(path);
}

static void test_bool_spellings(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    static const char *const no[] = {"false", "no", "off", "0", "False", "OFF"};
    char text[128];

    (void)state;
    for (size_t i = 0; i < 6; i++) {
        for (int want = 0; want < 2; want++) {
            struct conf c;
            char *err = NULL;
            snprintf(text, sizeof(text), "[log]\naccess = %s\n", want ? yes[i] : no[i]);
            const char *path = write_tmp(text);
            assert_int_equal(conf_load(&c, path, &err), TD_OK);
            assert_int_equal(c.log_access, want);
            conf_free(&c);
            unlink(path);
        }
    }
}

static void test_env_beats_file(void **state)
{
    struct conf c;
    char *err = NULL;
    const char *path = write_tmp("[server]\nhttp_port = 9000\ndomain = file.example\n"
                                 "[log]\naccess = true\n");

    (void)state;
    setenv("TANDEM_SERVER_HTTP_PORT", "0", 1);
    setenv("TANDEM_LOG_ACCESS", "no", 1);
    setenv("TANDEM_ACCOUNTS_SIGNUP", "closed", 1);
    setenv("TANDEM_SERVER_BASE_URL", "", 1);
    setenv("TANDEM_CONFIG", "/not/an/option", 1); /* other TANDEM_ names are not ours */
    assert_int_equal(conf_load(&c, path, &err), TD_OK);
    assert_null(err);
    assert_int_equal(c.http_port, 0);
    assert_false(c.log_access);
    assert_int_equal(c.signup, CONF_SIGNUP_CLOSED);
    assert_string_equal(c.signup_name, "closed");
    assert_string_equal(c.domain, "file.example"); /* not overridden */
    assert_string_equal(c.base_url, "");
    conf_free(&c);

    /* env without a file */
    assert_int_equal(conf_load(&c, NULL, &err), TD_OK);
    assert_int_equal(c.http_port, 0);
    conf_free(&c);
    clear_env(NULL);
    unlink(path);
}

static void test_env_errors(void **state)
{
    struct conf c;
    char *err = NULL;

    (void)state;
    setenv("TANDEM_ACCOUNTS_SIGNUP", "maybe", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_string_equal(err, "TANDEM_ACCOUNTS_SIGNUP: accounts.signup: must be one of open, "
                             "invite, closed");
    free(err);
    clear_env(NULL);

    setenv("TANDEM_SERVER_HTTP_PORT", " 80", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err, "TANDEM_SERVER_HTTP_PORT: server.http_port: not a decimal"));
    free(err);
    setenv("TANDEM_SERVER_HTTP_PORT", "", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err, "TANDEM_SERVER_HTTP_PORT: server.http_port:"));
    free(err);
    setenv("TANDEM_SERVER_HTTP_PORT", "65536", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_string_equal(err, "TANDEM_SERVER_HTTP_PORT: server.http_port: must be between 0 and "
                             "65535");
    free(err);
    clear_env(NULL);

    /* a typo in a variable of a known section must not pass silently */
    setenv("TANDEM_SERVER_HTTP_PROT", "80", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err, "TANDEM_SERVER_HTTP_PROT"));
    assert_non_null(strstr(err, "unknown option"));
    free(err);
    clear_env(NULL);

    /* control characters would break the dump */
    setenv("TANDEM_SERVER_DATA_DIR", "a\nb", 1);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err, "TANDEM_SERVER_DATA_DIR: server.data_dir: must not contain"));
    free(err);
    clear_env(NULL);

    /* oversized value */
    char *big = malloc(5000);
    assert_non_null(big);
    memset(big, 'a', 4999);
    big[4999] = '\0';
    setenv("TANDEM_SERVER_TLS_KEY", big, 1);
    free(big);
    assert_int_equal(conf_load(&c, NULL, &err), TD_EINVAL);
    assert_non_null(strstr(err, "server.tls_key: longer than"));
    free(err);
    clear_env(NULL);
}

static void test_int_errors(void **state)
{
    (void)state;
    expect_error("[server]\nhttp_port = abc\n", ":2: server.http_port: not a decimal integer",
                 NULL);
    expect_error("[server]\n\nhttp_port = 80x\n", ":3: server.http_port:", "trailing", NULL);
    expect_error("[server]\nhttp_port = 0x50\n", ":2: server.http_port:", "trailing", NULL);
    expect_error("[server]\nhttp_port = +80\n", ":2: server.http_port: not a decimal", NULL);
    expect_error("[server]\nhttp_port = 8 0\n", ":2: server.http_port:", NULL);
    expect_error("[server]\nhttp_port = -\n", ":2: server.http_port: not a decimal", NULL);
    expect_error("[server]\nhttp_port =\n", ":2: server.http_port: not a decimal", NULL);
    expect_error_exact("[http]\nmax_body_bytes = 1023\n",
                       ":2: http.max_body_bytes: must be between 1024 and 1073741824");
    expect_error_exact("[http]\nmax_body_bytes = 1073741825\n",
                       ":2: http.max_body_bytes: must be between 1024 and 1073741824");
    expect_error("[server]\nthreads = -1\n", ":2: server.threads: must be between 1 and 128",
                 NULL);
    /* overflow of long in both directions */
    expect_error("[server]\nthreads = 99999999999999999999999999\n",
                 ":2: server.threads: must be between 1 and 128", NULL);
    expect_error("[server]\nthreads = -99999999999999999999999999\n",
                 ":2: server.threads: must be between 1 and 128", NULL);
    expect_error("[server]\nthreads = 9223372036854775808\n", ":2: server.threads:", NULL);
}

static void test_other_value_errors(void **state)
{
    (void)state;
    expect_error("[log]\naccess = maybe\n", ":2: log.access: must be true or false", NULL);
    expect_error("[log]\naccess =\n", ":2: log.access: must be true or false", NULL);
    expect_error("[log]\nlevel = verbose\n",
                 ":2: log.level: must be one of debug, info, warn, error", NULL);
    expect_error_exact("[accounts]\nsignup = maybe\n",
                       ":2: accounts.signup: must be one of open, invite, closed");
    expect_error_exact("[xmpp]\ncomponents = a.example:s1 b.example\n",
                       ":2: xmpp.components: 'b.example' is not domain:secret");
    expect_error_exact("[xmpp]\ncomponents = :s1\n",
                       ":2: xmpp.components: ':s1' is not domain:secret");
    expect_error("[server]\ndomain = Example.org\n", ":2: server.domain: must be a lowercase",
                 NULL);
    expect_error("[server]\ndomain =\n", ":2: server.domain:", NULL);
    expect_error("[server]\ndomain = a..b\n", ":2: server.domain:", NULL);
    expect_error("[server]\ndomain = -a.b\n", ":2: server.domain:", NULL);
    expect_error("[server]\ndomain = a.b.\n", ":2: server.domain:", NULL);
    expect_error("[server]\ndomain = user@host\n", ":2: server.domain:", NULL);
    expect_error("[server]\nbase_url = ftp://x\n", ":2: server.base_url:", NULL);
    expect_error("[server]\nbase_url = https://\n", ":2: server.base_url:", NULL);
    expect_error("[server]\nbase_url = https://x.org/\n", ":2: server.base_url:", "'/'", NULL);
    expect_error("[server]\ndata_dir =\n", ":2: server.data_dir: must not be empty", NULL);
}

static void test_structure_errors(void **state)
{
    struct conf c;
    char *err = NULL;

    (void)state;
    expect_error_exact("[server]\nhttp_prot = 80\n", ":2: server.http_prot: unknown option");
    expect_error_exact("[server]\n[bogus]\nx = 1\n", ":2: unknown section [bogus]");
    expect_error_exact("[server]\n\n[bogus]\n", ":3: unknown section [bogus]"); /* empty */
    expect_error_exact("[Server]\nhttp_port = 1\n", ":1: unknown section [Server]");
    expect_error_exact("domain = x\n", ":1: domain: option outside any [section]");
    expect_error("[server]\nhttp_port = 1\n\nhttp_port = 2\n", ":4: server.http_port:",
                 "set twice (first on line 2)", NULL);
    expect_error_exact("[server]\njust words\n",
                       ":2: syntax error (expected [section], key = value or # comment)");
    expect_error("[server\nhttp_port = 1\n", ":1: syntax error", NULL);
    /* the first error wins, whatever its kind */
    expect_error("[server]\nnope = 1\njust words\n", ":2: server.nope: unknown option", NULL);
    expect_error("[server]\njust words\nnope = 1\n", ":2: syntax error", NULL);
    expect_error("[server]\nhttp_port = x\n[bogus]\n", ":2: server.http_port:", NULL);

    /* an over-long line is reported with its real line number, and the line after
     * it is counted correctly (inih would otherwise split it into pieces) */
    char text[1200];
    int n = snprintf(text, sizeof(text), "[server]\ndata_dir = ");
    memset(text + n, 'd', 1000);
    snprintf(text + n + 1000, sizeof(text) - (size_t)n - 1000, "\nnope = 1\n");
    expect_error(text, ":2: line too long", NULL);
    memcpy(text, "[server]\n# ", 11);
    n = 11;
    memset(text + n, 'c', 1000);
    snprintf(text + n + 1000, sizeof(text) - (size_t)n - 1000, "\nnope = 1\n");
    expect_error(text, ":2: line too long", NULL);

    /* missing named file */
    assert_int_equal(conf_load(&c, "/nonexistent/tandem.ini", &err), TD_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/tandem.ini: cannot open"));
    free(err);
    /* a directory is not a config file */
    assert_int_equal(conf_load(&c, "/tmp", &err), TD_EINVAL);
    assert_non_null(err);
    free(err);
}

static void test_binary_junk(void **state)
{
    static const char junk[] = "[server]\n\xff\xfe\x01\x02 = \x80\n";
    struct conf c;
    char *err = NULL;
    const char *path = write_tmp(junk);

    (void)state;
    assert_int_equal(conf_load(&c, path, &err), TD_EINVAL);
    assert_non_null(err);
    free(err);
    unlink(path);
    /* BOM is accepted */
    path = write_tmp("\xef\xbb\xbf[server]\nhttp_port = 1\n");
    assert_int_equal(conf_load(&c, path, &err), TD_OK);
    assert_int_equal(c.http_port, 1);
    conf_free(&c);
    unlink(path);
}

static void test_cross_checks(void **state)
{
    (void)state;
    expect_error_exact("[server]\nhttp_port = 8443\nhttps_port = 8443\n",
                       ":3: server.https_port: must differ from server.http_port (8443)");
    expect_error_exact("[xmpp]\nmuc_domain = localhost\n",
                       ":2: xmpp.muc_domain: must differ from server.domain (localhost)");
    expect_error("[server]\nmax_connections_per_ip = 600\nmax_connections = 500\n",
                 ":2: server.max_connections_per_ip: must not exceed server.max_connections",
                 NULL);
    expect_error("[server]\nmax_connections = 100\n",
                 ":2: server.max_connections: must be at least server.max_connections_per_ip",
                 NULL);
    /* both ports 0 is fine (each picks a free port... https off) */
    struct conf c;
    const char *path = write_tmp("[server]\nhttp_port = 0\nhttps_port = 0\n");
    assert_int_equal(conf_load(&c, path, NULL), TD_OK);
    conf_free(&c);
    unlink(path);
}

static void test_dump_round_trip(void **state)
{
    struct conf a, b;
    char *err = NULL, *t1, *t2;
    const char *path = write_tmp("[server]\ndomain = chat.example\nbase_url = http://x:1\n"
                                 "http_port = 0\n[accounts]\nsignup = closed\n"
                                 "[log]\naccess = no\nlevel = error\n");
    char dump_path[64];

    (void)state;
    assert_int_equal(conf_load(&a, path, &err), TD_OK);
    unlink(path);
    t1 = dump_text(&a);
    assert_non_null(strstr(t1, "[server]\ndomain = chat.example\n"));
    assert_non_null(strstr(t1, "\ntls_cert =\n"));
    assert_non_null(strstr(t1, "\nsignup = closed\n"));
    assert_non_null(strstr(t1, "\naccess = false\n"));
    assert_non_null(strstr(t1, "\nlevel = error\n"));
    snprintf(dump_path, sizeof(dump_path), "%s", write_tmp(t1));
    assert_int_equal(conf_load(&b, dump_path, &err), TD_OK);
    t2 = dump_text(&b);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    conf_free(&a);
    conf_free(&b);
    unlink(dump_path);
}

static void test_reload(void **state)
{
    struct conf live;
    char *err = NULL, *fixed = (char *)1;
    char path[64];
    char *before;

    (void)state;
    snprintf(path, sizeof(path), "%s", write_tmp("[server]\nhttp_port = 9000\n"));
    assert_int_equal(conf_load(&live, path, &err), TD_OK);
    unlink(path);

    /* nothing changed: no list */
    snprintf(path, sizeof(path), "%s", write_tmp("[server]\nhttp_port = 9000\n"));
    assert_int_equal(conf_reload(&live, path, &err, &fixed), TD_OK);
    assert_null(fixed);
    unlink(path);

    snprintf(path, sizeof(path), "%s",
             write_tmp("[server]\nhttp_port = 9001\ndata_dir = /elsewhere\n"
                       "[http]\nheader_timeout = 5\nbody_timeout = 7\nidle_timeout = 9\n"
                       "max_body_bytes = 2048\n"
                       "[accounts]\nsignup = invite\nlogin_max_failures = 3\n"
                       "login_max_failures_ip = 4\nlogin_window = 60\n"
                       "[log]\nlevel = warn\naccess = off\n"));
    assert_int_equal(conf_reload(&live, path, &err, &fixed), TD_OK);
    assert_null(err);
    /* reloadable options applied */
    assert_int_equal(live.header_timeout, 5);
    assert_int_equal(live.body_timeout, 7);
    assert_int_equal(live.idle_timeout, 9);
    assert_int_equal(live.signup, CONF_SIGNUP_INVITE);
    assert_string_equal(live.signup_name, "invite");
    assert_int_equal(live.login_max_failures, 3);
    assert_int_equal(live.login_max_failures_ip, 4);
    assert_int_equal(live.login_window, 60);
    assert_int_equal(live.log_level, CONF_LOG_WARN);
    assert_string_equal(live.log_level_name, "warn");
    assert_false(live.log_access);
    /* fixed ones kept and reported, in table order */
    assert_int_equal(live.http_port, 9000);
    assert_string_equal(live.data_dir, "var");
    assert_int_equal(live.max_body_bytes, 10485760);
    assert_string_equal(fixed, "server.http_port, server.data_dir, http.max_body_bytes");
    free(fixed);
    unlink(path);

    /* a bad file leaves live untouched */
    before = dump_text(&live);
    snprintf(path, sizeof(path), "%s",
             write_tmp("[log]\nlevel = debug\n[http]\nheader_timeout = 0\n"));
    fixed = (char *)1;
    assert_int_equal(conf_reload(&live, path, &err, &fixed), TD_EINVAL);
    assert_non_null(strstr(err, ":4: http.header_timeout: must be between 1 and 3600"));
    assert_null(fixed);
    free(err);
    err = NULL;
    char *after = dump_text(&live);
    assert_string_equal(before, after);
    free(after);
    free(before);
    unlink(path);

    /* env applies on reload too; changed_fixed may be NULL */
    setenv("TANDEM_LOG_LEVEL", "error", 1);
    assert_int_equal(conf_reload(&live, NULL, &err, NULL), TD_OK);
    assert_int_equal(live.log_level, CONF_LOG_ERROR);
    assert_int_equal(live.http_port, 9000);
    clear_env(NULL);
    conf_free(&live);
}

static void test_example_in_sync(void **state)
{
    const char *path = getenv("TANDEM_CONF_EXAMPLE");
    char *want = NULL, *got, *t1, *t2;
    size_t want_len = 0;
    FILE *f;
    long size;
    struct conf a, b;
    char *err = NULL;

    (void)state;
    if (path == NULL)
        path = "conf/tandem.ini.example";
    f = open_memstream(&want, &want_len);
    assert_non_null(f);
    conf_write_example(f);
    assert_int_equal(fclose(f), 0);

    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s (set TANDEM_CONF_EXAMPLE or run from the repository root)",
                 path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0 && size < 1000000);
    rewind(f);
    got = calloc(1, (size_t)size + 1);
    assert_non_null(got);
    assert_int_equal(fread(got, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    if (strcmp(got, want) != 0)
        fail_msg("%s differs from conf_write_example(); regenerate it", path);

    /* the example loads cleanly and gives exactly the defaults */
    assert_int_equal(conf_load(&a, path, &err), TD_OK);
    assert_null(err);
    assert_int_equal(conf_load(&b, NULL, &err), TD_OK);
    t1 = dump_text(&a);
    t2 = dump_text(&b);
    assert_string_equal(t1, t2);
    /* every option appears in the example as an active "key = default" line,
     * the same line the dump of the defaults has */
    int pairs = 0;
    for (char *line = t2, *nl; *line; line = nl + 1) {
        char needle[256];
        nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = '\0';
        if (line[0] == '#' || line[0] == '[' || line[0] == '\0')
            continue;
        snprintf(needle, sizeof(needle), "\n%s\n", line);
        if (strstr(want, needle) == NULL)
            fail_msg("example lacks the active line \"%s\"", line);
        pairs++;
    }
    assert_int_equal(pairs, 46); /* one per option in the table */
    free(t1);
    free(t2);
    conf_free(&a);
    conf_free(&b);
    free(got);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_file_overrides, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_bool_spellings, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_beats_file, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_env_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_int_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_other_value_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_structure_errors, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_binary_junk, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_cross_checks, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_dump_round_trip, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_reload, clear_env, clear_env),
        cmocka_unit_test_setup_teardown(test_example_in_sync, clear_env, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
