/* SPDX-License-Identifier: MIT */
/* The `tandem` command: configuration, subcommands, and the server's event
 * loop. `serve` wires the modules together (store, web app, HTTP server,
 * listeners), handles signals (SIGTERM/SIGINT: stop accepting, let in-flight
 * requests finish within server.shutdown_timeout, close the store cleanly;
 * SIGHUP: reload the reloadable settings) and samples loop lag. The other
 * subcommands administer accounts and the database without a server. */
#include "auth/auth_account.h"
#include "auth/auth_password.h"
#include "auth/auth_scram.h"
#include "auth/auth_token.h"
#include "auth/auth_username.h"
#include "core/conf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/metrics.h"
#include "http/http_router.h"
#include "http/http_server.h"
#include "net/conn.h"
#include "net/tls.h"
#include "oauth/oauth.h"
#include "store/store_oauth.h"
#include "store/store.h"
#include "store/store_scram.h"
#include "tandem_version.h"
#include "web/web.h"
#include "xmpp/xmpp_c2s.h"
#include "xmpp/xmpp_upload.h"

#include <errno.h>
#include <sodium.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static const char *config_path; /* --config, $TANDEM_CONFIG or ./tandem.ini if present */

static const char usage_main[] =
    "usage: tandem [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  serve                 run the server\n"
    "  user add NAME [--admin] [--password-stdin]\n"
    "  user list\n"
    "  user passwd NAME [--password-stdin]\n"
    "  user disable NAME | user enable NAME\n"
    "  invite create [--uses N] [--days N]\n"
    "  client add NAME --redirect-uri URI [options] | client list | client remove ID\n"
    "  keys list | keys rotate [--delay SECONDS]\n"
    "  migrate               apply database migrations and exit\n"
    "  config check|dump|example\n"
    "  version\n"
    "\n"
    "The configuration file defaults to ./tandem.ini when it exists (see\n"
    "conf/tandem.ini.example); TANDEM_<SECTION>_<KEY> environment variables\n"
    "override it. `tandem COMMAND --help` describes each command.\n";

static int usage_error(const char *msg, const char *usage)
{
    fprintf(stderr, "tandem: %s\n\n%s", msg, usage);
    return 2;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

static int load_conf(struct conf *c)
{
    char *err = NULL;

    if (conf_load(c, config_path, &err) != TD_OK) {
        fprintf(stderr, "tandem: configuration: %s\n", err ? err : "invalid");
        free(err);
        return 1;
    }
    log_setup(stderr, (enum log_level)c->log_level);
    return 0;
}

static char *db_path(const struct conf *c)
{
    size_t n = strlen(c->data_dir) + 16;
    char *p = td_malloc(n);
    snprintf(p, n, "%s/tandem.db", c->data_dir);
    return p;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "tandem: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_store(const struct conf *c, bool migrate, struct store **st)
{
    struct store_opts o = {0};
    char *err = NULL;
    char *path;
    int rc;

    if (make_dir(c->data_dir) != 0)
        return 1;
    path = db_path(c);
    o.path = path;
    o.apply_migrations = migrate;
    rc = store_open(&o, st, &err);
    free(path);
    if (rc != TD_OK) {
        fprintf(stderr, "tandem: database: %s\n", err ? err : td_strerror(rc));
        free(err);
        return 1;
    }
    return 0;
}

/* ---- passwords on the command line ---- */

static int read_password(bool from_stdin, const char *prompt, char *out, size_t cap)
{
    struct termios old;
    struct termios quiet;
    bool tty = !from_stdin && isatty(STDIN_FILENO);

    if (!from_stdin && !tty) {
        fprintf(stderr, "tandem: no terminal to ask for the password; use --password-stdin\n");
        return -1;
    }
    if (tty) {
        fputs(prompt, stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    char *line = fgets(out, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (line == NULL) {
        fprintf(stderr, "tandem: no password given\n");
        return -1;
    }
    out[strcspn(out, "\r\n")] = '\0';
    return 0;
}

/* The messenger's SCRAM credentials (RFC 5803 text) for a new password. */
struct scram_creds {
    char sha1[STORE_SCRAM_CRED_MAX + 1];
    char sha256[STORE_SCRAM_CRED_MAX + 1];
};

static int derive_scram(const char *pw, struct scram_creds *out)
{
    static const enum auth_scram_hash hs[] = {AUTH_SCRAM_SHA1, AUTH_SCRAM_SHA256};
    char *dst[] = {out->sha1, out->sha256};
    struct auth_scram_cred cred;
    struct buf b;
    int rc = TD_OK;

    for (size_t i = 0; i < 2 && rc == TD_OK; i++) {
        buf_init(&b, STORE_SCRAM_CRED_MAX);
        rc = auth_scram_derive(hs[i], pw, strlen(pw), 0, &cred);
        if (rc == TD_OK)
            rc = auth_scram_cred_format(&cred, &b);
        if (rc == TD_OK)
            snprintf(dst[i], STORE_SCRAM_CRED_MAX + 1, "%s", b.data);
        sodium_memzero(&cred, sizeof(cred));
        buf_free(&b);
    }
    return rc;
}

static int store_scram_creds(struct store *st, int64_t account_id, const struct scram_creds *sc)
{
    int rc = store_scram_set(st, account_id, "SCRAM-SHA-1", sc->sha1);
    if (rc == TD_OK)
        rc = store_scram_set(st, account_id, "SCRAM-SHA-256", sc->sha256);
    return rc;
}

static int ask_new_password(const struct conf *c, bool from_stdin, char hash[128],
                            struct scram_creds *sc)
{
    char pw[AUTH_PASSWORD_MAX + 2];
    char again[AUTH_PASSWORD_MAX + 2];
    const char *why;
    int rc = 1;

    if (read_password(from_stdin, "New password: ", pw, sizeof(pw)) != 0)
        goto out;
    why = auth_password_policy(pw, strlen(pw), (size_t)c->password_min_length);
    if (why) {
        fprintf(stderr, "tandem: %s\n", why);
        goto out;
    }
    if (!from_stdin) {
        if (read_password(false, "Again: ", again, sizeof(again)) != 0)
            goto out;
        if (strcmp(pw, again) != 0) {
            fprintf(stderr, "tandem: the passwords do not match\n");
            goto out;
        }
    }
    if (auth_password_hash(pw, strlen(pw), hash) != TD_OK) {
        fprintf(stderr, "tandem: hashing the password failed\n");
        goto out;
    }
    if (derive_scram(pw, sc) != TD_OK) {
        fprintf(stderr, "tandem: deriving the messenger (SCRAM) credentials failed\n");
        goto out;
    }
    rc = 0;
out:
    memset(pw, 0, sizeof(pw));
    memset(again, 0, sizeof(again));
    return rc;
}

/* ---- user ---- */

static const char usage_user[] =
    "usage: tandem user add NAME [--admin] [--password-stdin]\n"
    "       tandem user list\n"
    "       tandem user passwd NAME [--password-stdin]\n"
    "       tandem user disable NAME\n"
    "       tandem user enable NAME\n"
    "\n"
    "Without --password-stdin the password is asked on the terminal. Disabling an\n"
    "account ends its sessions and refuses its log-ins until it is enabled again.\n";

static int print_account(void *ud, const struct account *a)
{
    (void)ud;
    printf("%-30s %-8s %s%s\n", a->username, a->disabled ? "disabled" : "active",
           a->is_admin ? "admin " : "", a->display_name);
    return 0;
}

static int user_cmd(struct conf *c, int argc, char **argv)
{
    struct store *st = NULL;
    struct account a;
    bool admin = false;
    bool from_stdin = false;
    const char *sub;
    const char *name = NULL;
    char hash[128];
    struct scram_creds sc;
    int rc = 1;

    memset(&sc, 0, sizeof(sc));
    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_user, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    sub = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--admin") == 0)
            admin = true;
        else if (strcmp(argv[i], "--password-stdin") == 0)
            from_stdin = true;
        else if (argv[i][0] == '-')
            return usage_error("unknown option", usage_user);
        else if (name == NULL)
            name = argv[i];
        else
            return usage_error("too many arguments", usage_user);
    }
    if (strcmp(sub, "list") != 0 && name == NULL)
        return usage_error("a user name is needed", usage_user);
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "passwd") != 0 &&
        strcmp(sub, "disable") != 0 && strcmp(sub, "enable") != 0)
        return usage_error("unknown user command", usage_user);
    if (open_store(c, true, &st) != 0)
        return 1;
    memset(&a, 0, sizeof(a));
    if (strcmp(sub, "list") == 0) {
        rc = store_account_list(st, print_account, NULL) == TD_OK ? 0 : 1;
        goto out;
    }
    if (strcmp(sub, "add") == 0) {
        const char *why = auth_username_check(name);
        if (why) {
            fprintf(stderr, "tandem: %s\n", why);
            goto out;
        }
        if (store_account_get_by_name(st, name, &a) == TD_OK) {
            fprintf(stderr, "tandem: the name %s is taken\n", name);
            goto out;
        }
        if (ask_new_password(c, from_stdin, hash, &sc) != 0)
            goto out;
        int crc = auth_account_create(st, name, hash, admin, &a);
        if (crc == TD_OK)
            crc = store_scram_creds(st, a.id, &sc);
        if (crc != TD_OK) {
            fprintf(stderr, "tandem: cannot create %s: %s\n", name, td_strerror(crc));
            goto out;
        }
        printf("created %s%s (%s@%s)\n", name, admin ? " as admin" : "", name, c->domain);
        rc = 0;
        goto out;
    }
    if (store_account_get_by_name(st, name, &a) != TD_OK) {
        fprintf(stderr, "tandem: no such user: %s\n", name);
        goto out;
    }
    if (strcmp(sub, "passwd") == 0) {
        if (ask_new_password(c, from_stdin, hash, &sc) != 0)
            goto out;
        if (store_account_set_password(st, a.id, hash) != TD_OK ||
            store_scram_creds(st, a.id, &sc) != TD_OK)
            goto out;
        store_session_delete_account(st, a.id, NULL);
        printf("password changed for %s; its sessions were ended\n", a.username);
    } else {
        bool disable = strcmp(sub, "disable") == 0;
        if (store_account_set_disabled(st, a.id, disable) != TD_OK)
            goto out;
        if (disable)
            store_session_delete_account(st, a.id, NULL);
        printf("%s %s\n", a.username, disable ? "disabled; its sessions were ended" : "enabled");
    }
    rc = 0;
out:
    sodium_memzero(&sc, sizeof(sc));
    store_account_clear(&a);
    store_close(st);
    return rc;
}

/* ---- invite ---- */

static const char usage_invite[] =
    "usage: tandem invite create [--uses N] [--days N]\n"
    "\n"
    "Prints a new invitation code for sign-up in invite mode (accounts.signup =\n"
    "invite). Defaults: 1 use, valid 7 days.\n";

static bool parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int invite_cmd(struct conf *c, int argc, char **argv)
{
    long uses = 1;
    long days = 7;
    struct store *st = NULL;
    char code[44];
    uint8_t hash[32];

    if (argc < 1 || wants_help(argc, argv) || strcmp(argv[0], "create") != 0) {
        if (argc >= 1 && wants_help(argc, argv)) {
            fputs(usage_invite, stdout);
            return 0;
        }
        return usage_error("unknown invite command", usage_invite);
    }
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--uses") == 0) {
            if (!parse_long(argv[++i], 1, 100000, &uses))
                return usage_error("--uses takes a number from 1 to 100000", usage_invite);
        } else if (i + 1 < argc && strcmp(argv[i], "--days") == 0) {
            if (!parse_long(argv[++i], 1, 3650, &days))
                return usage_error("--days takes a number from 1 to 3650", usage_invite);
        } else {
            return usage_error("unknown option", usage_invite);
        }
    }
    if (open_store(c, true, &st) != 0)
        return 1;
    auth_token_new(code, hash);
    int rc = store_invite_create(st, hash, auth_now_ms() + days * 86400000L, (int)uses);
    store_close(st);
    if (rc != TD_OK) {
        fprintf(stderr, "tandem: cannot store the invitation: %s\n", td_strerror(rc));
        return 1;
    }
    printf("%s\n", code);
    return 0;
}

/* ---- client ---- */

static const char usage_client[] =
    "usage: tandem client add NAME [--redirect-uri URI]... [--public]\n"
    "                         [--auth-method client_secret_basic|client_secret_post]\n"
    "                         [--grant GRANT]... [--scope \"SCOPES\"]\n"
    "                         [--id-token-alg RS256|ES256|EdDSA]\n"
    "                         [--post-logout-redirect-uri URI]...\n"
    "       tandem client list\n"
    "       tandem client remove CLIENT_ID\n"
    "\n"
    "Registers an OAuth 2.0 / OpenID Connect client. Confidential clients get a\n"
    "secret, printed once (only its keyed hash is stored); --public makes a client\n"
    "without one (native and browser apps, which must use PKCE). Grants:\n"
    "authorization_code (default, with refresh_token), refresh_token,\n"
    "client_credentials, urn:ietf:params:oauth:grant-type:device_code.\n";

static int print_client(void *ud, const struct oauth_client *cl)
{
    (void)ud;
    printf("%-24s %-20s %-20s %s\n", cl->client_id, cl->name, cl->auth_method, cl->grant_types);
    return 0;
}

static int client_add(struct conf *c, struct store *st, int argc, char **argv)
{
    struct oauth o;
    struct oauth_client cl;
    json_t *uris = json_array();
    json_t *logout_uris = json_array();
    struct buf grants;
    char secret[44];
    const char *why = NULL;
    char *err = NULL;
    int rc = 1;

    memset(&cl, 0, sizeof(cl));
    memset(&o, 0, sizeof(o));
    buf_init(&grants, 0);
    cl.name = argv[0];
    cl.auth_method = (char *)"client_secret_basic";
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--public") == 0) {
            cl.auth_method = (char *)"none";
            continue;
        }
        if (val == NULL) {
            rc = usage_error("an option is missing its value", usage_client);
            goto out;
        }
        i++;
        if (strcmp(opt, "--redirect-uri") == 0)
            json_array_append_new(uris, json_string(val));
        else if (strcmp(opt, "--post-logout-redirect-uri") == 0)
            json_array_append_new(logout_uris, json_string(val));
        else if (strcmp(opt, "--grant") == 0)
            buf_printf(&grants, "%s%s", grants.len ? " " : "", val);
        else if (strcmp(opt, "--scope") == 0)
            cl.scope = (char *)val;
        else if (strcmp(opt, "--auth-method") == 0)
            cl.auth_method = (char *)val;
        else if (strcmp(opt, "--id-token-alg") == 0)
            cl.id_token_alg = (char *)val;
        else {
            rc = usage_error("unknown option", usage_client);
            goto out;
        }
    }
    cl.redirect_uris = json_dumps(uris, JSON_COMPACT);
    cl.post_logout_redirect_uris = json_dumps(logout_uris, JSON_COMPACT);
    if (grants.len)
        cl.grant_types = grants.data;
    if (oauth_init(&o, NULL, st, c->base_url, c->domain, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot open the OAuth provider");
        free(err);
        goto out;
    }
    if (oauth_client_register(&o, &cl, secret, &why) != TD_OK) {
        fprintf(stderr, "tandem: cannot register the client: %s\n", why ? why : "store error");
        goto out;
    }
    printf("client_id: %s\n", cl.client_id);
    if (secret[0])
        printf("client_secret: %s\n", secret);
    free(cl.client_id);
    rc = 0;
out:
    oauth_free(&o);
    free(cl.redirect_uris);
    free(cl.post_logout_redirect_uris);
    json_decref(uris);
    json_decref(logout_uris);
    buf_free(&grants);
    sodium_memzero(secret, sizeof(secret));
    return rc;
}

static int client_cmd(struct conf *c, int argc, char **argv)
{
    struct store *st = NULL;
    int rc;

    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_client, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "add") == 0 && argc < 2)
        return usage_error("a client name is needed", usage_client);
    if (strcmp(argv[0], "remove") == 0 && argc != 2)
        return usage_error("remove takes one client_id", usage_client);
    if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "list") != 0 &&
        strcmp(argv[0], "remove") != 0)
        return usage_error("unknown client command", usage_client);
    if (open_store(c, true, &st) != 0)
        return 1;
    if (strcmp(argv[0], "add") == 0) {
        rc = client_add(c, st, argc - 1, argv + 1);
    } else if (strcmp(argv[0], "list") == 0) {
        rc = store_oauth_client_list(st, print_client, NULL) == TD_OK ? 0 : 1;
    } else {
        struct oauth_client cl;
        if (store_oauth_client_get(st, argv[1], &cl) != TD_OK) {
            fprintf(stderr, "tandem: no such client: %s\n", argv[1]);
            rc = 1;
        } else {
            store_oauth_client_clear(&cl);
            rc = store_oauth_client_delete(st, argv[1]) == TD_OK ? 0 : 1;
            if (rc == 0)
                printf("removed %s and every token it held\n", argv[1]);
        }
    }
    store_close(st);
    return rc;
}

/* ---- keys ---- */

static const char usage_keys[] =
    "usage: tandem keys list\n"
    "       tandem keys rotate [--delay SECONDS]\n"
    "\n"
    "id_token signing keys, one per algorithm (RS256, ES256, EdDSA). rotate makes\n"
    "new keys and publishes them in the JWKS at once; they start signing after\n"
    "--delay (default 86400, so relying parties that cache the JWKS learn them\n"
    "first), and the old keys stay published until the id_tokens they signed\n"
    "have expired. A running server picks the change up on SIGHUP.\n";

static int print_key(void *ud, const struct oauth_key_row *k)
{
    int64_t now = *(int64_t *)ud;
    const char *state = k->retire_at && k->retire_at <= now ? "retired"
                        : k->retire_at                      ? "retiring"
                        : k->use_from > now                 ? "published"
                                                            : "signing";
    printf("%-44s %-6s %s\n", k->kid, k->alg, state);
    return 0;
}

static int keys_cmd(struct conf *c, int argc, char **argv)
{
    struct store *st = NULL;
    struct oauth_keys *k = NULL;
    long delay = 86400;
    char *err = NULL;
    int64_t now = store_now_ms();
    int rc = 1;

    if (argc < 1 || wants_help(argc, argv)) {
        fputs(usage_keys, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (strcmp(argv[0], "list") != 0 && strcmp(argv[0], "rotate") != 0)
        return usage_error("unknown keys command", usage_keys);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--delay") == 0 && i + 1 < argc) {
            if (!parse_long(argv[++i], 0, 30 * 86400, &delay))
                return usage_error("--delay takes seconds from 0 to 2592000", usage_keys);
        } else {
            return usage_error("unknown option", usage_keys);
        }
    }
    if (open_store(c, true, &st) != 0)
        return 1;
    if (oauth_keys_open(st, &k, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot open the signing keys");
        free(err);
        goto out;
    }
    if (strcmp(argv[0], "rotate") == 0) {
        if (oauth_keys_rotate(k, st, (int64_t)delay * 1000) != TD_OK) {
            fprintf(stderr, "tandem: key rotation failed\n");
            goto out;
        }
        printf("new keys published; they sign from %ld s from now\n", delay);
    }
    now = store_now_ms();
    rc = store_oauth_key_list(st, print_key, &now) == TD_OK ? 0 : 1;
out:
    oauth_keys_free(k);
    store_close(st);
    return rc;
}

/* ---- migrate, config, version ---- */

static int migrate_cmd(struct conf *c, int argc, char **argv)
{
    char *path;
    char *err = NULL;
    int from = 0;
    int to = 0;
    int rc;

    if (wants_help(argc, argv)) {
        puts("usage: tandem migrate\n\nApplies the database migrations this tandem knows "
             "and exits.\nRefuses a database newer than this tandem.");
        return 0;
    }
    if (argc > 0)
        return usage_error("migrate takes no arguments", "usage: tandem migrate\n");
    if (make_dir(c->data_dir) != 0)
        return 1;
    path = db_path(c);
    rc = store_migrate(path, &from, &to, &err);
    if (rc != TD_OK) {
        fprintf(stderr, "tandem: %s: %s\n", path, err ? err : td_strerror(rc));
        free(err);
        free(path);
        return 1;
    }
    if (from == to)
        printf("%s: schema version %d, up to date\n", path, to);
    else
        printf("%s: migrated from schema version %d to %d\n", path, from, to);
    free(path);
    return 0;
}

static int config_cmd(struct conf *c, int argc, char **argv)
{
    static const char usage[] = "usage: tandem config check|dump|example\n";

    if (argc != 1 || wants_help(argc, argv)) {
        fputs(usage, argc == 1 ? stdout : stderr);
        return argc == 1 ? 0 : 2;
    }
    if (strcmp(argv[0], "check") == 0) {
        printf("configuration ok%s%s\n", config_path ? ": " : " (defaults)",
               config_path ? config_path : "");
        return 0;
    }
    if (strcmp(argv[0], "dump") == 0) {
        conf_dump(c, stdout);
        return 0;
    }
    if (strcmp(argv[0], "example") == 0) {
        conf_write_example(stdout);
        return 0;
    }
    return usage_error("unknown config command", usage);
}

/* ---- serve ---- */

struct server {
    uv_loop_t *loop;
    struct conf *conf;
    struct store *store;
    struct web_app app;
    struct http_server *http;
    struct listener *http_l;
    struct listener *https_l;
    struct xmpp_c2s *xmpp;
    struct tls_ctx *tls;
    struct tls_ctx *xmpp_tls; /* XEP-0368 direct TLS: the same certificate, ALPN xmpp-client */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t lag_timer;
    uv_timer_t stop_timer;
    uint64_t lag_expected;
    uint64_t stop_deadline;
    bool stopping;
};

static const char usage_serve[] =
    "usage: tandem serve\n"
    "\n"
    "Runs the server in the foreground with the configuration file and\n"
    "environment (see `tandem --help`). SIGTERM or SIGINT stops it gracefully;\n"
    "SIGHUP reloads the settings that can change while running.\n";

static double gauge_conns(void *ud)
{
    (void)ud;
    return (double)conn_open_count();
}

static double gauge_inflight(void *ud)
{
    return (double)http_server_inflight(((struct server *)ud)->http);
}

static double gauge_xmpp_sessions(void *ud)
{
    struct server *s = ud;
    return s->xmpp ? (double)xmpp_c2s_session_count(s->xmpp) : 0.0;
}

static double gauge_xmpp_awake(void *ud)
{
    struct server *s = ud;
    return s->xmpp ? (double)xmpp_c2s_awake_count(s->xmpp) : 0.0;
}

static double gauge_accounts(void *ud)
{
    int64_t n = 0;
    store_account_count(((struct server *)ud)->store, &n);
    return (double)n;
}

#define LAG_INTERVAL_MS 1000

static void lag_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    uint64_t now = uv_now(s->loop);
    uint64_t late = now > s->lag_expected ? now - s->lag_expected : 0;

    metrics_loop_lag((double)late / 1000.0);
    s->lag_expected = now + LAG_INTERVAL_MS;
}

static void close_walk(uv_handle_t *h, void *ud)
{
    (void)ud;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void abort_conn(struct conn *c, void *ud)
{
    (void)ud;
    conn_abort(c);
}

static void stop_check(uv_timer_t *t)
{
    struct server *s = t->data;

    if (conn_open_count() > 0 && uv_now(s->loop) < s->stop_deadline)
        return;
    if (conn_open_count() > 0) {
        log_warn("server.shutdown_timeout", "conns=%zu", conn_open_count());
        listener_foreach(s->http_l, abort_conn, NULL);
        if (s->https_l)
            listener_foreach(s->https_l, abort_conn, NULL);
        if (s->xmpp)
            listener_foreach(xmpp_c2s_listener(s->xmpp), abort_conn, NULL);
        if (s->xmpp && xmpp_c2s_tls_listener(s->xmpp))
            listener_foreach(xmpp_c2s_tls_listener(s->xmpp), abort_conn, NULL);
        if (s->xmpp && xmpp_component_listener(s->xmpp))
            listener_foreach(xmpp_component_listener(s->xmpp), abort_conn, NULL);
        return; /* the aborts finish on the next turns */
    }
    uv_stop(s->loop);
}

static void begin_shutdown(struct server *s, const char *why)
{
    if (s->stopping)
        return;
    s->stopping = true;
    log_info("server.stopping", "signal=%s inflight=%zu conns=%zu", why,
             http_server_inflight(s->http), conn_open_count());
    /* XMPP first: its WebSocket sessions get their system-shutdown stream
     * error before the HTTP server closes their connections. */
    if (s->xmpp) {
        xmpp_component_shutdown(s->xmpp);
        xmpp_c2s_shutdown(s->xmpp);
    }
    http_server_shutdown(s->http, s->http_l);
    if (s->https_l)
        http_server_shutdown(s->http, s->https_l);
    listener_stop(s->http_l);
    if (s->https_l)
        listener_stop(s->https_l);
    s->stop_deadline = uv_now(s->loop) + (uint64_t)s->conf->shutdown_timeout * 1000;
    uv_timer_start(&s->stop_timer, stop_check, 0, 50);
}

static struct http_limits limits_from(const struct conf *c)
{
    struct http_limits l = {
        .max_header_bytes = (size_t)c->max_header_bytes,
        .max_headers = (size_t)c->max_headers,
        .max_url_bytes = (size_t)c->max_url_bytes,
        .max_body_bytes = (size_t)c->max_body_bytes,
        .header_timeout_ms = (uint64_t)c->header_timeout * 1000,
        .body_timeout_ms = (uint64_t)c->body_timeout * 1000,
        .idle_timeout_ms = (uint64_t)c->idle_timeout * 1000,
    };
    return l;
}

/* Signing keys may have been rotated with `tandem keys rotate`: load them again. */
static void reload_keys(struct server *s)
{
    struct oauth_keys *k = NULL;
    char *err = NULL;

    if (s->app.oauth == NULL)
        return;
    if (oauth_keys_open(s->store, &k, &err) != TD_OK) {
        log_err("oauth.keys_reload_failed", "error=%s", log_q(err));
        free(err);
        return;
    }
    oauth_keys_free(s->app.oauth->keys);
    s->app.oauth->keys = k;
    log_info("oauth.keys_reloaded", "pid=%d", (int)getpid());
}

static void reload(struct server *s)
{
    char *err = NULL;
    char *fixed = NULL;

    if (conf_reload(s->conf, config_path, &err, &fixed) != TD_OK) {
        log_err("config.reload_failed", "error=%s", log_q(err));
        free(err);
        return;
    }
    log_set_level((enum log_level)s->conf->log_level);
    web_app_reconfigure(&s->app);
    reload_keys(s);
    struct http_limits l = limits_from(s->conf);
    http_server_set_limits(s->http, &l);
    if (fixed)
        log_warn("config.restart_needed", "options=%s", log_q(fixed));
    log_info("config.reloaded", "path=%s", log_q(config_path ? config_path : "(defaults)"));
    free(fixed);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;

    if (signum == SIGHUP)
        reload(s);
    else
        begin_shutdown(s, signum == SIGTERM ? "TERM" : "INT");
}

/* Certificate for HTTPS and (later) XMPP STARTTLS: the configured one, or a
 * self-signed one made on first start. */
static int setup_tls(struct server *s)
{
    struct conf *c = s->conf;
    char cert[4200];
    char key[4200];
    char dir[4096];
    char *err = NULL;

    snprintf(dir, sizeof(dir), "%s/tls", c->data_dir);
    if (c->tls_cert[0]) {
        snprintf(cert, sizeof(cert), "%s", c->tls_cert);
        snprintf(key, sizeof(key), "%s", c->tls_key);
    } else {
        snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
        snprintf(key, sizeof(key), "%s/key.pem", dir);
        if (make_dir(dir) != 0)
            return -1;
        if (access(cert, F_OK) != 0) {
            if (tls_selfsigned_generate(cert, key, c->domain, &err) != TD_OK) {
                fprintf(stderr, "tandem: self-signed certificate: %s\n", err);
                free(err);
                return -1;
            }
            log_info("tls.selfsigned_created", "cert=%s", log_q(cert));
        }
    }
    if (tls_ctx_new_server(cert, key, &s->tls, &err) != TD_OK) {
        fprintf(stderr, "tandem: TLS: %s\n", err);
        free(err);
        return -1;
    }
    /* XEP-0368 §3: direct TLS clients ask for ALPN "xmpp-client"; a context
     * of its own keeps "http/1.1" on the HTTPS port. */
    if (c->xmpp_enabled && c->xmpp_c2s_tls_port >= 0) {
        if (tls_ctx_new_server(cert, key, &s->xmpp_tls, &err) != TD_OK) {
            fprintf(stderr, "tandem: TLS: %s\n", err);
            free(err);
            return -1;
        }
        if (tls_ctx_set_alpn(s->xmpp_tls, "xmpp-client") != TD_OK)
            return -1; /* cannot happen: a valid name on a server context */
    }
    return 0;
}

static int start_listener(struct server *s, int port, struct tls_ctx *tls, const char *name,
                          struct listener **out)
{
    struct listener_opts lo = {0};
    char *err = NULL;

    http_server_listener_opts(s->http, &lo);
    lo.host = s->conf->http_host;
    lo.port = port;
    lo.tls = tls;
    lo.name = name;
    lo.max_conns = (size_t)s->conf->max_connections;
    lo.max_conns_per_ip = (size_t)s->conf->max_connections_per_ip;
    if (listener_start(s->loop, &lo, out, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err);
        free(err);
        return -1;
    }
    log_info("server.listening", "proto=%s addr=%s port=%d", name, s->conf->http_host,
             listener_port(*out));
    return 0;
}

/* The XMPP endpoints on the HTTP listener. Route handlers get only the
 * request, so the one XMPP service of this process is reached from here. */
static struct xmpp_c2s *xmpp_web;

static void handle_xmpp_websocket(struct http_req *r)
{
    struct web_app *app = r->app;
    xmpp_c2s_ws_attach(xmpp_web, r, app->base_url, app->conf->xmpp_websocket_origins);
}

/* XEP-0363: PUT, GET, HEAD and OPTIONS of an upload slot. */
static void handle_upload(struct http_req *r)
{
    xmpp_upload_http(xmpp_web, r);
}

/* The HTTP server asks each request head for its body limit: the upload PUT
 * route takes files up to xmpp.upload_max_bytes, the Mastodon API's media
 * uploads microblog.media_max_bytes, every other request keeps
 * http.max_body_bytes. */
static size_t body_limit(const struct http_req *r)
{
    struct web_app *app = r->app;
    /* Mastodon API media uploads: microblog.media_max_bytes and the multipart framing. */
    if (app && strcmp(r->method, "POST") == 0 &&
        (strcmp(r->path, "/api/v1/media") == 0 || strcmp(r->path, "/api/v2/media") == 0))
        return (size_t)app->conf->mb_media_max_bytes + 64 * 1024;
    return xmpp_web ? xmpp_upload_body_limit(xmpp_web, r) : 0;
}

static void handle_xmpp_bosh(struct http_req *r)
{
    struct web_app *app = r->app;
    xmpp_c2s_bosh_handle(xmpp_web, r, app->base_url, app->conf->xmpp_websocket_origins);
}

static void handle_host_meta(struct http_req *r)
{
    xmpp_c2s_host_meta(r, ((struct web_app *)r->app)->base_url, false);
}

static void handle_host_meta_json(struct http_req *r)
{
    xmpp_c2s_host_meta(r, ((struct web_app *)r->app)->base_url, true);
}

/* The XMPP client listeners (STARTTLS with the server certificate, and
 * XEP-0368 direct TLS), the WebSocket endpoint (RFC 7395, XEP-0156) and BOSH
 * (XEP-0206). */
static int start_xmpp(struct server *s)
{
    const struct conf *c = s->conf;
    struct xmpp_c2s_opts o = {
        .domain = c->domain,
        .host = c->http_host,
        .port = (int)c->xmpp_c2s_port,
        .tls = s->tls,
        .allow_plaintext = c->xmpp_allow_plaintext,
        .store = s->store,
        .oauth = s->app.oauth,
        .max_conns = (size_t)c->max_connections,
        .max_conns_per_ip = (size_t)c->max_connections_per_ip,
        .rate_limit = (size_t)c->xmpp_rate_limit,
        .tls_port = (int)c->xmpp_c2s_tls_port,
        .direct_tls = s->xmpp_tls,
    };
    char *err = NULL;
    char muc[300];

    /* XEP-0045: "auto" puts the service on conference.<domain>. */
    if (strcmp(c->xmpp_muc_domain, "auto") == 0) {
        snprintf(muc, sizeof(muc), "conference.%s", c->domain);
        o.muc_domain = muc;
    } else {
        o.muc_domain = c->xmpp_muc_domain;
    }

    if (xmpp_c2s_start(s->loop, &o, &s->xmpp, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot start the XMPP listener");
        free(err);
        return -1;
    }
    log_info("server.listening", "proto=xmpp addr=%s port=%d", c->http_host,
             xmpp_c2s_port(s->xmpp));
    if (xmpp_c2s_tls_listener(s->xmpp))
        log_info("server.listening", "proto=xmpps addr=%s port=%d", c->http_host,
                 xmpp_c2s_tls_port(s->xmpp));
    /* XEP-0114 components: loopback only, the protocol has no TLS. */
    struct xmpp_component_opts co = {
        .host = "127.0.0.1",
        .port = (int)c->xmpp_component_port,
        .components = c->xmpp_components,
    };
    if (xmpp_component_start(s->xmpp, &co, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot start the component listener");
        free(err);
        return -1;
    }
    if (xmpp_component_port(s->xmpp) >= 0)
        log_info("server.listening", "proto=xmpp-component addr=127.0.0.1 port=%d",
                 xmpp_component_port(s->xmpp));
    xmpp_web = s->xmpp;
    if (c->xmpp_upload_domain[0]) {
        /* "{domain}" at the end of the option stands for server.domain. */
        const char *ud = c->xmpp_upload_domain;
        size_t ul = strlen(ud), sl = sizeof("{domain}") - 1;
        char dom[1100];
        if (ul >= sl && strcmp(ud + ul - sl, "{domain}") == 0)
            snprintf(dom, sizeof(dom), "%.*s%s", (int)(ul - sl), ud, c->domain);
        else
            snprintf(dom, sizeof(dom), "%s", ud);
        struct xmpp_upload_opts uo = {
            .domain = dom,
            .max_bytes = (size_t)c->xmpp_upload_max_bytes,
            .base_url = s->app.base_url,
            .data_dir = c->data_dir,
        };
        if (xmpp_upload_configure(s->xmpp, &uo, &err) != TD_OK) {
            fprintf(stderr, "tandem: %s\n", err ? err : "cannot start the upload service");
            free(err);
            return -1;
        }
        web_app_route_bare(&s->app, "*", "/upload/:owner/:id/:name", handle_upload);
    }
    http_router_add(s->app.router, "GET", "/xmpp-websocket", handle_xmpp_websocket);
    web_app_route_bare(&s->app, "*", "/http-bind", handle_xmpp_bosh); /* XEP-0206 */
    web_app_route_bare(&s->app, "GET", "/.well-known/host-meta", handle_host_meta);
    web_app_route_bare(&s->app, "GET", "/.well-known/host-meta.json", handle_host_meta_json);
    return 0;
}

/* The public base URL (the OAuth issuer): server.base_url, or the HTTP
 * listener's own address once it is bound (port 0 picks one). */
static int start_app(struct server *s)
{
    const struct conf *c = s->conf;
    char base[300];
    char *err = NULL;
    const char *host = c->http_host;

    if (c->base_url[0]) {
        snprintf(base, sizeof(base), "%s", c->base_url);
    } else {
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
            host = "localhost";
        snprintf(base, sizeof(base), strchr(host, ':') ? "http://[%s]:%d" : "http://%s:%d", host,
                 listener_port(s->http_l));
    }
    if (web_app_start(&s->app, base, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot start the OAuth provider");
        free(err);
        return -1;
    }
    log_info("server.base_url", "url=%s", log_q(base));
    return 0;
}

static int serve_cmd(struct conf *c, int argc, char **argv)
{
    struct server s;
    char *err = NULL;
    sigset_t stop_sigs;
    char threads[16];
    int rc = 1;

    if (wants_help(argc, argv)) {
        fputs(usage_serve, stdout);
        return 0;
    }
    if (argc > 0)
        return usage_error("serve takes no arguments", usage_serve);
    memset(&s, 0, sizeof(s));
    s.conf = c;
    /* A stop request during start-up waits until the handlers below are in
     * place (then it stops the server cleanly) instead of killing it by the
     * signal's default action; threads started meanwhile keep it blocked, so
     * the signals go to this one. */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);
    /* The pool size must be set before libuv starts its threads. */
    snprintf(threads, sizeof(threads), "%ld", c->threads);
    setenv("UV_THREADPOOL_SIZE", threads, 1);
    signal(SIGPIPE, SIG_IGN);
    /* No fastbins: a page or an entity list builds thousands of small JSON
     * nodes and frees them, and the next allocation of 1 KiB or more (a
     * growing output buffer) then made glibc consolidate every freed one
     * (malloc_consolidate was 6 % of the HTML home timeline's profile).
     * Small blocks are still cached per thread (tcache). Measured with
     * bench/microblog.sh: the HTML home timeline 7-9 % faster. */
    mallopt(M_MXFAST, 0);
    s.loop = uv_default_loop();
    if (open_store(c, true, &s.store) != 0)
        return 1;
    /* Group commit and WAL checkpoints off the loop thread (store.h). */
    if (store_group_attach(s.store, s.loop, NULL) != TD_OK) {
        store_close(s.store);
        return 1;
    }
    if (setup_tls(&s) != 0)
        goto out;
    if (web_app_init(&s.app, s.loop, c, s.store, &err) != TD_OK) {
        fprintf(stderr, "tandem: %s\n", err ? err : "cannot start the web application");
        free(err);
        goto out;
    }
    struct http_server_opts ho = {
        .limits = limits_from(c),
        .handler = web_app_handle,
        .done = web_app_done,
        .app = &s.app,
        .body_limit = body_limit,
    };
    http_server_new(s.loop, &ho, &s.http);
    if (start_listener(&s, (int)c->http_port, NULL, "http", &s.http_l) != 0)
        goto out;
    if (c->https_port && start_listener(&s, (int)c->https_port, s.tls, "https", &s.https_l) != 0)
        goto out;
    if (start_app(&s) != 0)
        goto out;
    if (c->xmpp_enabled && start_xmpp(&s) != 0) /* after the app: OAUTHBEARER needs its tokens */
        goto out;

    metrics_gauge_add("tandem_open_connections", "Open client connections.", gauge_conns, NULL);
    metrics_gauge_add("tandem_http_inflight_requests", "Requests being handled.",
                      gauge_inflight, &s);
    metrics_gauge_add("tandem_accounts", "Accounts on this site.", gauge_accounts, &s);
    metrics_gauge_add("tandem_xmpp_sessions", "Bound XMPP client sessions.",
                      gauge_xmpp_sessions, &s);
    metrics_gauge_add("tandem_xmpp_awake_sessions",
                      "Bound XMPP sessions holding an XML parser (read from in the last 250 ms).",
                      gauge_xmpp_awake, &s);

    uv_signal_init(s.loop, &s.sig_term);
    uv_signal_init(s.loop, &s.sig_int);
    uv_signal_init(s.loop, &s.sig_hup);
    s.sig_term.data = s.sig_int.data = s.sig_hup.data = &s;
    uv_signal_start(&s.sig_term, on_signal, SIGTERM);
    uv_signal_start(&s.sig_int, on_signal, SIGINT);
    uv_signal_start(&s.sig_hup, on_signal, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &stop_sigs, NULL);
    uv_timer_init(s.loop, &s.lag_timer);
    uv_timer_init(s.loop, &s.stop_timer);
    s.lag_timer.data = s.stop_timer.data = &s;
    s.lag_expected = uv_now(s.loop) + LAG_INTERVAL_MS;
    uv_timer_start(&s.lag_timer, lag_tick, LAG_INTERVAL_MS, LAG_INTERVAL_MS);
    uv_unref((uv_handle_t *)&s.lag_timer);

    log_info("server.started", "version=%s pid=%d data_dir=%s", TANDEM_VERSION, (int)getpid(),
             log_q(c->data_dir));
    uv_run(s.loop, UV_RUN_DEFAULT);
    rc = 0;
    log_info("server.stopped", "pid=%d", (int)getpid());

out:
    if (s.http_l)
        listener_free(s.http_l);
    if (s.https_l)
        listener_free(s.https_l);
    xmpp_component_close(s.xmpp);
    xmpp_c2s_close(s.xmpp);
    /* Commit what is pending; a running checkpoint finishes in the uv_run below. */
    store_group_detach(s.store);
    /* Close whatever handles remain (signals, timers) and let their close
     * callbacks run, so the loop and every conn are released. */
    uv_walk(s.loop, close_walk, NULL);
    uv_run(s.loop, UV_RUN_DEFAULT);
    xmpp_c2s_free(s.xmpp);
    xmpp_web = NULL;
    http_server_free(s.http);
    if (s.app.router)
        web_app_free(&s.app);
    tls_ctx_free(s.tls);
    tls_ctx_free(s.xmpp_tls);
    store_close(s.store);
    metrics_reset();
    uv_loop_close(s.loop);
    return rc;
}

/* ---- entry ---- */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct conf c;
    int ch;
    int rc;

    log_setup(stderr, LOG_INFO);
    /* Stop at the first non-option: the rest belongs to the subcommand. */
    while ((ch = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 'h':
            fputs(usage_main, stdout);
            return 0;
        case 'V':
            printf("tandem %s\n", TANDEM_VERSION);
            return 0;
        default:
            fputs(usage_main, stderr);
            return 2;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        fputs(usage_main, stderr);
        return 2;
    }
    if (config_path == NULL && getenv("TANDEM_CONFIG"))
        config_path = getenv("TANDEM_CONFIG");
    if (config_path == NULL && access("tandem.ini", F_OK) == 0)
        config_path = "tandem.ini";

    const char *cmd = argv[0];
    if (strcmp(cmd, "version") == 0) {
        printf("tandem %s\n", TANDEM_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "user") != 0 && strcmp(cmd, "invite") != 0 &&
        strcmp(cmd, "client") != 0 && strcmp(cmd, "keys") != 0 &&
        strcmp(cmd, "migrate") != 0 && strcmp(cmd, "config") != 0) {
        fprintf(stderr, "tandem: unknown command '%s'\n\n%s", cmd, usage_main);
        return 2;
    }
    if (load_conf(&c) != 0)
        return 1;
    if (strcmp(cmd, "serve") == 0)
        rc = serve_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "user") == 0)
        rc = user_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "invite") == 0)
        rc = invite_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "client") == 0)
        rc = client_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "keys") == 0)
        rc = keys_cmd(&c, argc - 1, argv + 1);
    else if (strcmp(cmd, "migrate") == 0)
        rc = migrate_cmd(&c, argc - 1, argv + 1);
    else
        rc = config_cmd(&c, argc - 1, argv + 1);
    conf_free(&c);
    return rc;
}
