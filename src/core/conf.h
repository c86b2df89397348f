/* SPDX-License-Identifier: MIT */
/* Server configuration: struct conf with plain typed fields, filled from one
 * table of settings (Redis config.c static_configs[] idea). The table drives
 * defaults, parsing tandem.ini (libinih), environment overrides
 * TANDEM_<SECTION>_<KEY>, validation, dumping the effective config, writing
 * the documented example file and reload. Unknown sections, unknown keys,
 * keys set twice and malformed values are errors: a typo must never pass
 * silently. Loop thread only (start-up and reload). */
#ifndef TD_CONF_H
#define TD_CONF_H

#include <stdbool.h>
#include <stdio.h>

/* accounts.signup */
enum conf_signup { CONF_SIGNUP_OPEN = 0, CONF_SIGNUP_INVITE, CONF_SIGNUP_CLOSED };
enum conf_registration { CONF_REG_OFF = 0, CONF_REG_OPEN, CONF_REG_TOKEN };

/* log.level; the indexes equal enum log_level in core/log.h. */
enum conf_log_level { CONF_LOG_DEBUG = 0, CONF_LOG_INFO, CONF_LOG_WARN, CONF_LOG_ERROR };

/* Every string is owned by the struct (freed by conf_free) and never NULL
 * after a successful conf_load; "" means "not set" where the option allows
 * it. Enum fields hold the index, and *_name the canonical value name
 * (a static string, not freed). Units are in the field comments. */
struct conf {
    /* [server] */
    char *domain;                /* site domain; messenger addresses are user@domain */
    char *base_url;              /* public URL; "" = http://<http_host>:<http_port> */
    char *http_host;             /* address the HTTP listener binds */
    long http_port;              /* 0 = pick a free port */
    long https_port;             /* 0 = HTTPS off */
    char *tls_cert;              /* PEM path; "" = <data_dir>/tls/cert.pem */
    char *tls_key;               /* PEM path; "" = <data_dir>/tls/key.pem */
    char *data_dir;              /* database, certificates, uploads */
    char *templates_dir;
    char *static_dir;
    long threads;                /* libuv thread-pool size */
    long max_connections;        /* whole server */
    long max_connections_per_ip; /* per peer address */
    long shutdown_timeout;       /* seconds for in-flight requests on SIGTERM */
    /* [http] */
    long max_header_bytes; /* whole request head */
    long max_headers;      /* header field count */
    long max_url_bytes;
    long max_body_bytes;
    long header_timeout; /* seconds to receive the request head (slowloris guard) */
    long body_timeout;   /* seconds to receive the body */
    long idle_timeout;   /* keep-alive idle seconds */
    /* [accounts] */
    int signup; /* enum conf_signup */
    const char *signup_name;
    long session_days;
    long password_min_length;   /* characters */
    long login_max_failures;    /* per account per login_window */
    long login_max_failures_ip; /* per address per login_window */
    long login_window;          /* seconds */
    long avatar_max_bytes;
    /* [oauth] */
    int oauth_registration; /* enum conf_registration */
    const char *oauth_registration_name;
    char *oauth_registration_token; /* "" = none */
    /* [xmpp] */
    bool xmpp_enabled;         /* run the XMPP client listener */
    long xmpp_c2s_port;        /* 0 = pick a free port */
    bool xmpp_allow_plaintext; /* SASL without TLS (loopback tests only) */
    long xmpp_rate_limit;      /* bytes/s per connection, 0 = off */
    long xmpp_c2s_tls_port;    /* XEP-0368 direct TLS: 0 = pick a free port, -1 = off */
    char *xmpp_websocket_origins; /* extra origins allowed on /xmpp-websocket, space-separated */
    long xmpp_component_port;  /* XEP-0114 listener on 127.0.0.1: 0 = free port, -1 = off */
    char *xmpp_components;     /* "domain:secret" pairs, space-separated */
    char *xmpp_upload_domain;  /* XEP-0363 service JID; "{domain}" suffix = server.domain; "" = off */
    long xmpp_upload_max_bytes; /* largest upload */
    char *xmpp_muc_domain;     /* XEP-0045 service: "auto" = conference.<domain>, "" = off */
    /* [microblog] */
    long mb_max_chars; /* post length limit (mb_text's rule) */
    long mb_media_max_bytes; /* largest image attachment upload */
    bool mb_password_grant; /* OAuth password grant for Mastodon apps (RFC 9700 §2.4: off) */
    /* [log] */
    int log_level; /* enum conf_log_level == enum log_level */
    const char *log_level_name;
    bool log_access; /* log every HTTP request */
};

/** Fill defaults, read path (NULL = no file; a named file that is missing is an
 * error), apply TANDEM_<SECTION>_<KEY> environment overrides, then validate.
 * Returns TD_OK, or TD_EINVAL with *err (caller frees; err may be NULL) naming
 * the file and line or the variable, and the option, e.g.
 * "tandem.ini:12: http.max_body_bytes: must be between 1024 and 1073741824".
 * On error *c is left empty (zeroed; conf_free is harmless). */
int conf_load(struct conf *c, const char *path, char **err);
/** Free the strings and zero *c. NULL-safe. */
void conf_free(struct conf *c);
/** Print the effective configuration as ini text that conf_load accepts. */
void conf_dump(const struct conf *c, FILE *out);
/** Load path (+ environment) into a fresh struct; on success copy the
 * reloadable options into live and return TD_OK. *changed_fixed (caller frees;
 * NULL if none; changed_fixed may be NULL) lists, comma-separated, the options
 * that changed but need a restart. On error live is untouched, *err is set as
 * for conf_load and TD_EINVAL is returned. */
int conf_reload(struct conf *live, const char *path, char **err, char **changed_fixed);
/** Write the documented example file: every option as `key = default` under
 * its [section], with its help in comments above. conf/tandem.ini.example is
 * exactly this output. */
void conf_write_example(FILE *out);

#endif
