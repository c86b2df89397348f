/* SPDX-License-Identifier: MIT */
/* Configuration loading, after Redis config.c: one table, opts[], describes
 * every setting (section, key, type, field offset, default as text, range or
 * allowed values, reloadable flag, help) and every operation walks it.
 * Defaults go through the same text parser as the file and the environment,
 * so a bad default trips an assert at the first load. The ini syntax is
 * libinih's (name = value, [section], # or ; comments at line start, inline
 * " ;" comments); we feed it lines through our own reader so that we know
 * real line numbers, reject over-long lines instead of letting inih split
 * them, strip leading whitespace (no multi-line continuation values: an
 * indented key must not become part of the previous value), and catch
 * unknown [sections] even when they hold no keys. Integers are decimal only
 * (no hex, no '+', no trailing junk, overflow rejected). Only the first error
 * is reported. */
#include "core/conf.h"

#include "core/buf.h"
#include "core/err.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

extern char **environ;

#define CONF_MAX_STRING 4096 /* longest string value (environment values may be long) */
#define CONF_ENV_PREFIX "TANDEM_"
#define CONF_ENV_NAME_MAX 64

enum opt_type { OPT_INT, OPT_BOOL, OPT_STRING, OPT_ENUM };

/* Extra check for a string value: NULL if fine, else why not. */
typedef const char *opt_check_fn(const char *v);

struct opt {
    const char *section;
    const char *key;
    enum opt_type type;
    size_t offset;             /* field in struct conf: long, bool, char * or int (ENUM) */
    size_t name_offset;        /* ENUM: const char * field holding the value's name */
    const char *def;           /* default, as the text a user would write */
    long min, max;             /* INT: inclusive range */
    const char *const *values; /* ENUM: allowed values, NULL-terminated */
    opt_check_fn *check;       /* STRING: optional extra validation */
    bool reloadable;           /* applied by conf_reload without a restart */
    const char *help;          /* one line, no trailing period needed */
};

static const char *const signup_values[] = {"open", "invite", "closed", NULL};
static const char *const log_level_values[] = {"debug", "info", "warn", "error", NULL};
static const char *const registration_values[] = {"off", "open", "token", NULL};

static const char *check_nonempty(const char *v);
static const char *check_domain(const char *v);
static const char *check_url(const char *v);
static const char *check_muc_domain(const char *v);

#define F(field) offsetof(struct conf, field)
#define INT(sec, key, field, def, lo, hi, rl, help) \
    {sec, key, OPT_INT, F(field), 0, def, lo, hi, NULL, NULL, rl, help}
#define BOOL(sec, key, field, def, rl, help) \
    {sec, key, OPT_BOOL, F(field), 0, def, 0, 0, NULL, NULL, rl, help}
#define STR(sec, key, field, def, chk, rl, help) \
    {sec, key, OPT_STRING, F(field), 0, def, 0, 0, NULL, chk, rl, help}
#define ENUM(sec, key, field, def, vals, rl, help) \
    {sec, key, OPT_ENUM, F(field), F(field##_name), def, 0, 0, vals, NULL, rl, help}

/* Options of one section must be adjacent: dump and the example print a
 * [section] header whenever the section changes. */
static const struct opt opts[] = {
    STR("server", "domain", domain, "localhost", check_domain, false,
        "The site's domain; messenger addresses are user@domain"),
    STR("server", "base_url", base_url, "", check_url, false,
        "Public URL of the site; empty means http://<http_host>:<http_port>"),
    STR("server", "http_host", http_host, "127.0.0.1", check_nonempty, false,
        "Address the HTTP listener binds"),
    INT("server", "http_port", http_port, "8080", 0, 65535, false,
        "HTTP listener port; 0 picks a free port (the server logs the chosen one)"),
    INT("server", "https_port", https_port, "0", 0, 65535, false,
        "HTTPS listener port; 0 turns HTTPS off"),
    STR("server", "tls_cert", tls_cert, "", NULL, false,
        "PEM certificate; empty means <data_dir>/tls/cert.pem (self-signed, made on first start)"),
    STR("server", "tls_key", tls_key, "", NULL, false,
        "PEM private key; empty means <data_dir>/tls/key.pem"),
    STR("server", "data_dir", data_dir, "var", check_nonempty, false,
        "Directory for the database, certificates and uploads"),
    STR("server", "templates_dir", templates_dir, "templates", check_nonempty, false,
        "Directory of the HTML templates"),
    STR("server", "static_dir", static_dir, "static", check_nonempty, false,
        "Directory of the static files (CSS, scripts, images)"),
    INT("server", "threads", threads, "4", 1, 128, false,
        "Thread-pool size for blocking work (password hashing, bulk writes)"),
    INT("server", "max_connections", max_connections, "10000", 1, 1000000, false,
        "Most open client connections"),
    INT("server", "max_connections_per_ip", max_connections_per_ip, "512", 1, 1000000, false,
        "Most open connections from one address"),
    INT("server", "shutdown_timeout", shutdown_timeout, "10", 0, 600, false,
        "Seconds to let in-flight requests finish on SIGTERM"),

    INT("http", "max_header_bytes", max_header_bytes, "16384", 1024, 1048576, false,
        "Largest request head in bytes"),
    INT("http", "max_headers", max_headers, "64", 8, 1000, false,
        "Most header fields in one request"),
    INT("http", "max_url_bytes", max_url_bytes, "8192", 256, 1048576, false,
        "Longest request target in bytes"),
    INT("http", "max_body_bytes", max_body_bytes, "10485760", 1024, 1073741824, false,
        "Largest request body in bytes"),
    INT("http", "header_timeout", header_timeout, "10", 1, 3600, true,
        "Seconds to receive a complete request head (slowloris guard)"),
    INT("http", "body_timeout", body_timeout, "30", 1, 3600, true,
        "Seconds to receive the request body"),
    INT("http", "idle_timeout", idle_timeout, "60", 1, 3600, true,
        "Seconds a keep-alive connection may stay idle"),

    ENUM("accounts", "signup", signup, "open", signup_values, true,
         "Who may create an account: open, invite (with an invitation) or closed"),
    INT("accounts", "session_days", session_days, "30", 1, 3650, false,
        "Days a login session lasts"),
    INT("accounts", "password_min_length", password_min_length, "8", 6, 128, false,
        "Shortest password accepted, in characters"),
    INT("accounts", "login_max_failures", login_max_failures, "5", 1, 1000, true,
        "Failed logins allowed per account per login_window"),
    INT("accounts", "login_max_failures_ip", login_max_failures_ip, "20", 1, 100000, true,
        "Failed logins allowed per address per login_window"),
    INT("accounts", "login_window", login_window, "900", 10, 86400, true,
        "Seconds over which failed logins are counted"),
    INT("accounts", "avatar_max_bytes", avatar_max_bytes, "1048576", 1024, 16777216, false,
        "Largest avatar upload in bytes"),

    ENUM("oauth", "registration", oauth_registration, "off", registration_values, false,
         "Dynamic client registration (RFC 7591): off, open, or token (needs registration_token)"),
    STR("oauth", "registration_token", oauth_registration_token, "", NULL, false,
        "Initial access token that registration = token requires (Bearer); keep it secret"),

    BOOL("xmpp", "enabled", xmpp_enabled, "true", false,
         "Run the XMPP client listener (the messenger)"),
    INT("xmpp", "c2s_port", xmpp_c2s_port, "5222", 0, 65535, false,
        "XMPP client listener port (STARTTLS, RFC 6120); 0 picks a free port (logged)"),
    BOOL("xmpp", "allow_plaintext", xmpp_allow_plaintext, "false", false,
         "Let XMPP clients log in without TLS; only for loopback tests, never in production"),
    INT("xmpp", "rate_limit", xmpp_rate_limit, "32768", 0, 1073741824, false,
        "Bytes per second a client connection may send (2 s burst); faster senders are read "
        "more slowly; 0 = unlimited"),
    INT("xmpp", "c2s_tls_port", xmpp_c2s_tls_port, "5223", -1, 65535, false,
        "XMPP client port with TLS from the first byte (XEP-0368, ALPN xmpp-client); "
        "0 picks a free port (logged), -1 turns it off"),
    STR("xmpp", "websocket_origins", xmpp_websocket_origins, "", NULL, true,
        "Other web origins (scheme://host[:port], space-separated) whose pages may open "
        "XMPP sessions at /xmpp-websocket; the site's own origin always may"),
    INT("xmpp", "component_port", xmpp_component_port, "5347", -1, 65535, false,
        "External component port (XEP-0114), bound to 127.0.0.1 only as the protocol has "
        "no TLS; it runs when components are listed; 0 picks a free port (logged), -1 = off"),
    STR("xmpp", "components", xmpp_components, "", NULL, false,
        "External components allowed to connect, space-separated domain:secret pairs "
        "(e.g. bridge.example.org:s3cret); the secrets make this file confidential"),
    STR("xmpp", "upload_domain", xmpp_upload_domain, "upload.{domain}", NULL, false,
        "JID of the HTTP File Upload service (XEP-0363); {domain} at the end stands for "
        "server.domain; empty turns the service off"),
    INT("xmpp", "upload_max_bytes", xmpp_upload_max_bytes, "10485760", 1024, 268435456, false,
        "Largest file a client may upload (the HTTP body limit of the upload PUT route)"),
    STR("xmpp", "muc_domain", xmpp_muc_domain, "auto", check_muc_domain, false,
        "Domain of the Multi-User Chat service (XEP-0045); auto means conference.<domain>, "
        "empty turns it off"),

    INT("microblog", "max_chars", mb_max_chars, "500", 1, 100000, false,
        "Longest microblog post, in characters as Mastodon counts them (a link is 23)"),

    INT("microblog", "media_max_bytes", mb_media_max_bytes, "16777216", 1024, 104857600, true,
        "Largest image attachment in bytes (JPEG, PNG, GIF, WebP); checked before decoding"),
    BOOL("microblog", "password_grant", mb_password_grant, "false", true,
         "Let Mastodon apps log in with the OAuth password grant (username and password "
         "sent to the app); RFC 9700 forbids it, so only for old apps that know nothing else"),

    ENUM("log", "level", log_level, "info", log_level_values, true,
         "Lowest level logged: debug, info, warn or error"),
    BOOL("log", "access", log_access, "true", true, "Log every HTTP request"),
};

#define NOPTS TD_ARRAY_LEN(opts)

/* Where each option got its value during one load. */
#define FROM_DEFAULT 0
#define FROM_ENV (-1) /* > 0: line in the file */

/* State of one conf_load. */
struct load {
    struct conf *c;
    const char *path; /* file name for messages */
    FILE *fp;
    int lineno;        /* real line number of the line inih is handling */
    int from[NOPTS];   /* FROM_DEFAULT, FROM_ENV or file line */
    char *err;         /* first error, owned */
    int err_line;      /* its line in the file, 0 if not from the file */
};

static const char *check_nonempty(const char *v)
{
    return *v ? NULL : "must not be empty";
}

/* A DNS name: labels of letters, digits and '-', joined by dots (RFC 1035 §2.3.1,
 * digits first allowed per RFC 1123 §2.1). Lowercase only, so that addresses
 * compare byte-wise. */
static const char *check_domain(const char *v)
{
    size_t len = strlen(v), label = 0;

    if (len == 0 || len > 253)
        return "must be a domain name of 1 to 253 characters";
    for (size_t i = 0; i < len; i++) {
        char ch = v[i];
        if (ch == '.') {
            if (label == 0 || v[i - 1] == '-')
                return "must be a lowercase domain name (empty label or label ending in '-')";
            label = 0;
            continue;
        }
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            return "must be a lowercase domain name (letters, digits, '-' and '.')";
        if (ch == '-' && label == 0)
            return "must be a lowercase domain name (label starting with '-')";
        if (++label > 63)
            return "must be a lowercase domain name (label longer than 63)";
    }
    if (label == 0 || v[len - 1] == '-')
        return "must be a lowercase domain name (empty label or label ending in '-')";
    return NULL;
}

/* Empty (off), auto (conference.<server.domain>), or a domain name. */
static const char *check_muc_domain(const char *v)
{
    if (v[0] == '\0' || strcmp(v, "auto") == 0)
        return NULL;
    return check_domain(v);
}

/* Empty, or an absolute http(s) URL with a host and no trailing slash. */
static const char *check_url(const char *v)
{
    const char *rest;

    if (*v == '\0')
        return NULL;
    if (strncmp(v, "http://", 7) == 0)
        rest = v + 7;
    else if (strncmp(v, "https://", 8) == 0)
        rest = v + 8;
    else
        return "must be empty or start with http:// or https://";
    if (*rest == '\0' || *rest == '/')
        return "must name a host after the scheme";
    for (const char *p = rest; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "must not contain spaces or control characters";
    if (v[strlen(v) - 1] == '/')
        return "must not end with '/'";
    return NULL;
}

static void *field(struct conf *c, const struct opt *o)
{
    return (char *)c + o->offset;
}

static const void *cfield(const struct conf *c, const struct opt *o)
{
    return (const char *)c + o->offset;
}

/* Record the first error of a load (later ones are dropped); line is the
 * file line or 0. The message is "<where>: <section>.<key>: <why>". */
static void fail(struct load *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct load *ld, int line, const char *fmt, ...)
{
    struct buf b;
    va_list ap;

    if (ld->err)
        return;
    buf_init(&b, 0);
    va_start(ap, fmt);
    (void)buf_vprintf(&b, fmt, ap);
    va_end(ap);
    ld->err = buf_steal(&b, NULL);
    ld->err_line = line;
}

/* Name of the environment variable for o into out (at least CONF_ENV_NAME_MAX). */
static void env_name(const struct opt *o, char *out)
{
    size_t n = 0;
    const char *parts[] = {CONF_ENV_PREFIX, o->section, "_", o->key};

    for (size_t i = 0; i < TD_ARRAY_LEN(parts); i++)
        for (const char *p = parts[i]; *p; p++) {
            TD_ASSERT(n + 1 < CONF_ENV_NAME_MAX);
            out[n++] = (char)toupper((unsigned char)*p);
        }
    out[n] = '\0';
}

/* "<file>:<line>: " or "<VAR>: " or "default: " for option i, into b. */
static void where(const struct load *ld, size_t i, struct buf *b)
{
    char env[CONF_ENV_NAME_MAX];

    if (ld->from[i] > 0) {
        (void)buf_printf(b, "%s:%d: ", ld->path, ld->from[i]);
    } else if (ld->from[i] == FROM_ENV) {
        env_name(&opts[i], env);
        (void)buf_printf(b, "%s: ", env);
    } else {
        (void)buf_appends(b, "default: ");
    }
}

/* Decimal integer: optional '-', then digits, nothing else; *why on failure. */
static int parse_long(const char *v, long *out, const char **why)
{
    const char *p = v;
    char *end = NULL;
    long n;

    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p)) {
        *why = "not a decimal integer";
        return TD_EINVAL;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (*end != '\0') {
        *why = "not a decimal integer (trailing characters)";
        return TD_EINVAL;
    }
    if (errno == ERANGE) {
        *why = "overflow";
        return TD_ETOOBIG;
    }
    *out = n;
    return TD_OK;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    for (size_t i = 0; i < TD_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return TD_OK;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return TD_OK;
        }
    }
    return TD_EINVAL;
}

/* Append "a, b, c" for an enum's values. */
static void enum_list(const struct opt *o, struct buf *b)
{
    for (size_t k = 0; o->values[k]; k++)
        (void)buf_printf(b, "%s%s", k ? ", " : "", o->values[k]);
}

/* Parse text v for option i and store it in ld->c. On a bad value record an
 * error blamed on ld->from[i] (which the caller set) and return TD_EINVAL. */
static int set_value(struct load *ld, size_t i, const char *v)
{
    const struct opt *o = &opts[i];
    struct conf *c = ld->c;
    struct buf msg;
    const char *why = NULL;
    int line = ld->from[i] > 0 ? ld->from[i] : 0;
    long n = 0;
    bool flag;
    int rc;

    buf_init(&msg, 0);
    where(ld, i, &msg);
    (void)buf_printf(&msg, "%s.%s: ", o->section, o->key);

    switch (o->type) {
    case OPT_INT:
        rc = parse_long(v, &n, &why);
        if (rc == TD_EINVAL) {
            (void)buf_printf(&msg, "%s", why);
            goto bad;
        }
        if (rc != TD_OK || n < o->min || n > o->max) {
            (void)buf_printf(&msg, "must be between %ld and %ld", o->min, o->max);
            goto bad;
        }
        *(long *)field(c, o) = n;
        break;
    case OPT_BOOL:
        if (parse_bool(v, &flag) != TD_OK) {
            (void)buf_appends(&msg, "must be true or false (also yes/no, on/off, 1/0)");
            goto bad;
        }
        *(bool *)field(c, o) = flag;
        break;
    case OPT_ENUM:
        for (size_t k = 0; o->values[k]; k++) {
            if (strcasecmp(v, o->values[k]) == 0) {
                *(int *)field(c, o) = (int)k;
                *(const char **)((char *)c + o->name_offset) = o->values[k];
                goto ok;
            }
        }
        (void)buf_appends(&msg, "must be one of ");
        enum_list(o, &msg);
        goto bad;
    case OPT_STRING:
        if (strlen(v) > CONF_MAX_STRING) {
            (void)buf_printf(&msg, "longer than %d bytes", CONF_MAX_STRING);
            goto bad;
        }
        for (const char *p = v; *p; p++) {
            if ((unsigned char)*p < ' ' || *p == 0x7f) {
                (void)buf_appends(&msg, "must not contain control characters");
                goto bad;
            }
        }
        why = o->check ? o->check(v) : NULL;
        if (why) {
            (void)buf_appends(&msg, why);
            goto bad;
        }
        free(*(char **)field(c, o));
        *(char **)field(c, o) = td_strdup(v);
        break;
    }
ok:
    buf_free(&msg);
    return TD_OK;
bad:
    if (ld->err == NULL) {
        ld->err = buf_steal(&msg, NULL);
        ld->err_line = line;
    }
    buf_free(&msg);
    return TD_EINVAL;
}

static bool is_section(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].section, name) == 0)
            return true;
    return false;
}

static int find_opt(const char *section, const char *key, size_t *idx)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (strcmp(opts[i].section, section) == 0 && strcmp(opts[i].key, key) == 0) {
            *idx = i;
            return TD_OK;
        }
    }
    return TD_ENOTFOUND;
}

/* ini_reader: hand inih one real line per call (see the file comment). */
static char *read_line(char *str, int num, void *stream)
{
    struct load *ld = stream;
    size_t n, skip = 0;
    int ch;

    if (num < 2 || fgets(str, num, ld->fp) == NULL)
        return NULL;
    ld->lineno++;
    n = strlen(str);
    if (n == 0 || str[n - 1] != '\n') {
        /* Either the last line has no newline, or the line did not fit. */
        ch = getc(ld->fp);
        if (ch != EOF && ch != '\n') {
            while (ch != EOF && ch != '\n')
                ch = getc(ld->fp);
            fail(ld, ld->lineno, "%s:%d: line too long (max %d bytes)", ld->path, ld->lineno,
                 num - 1);
            str[0] = '\n';
            str[1] = '\0';
            return str;
        }
    }
    while (str[skip] == ' ' || str[skip] == '\t')
        skip++;
    if (skip)
        memmove(str, str + skip, n - skip + 1);
    if (str[0] == '[') {
        /* inih takes the text up to the first ']' as is; so do we. */
        char *close = strchr(str, ']');
        if (close) {
            *close = '\0';
            if (!is_section(str + 1))
                fail(ld, ld->lineno, "%s:%d: unknown section [%s]", ld->path, ld->lineno,
                     str + 1);
            *close = ']';
        }
    }
    return str;
}

/* ini_handler: one name = value pair from the file. */
static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load *ld = user;
    size_t i;

    if (section[0] == '\0') {
        fail(ld, ld->lineno, "%s:%d: %s: option outside any [section]", ld->path, ld->lineno,
             name);
        return 0;
    }
    if (!is_section(section))
        return 0; /* reported at the [section] line by read_line */
    if (find_opt(section, name, &i) != TD_OK) {
        fail(ld, ld->lineno, "%s:%d: %s.%s: unknown option", ld->path, ld->lineno, section,
             name);
        return 0;
    }
    if (ld->from[i] > 0) {
        fail(ld, ld->lineno, "%s:%d: %s.%s: set twice (first on line %d)", ld->path,
             ld->lineno, section, name, ld->from[i]);
        return 0;
    }
    ld->from[i] = ld->lineno;
    return set_value(ld, i, value) == TD_OK;
}

static int load_file(struct load *ld, const char *path)
{
    int rc;

    ld->path = path;
    ld->fp = fopen(path, "r");
    if (ld->fp == NULL) {
        fail(ld, 0, "%s: cannot open: %s", path, strerror(errno));
        return TD_EINVAL;
    }
    rc = ini_parse_stream(read_line, ld, on_pair, ld);
    if (ferror(ld->fp))
        fail(ld, 0, "%s: read error: %s", path, strerror(errno));
    fclose(ld->fp);
    ld->fp = NULL;
    if (rc < 0) {
        fail(ld, 0, "%s: cannot parse (out of memory)", path);
        return TD_EINVAL;
    }
    if (rc > 0 && (ld->err == NULL || (ld->err_line > 0 && rc < ld->err_line))) {
        /* inih's own syntax error comes first: replace any later error of ours. */
        free(ld->err);
        ld->err = NULL;
        fail(ld, rc, "%s:%d: syntax error (expected [section], key = value or # comment)", path,
             rc);
    }
    return ld->err ? TD_EINVAL : TD_OK;
}

/* Apply TANDEM_<SECTION>_<KEY> variables; a TANDEM_<SECTION>_* variable for a
 * known section that names no option is an error (a typo). */
static int load_env(struct load *ld)
{
    char name[CONF_ENV_NAME_MAX];
    const char *v;

    for (size_t i = 0; i < NOPTS; i++) {
        env_name(&opts[i], name);
        v = getenv(name);
        if (v == NULL)
            continue;
        ld->from[i] = FROM_ENV;
        if (set_value(ld, i, v) != TD_OK)
            return TD_EINVAL;
    }
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '='), *prev = "";
        size_t len;

        if (eq == NULL || strncmp(*e, CONF_ENV_PREFIX, strlen(CONF_ENV_PREFIX)) != 0)
            continue;
        len = (size_t)(eq - *e);
        for (size_t i = 0; i < NOPTS; i++) {
            if (strcmp(opts[i].section, prev) == 0)
                continue;
            prev = opts[i].section;
            env_name(&opts[i], name);
            /* name is TANDEM_<SECTION>_<KEY>; compare up to and with the '_'. */
            size_t pfx = strlen(CONF_ENV_PREFIX) + strlen(opts[i].section) + 1;
            if (len <= pfx || strncmp(*e, name, pfx) != 0)
                continue;
            bool known = false;
            for (size_t j = 0; j < NOPTS && !known; j++) {
                env_name(&opts[j], name);
                known = strlen(name) == len && strncmp(*e, name, len) == 0;
            }
            if (!known) {
                fail(ld, 0, "%.*s: unknown option (no such key in [%s])", (int)len, *e,
                     opts[i].section);
                return TD_EINVAL;
            }
        }
    }
    return TD_OK;
}

/* xmpp.components: each space-separated entry is domain:secret with both
 * parts non-empty (the domain's JID rules are checked when the listener
 * starts). TD_EINVAL with the message appended to msg. */
static int components_check(const char *v, struct buf *msg)
{
    const char *p = v ? v : "";

    while (*p) {
        size_t n;
        const char *colon;

        p += strspn(p, " \t");
        n = strcspn(p, " \t");
        if (n == 0)
            break;
        colon = memchr(p, ':', n);
        if (colon == NULL || colon == p || colon == p + n - 1) {
            (void)buf_printf(msg, "xmpp.components: '%.*s' is not domain:secret", (int)n, p);
            return TD_EINVAL;
        }
        p += n;
    }
    return TD_OK;
}

/* Rules that involve several options. */
static int validate(struct load *ld)
{
    struct conf *c = ld->c;
    struct buf msg;
    size_t i, a, b;

    buf_init(&msg, 0);
    if (c->https_port != 0 && c->https_port == c->http_port) {
        TD_ASSERT(find_opt("server", "https_port", &i) == TD_OK);
        where(ld, i, &msg);
        (void)buf_printf(&msg, "server.https_port: must differ from server.http_port (%ld)",
                         c->http_port);
        goto bad;
    }
    if (c->xmpp_c2s_tls_port > 0 && c->xmpp_c2s_tls_port == c->xmpp_c2s_port) {
        TD_ASSERT(find_opt("xmpp", "c2s_tls_port", &i) == TD_OK);
        where(ld, i, &msg);
        (void)buf_printf(&msg, "xmpp.c2s_tls_port: must differ from xmpp.c2s_port (%ld)",
                         c->xmpp_c2s_port);
        goto bad;
    }
    if (components_check(c->xmpp_components, &msg) != TD_OK) {
        TD_ASSERT(find_opt("xmpp", "components", &i) == TD_OK);
        buf_reset(&msg);
        where(ld, i, &msg);
        (void)components_check(c->xmpp_components, &msg);
        goto bad;
    }
    if (strcmp(c->xmpp_muc_domain, c->domain) == 0) {
        TD_ASSERT(find_opt("xmpp", "muc_domain", &i) == TD_OK);
        where(ld, i, &msg);
        (void)buf_printf(&msg, "xmpp.muc_domain: must differ from server.domain (%s)",
                         c->domain);
        goto bad;
    }
    if (c->max_connections_per_ip > c->max_connections) {
        TD_ASSERT(find_opt("server", "max_connections", &a) == TD_OK);
        TD_ASSERT(find_opt("server", "max_connections_per_ip", &b) == TD_OK);
        if (ld->from[b] != FROM_DEFAULT) {
            where(ld, b, &msg);
            (void)buf_printf(&msg,
                             "server.max_connections_per_ip: must not exceed "
                             "server.max_connections (%ld)",
                             c->max_connections);
        } else {
            where(ld, a, &msg);
            (void)buf_printf(&msg,
                             "server.max_connections: must be at least "
                             "server.max_connections_per_ip (%ld)",
                             c->max_connections_per_ip);
        }
        goto bad;
    }
    if (c->oauth_registration == CONF_REG_TOKEN && strlen(c->oauth_registration_token) < 20) {
        TD_ASSERT(find_opt("oauth", "registration_token", &i) == TD_OK);
        where(ld, i, &msg);
        (void)buf_printf(&msg, "oauth.registration_token: registration = token needs a token "
                               "of at least 20 characters");
        goto bad;
    }
    return TD_OK;
bad:
    fail(ld, 0, "%s", msg.data);
    buf_free(&msg);
    return TD_EINVAL;
}

int conf_load(struct conf *c, const char *path, char **err)
{
    struct load ld;
    int rc;

    memset(c, 0, sizeof(*c));
    memset(&ld, 0, sizeof(ld));
    ld.c = c;
    if (err)
        *err = NULL;
    for (size_t i = 0; i < NOPTS; i++) {
        rc = set_value(&ld, i, opts[i].def);
        TD_ASSERT(rc == TD_OK); /* else the table itself is wrong */
    }
    if (path)
        rc = load_file(&ld, path);
    if (rc == TD_OK)
        rc = load_env(&ld);
    if (rc == TD_OK)
        rc = validate(&ld);
    if (rc != TD_OK) {
        rc = TD_EINVAL;
        conf_free(c);
        if (err) {
            *err = ld.err;
            ld.err = NULL;
        }
    }
    free(ld.err);
    return rc;
}

void conf_free(struct conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].type == OPT_STRING)
            free(*(char **)field(c, &opts[i]));
    memset(c, 0, sizeof(*c));
}

/* The value of option o in c as text, into b. */
static void value_text(const struct conf *c, const struct opt *o, struct buf *b)
{
    switch (o->type) {
    case OPT_INT:
        (void)buf_printf(b, "%ld", *(const long *)cfield(c, o));
        break;
    case OPT_BOOL:
        (void)buf_appends(b, *(const bool *)cfield(c, o) ? "true" : "false");
        break;
    case OPT_ENUM:
        (void)buf_appends(b, o->values[*(const int *)cfield(c, o)]);
        break;
    case OPT_STRING: {
        const char *s = *(char *const *)cfield(c, o);
        (void)buf_appends(b, s ? s : "");
        break;
    }
    }
}

/* "key = value" or "key =" for an empty value, and a newline. */
static void print_pair(FILE *out, const char *key, const char *value)
{
    if (*value)
        fprintf(out, "%s = %s\n", key, value);
    else
        fprintf(out, "%s =\n", key);
}

void conf_dump(const struct conf *c, FILE *out)
{
    struct buf v;
    const char *section = NULL;

    buf_init(&v, 0);
    fputs("# Effective Tandem configuration\n", out);
    for (size_t i = 0; i < NOPTS; i++) {
        if (section == NULL || strcmp(section, opts[i].section) != 0) {
            section = opts[i].section;
            fprintf(out, "\n[%s]\n", section);
        }
        buf_reset(&v);
        value_text(c, &opts[i], &v);
        print_pair(out, opts[i].key, v.data);
    }
    buf_free(&v);
}

static bool same_value(const struct conf *a, const struct conf *b, const struct opt *o)
{
    switch (o->type) {
    case OPT_INT:
        return *(const long *)cfield(a, o) == *(const long *)cfield(b, o);
    case OPT_BOOL:
        return *(const bool *)cfield(a, o) == *(const bool *)cfield(b, o);
    case OPT_ENUM:
        return *(const int *)cfield(a, o) == *(const int *)cfield(b, o);
    case OPT_STRING: {
        const char *x = *(char *const *)cfield(a, o), *y = *(char *const *)cfield(b, o);
        return strcmp(x ? x : "", y ? y : "") == 0;
    }
    }
    return false;
}

/* Move option o's value from src to dst (strings change owner). */
static void move_value(struct conf *dst, struct conf *src, const struct opt *o)
{
    switch (o->type) {
    case OPT_INT:
        *(long *)field(dst, o) = *(long *)field(src, o);
        break;
    case OPT_BOOL:
        *(bool *)field(dst, o) = *(bool *)field(src, o);
        break;
    case OPT_ENUM:
        *(int *)field(dst, o) = *(int *)field(src, o);
        *(const char **)((char *)dst + o->name_offset) =
            *(const char **)((char *)src + o->name_offset);
        break;
    case OPT_STRING:
        free(*(char **)field(dst, o));
        *(char **)field(dst, o) = *(char **)field(src, o);
        *(char **)field(src, o) = NULL;
        break;
    }
}

int conf_reload(struct conf *live, const char *path, char **err, char **changed_fixed)
{
    struct conf fresh;
    struct buf fixed;
    int rc;

    if (changed_fixed)
        *changed_fixed = NULL;
    rc = conf_load(&fresh, path, err);
    if (rc != TD_OK)
        return rc;
    buf_init(&fixed, 0);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (same_value(live, &fresh, o))
            continue;
        if (o->reloadable)
            move_value(live, &fresh, o);
        else
            (void)buf_printf(&fixed, "%s%s.%s", fixed.len ? ", " : "", o->section, o->key);
    }
    if (changed_fixed && fixed.len)
        *changed_fixed = buf_steal(&fixed, NULL);
    buf_free(&fixed);
    conf_free(&fresh);
    return TD_OK;
}

void conf_write_example(FILE *out)
{
    const char *section = NULL;

    fputs("# Tandem configuration: every option with its default.\n"
          "# Generated by conf_write_example() (src/core/conf.c); keep the two in sync.\n"
          "#\n"
          "# Syntax: [section] headers, `key = value` lines, comments start with # or ;.\n"
          "# Unknown sections or keys are errors. Every option can be overridden by the\n"
          "# environment variable TANDEM_<SECTION>_<KEY>, e.g. TANDEM_SERVER_HTTP_PORT=0,\n"
          "# which beats this file. Options marked \"reloadable\" take effect on a\n"
          "# configuration reload; the others need a restart.\n",
          out);
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        struct buf line;

        if (section == NULL || strcmp(section, o->section) != 0) {
            section = o->section;
            fprintf(out, "\n[%s]\n", section);
        } else {
            fputc('\n', out);
        }
        fprintf(out, "# %s.\n", o->help);
        buf_init(&line, 0);
        switch (o->type) {
        case OPT_INT:
            (void)buf_printf(&line, "Integer, %ld to %ld", o->min, o->max);
            break;
        case OPT_BOOL:
            (void)buf_appends(&line, "true or false");
            break;
        case OPT_ENUM:
            (void)buf_appends(&line, "One of ");
            enum_list(o, &line);
            break;
        case OPT_STRING:
            (void)buf_appends(&line, "Text");
            break;
        }
        fprintf(out, "# %s; %s.\n", line.data, o->reloadable ? "reloadable" : "restart needed");
        buf_free(&line);
        print_pair(out, o->key, o->def);
    }
}
