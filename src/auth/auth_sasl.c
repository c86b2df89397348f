/* SPDX-License-Identifier: MIT */
/* Server-side SASL exchanges; see auth_sasl.h. SCRAM follows RFC 5802 §5
 * (message flow), §6 (channel binding and the 'y' downgrade check), §7 (the
 * ABNF, parsed strictly: gs2 header, saslname escapes "=2C"/"=3D" only,
 * printable nonce, the reserved "m=" refused, other extensions checked for
 * syntax and ignored, proof last) and §9 (an unknown user gets a fake salt
 * derived from a per-process secret and the name, so the same name always
 * sees the same salt, and fails only after the proof). The proof is checked
 * as H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey with a
 * constant-time compare, also for unknown users, so both paths do the same
 * work. PLAIN follows RFC 4616 §2 ("[authzid] NUL authcid NUL passwd"). Every
 * message is capped at AUTH_SASL_MSG_MAX bytes and must be valid UTF-8 with
 * no NUL (SCRAM) before it is looked at further. Keys, proofs and passwords
 * are wiped after use; nothing here logs. */
#include "auth/auth_sasl.h"

#include "core/codec.h"
#include "core/err.h"
#include "core/utf8.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SERVER_NONCE_BYTES 24 /* random bytes, base64: 32 characters */
#define CB_NAME_MAX 64        /* longest channel-binding type name */

static const char C_NOT_AUTHORIZED[] = "not-authorized";
static const char C_MALFORMED[] = "malformed-request";
static const char C_INVALID_AUTHZID[] = "invalid-authzid";
static const char C_INVALID_MECH[] = "invalid-mechanism";
static const char C_TEMPORARY[] = "temporary-auth-failure";

enum sasl_state {
    ST_FIRST,       /* waiting for the initial response (or the first message) */
    ST_SCRAM_FINAL, /* server-first sent; waiting for client-final */
    ST_PLAIN_WAIT,  /* check_plain answered TD_EAGAIN */
    ST_PLAIN_READY, /* auth_sasl_plain_result delivered */
    ST_BEARER_ERR,  /* OAUTHBEARER error sent; waiting for the client's %x01 */
    ST_SUCCESS,
    ST_FAILED,
};

struct auth_sasl {
    enum auth_sasl_mech mech;
    struct auth_sasl_cbs cb; /* copy of the caller's table */
    void *ud;                /* passed to the callbacks */
    char *cb_type;           /* owned; NULL without channel binding */
    uint8_t cb_data[AUTH_SASL_CB_MAX];
    size_t cb_len;
    bool cb_bad;       /* cb_len was over AUTH_SASL_CB_MAX */
    bool plus_offered; /* the server advertised -PLUS */
    enum sasl_state state;
    const char *condition;                    /* failure condition once ST_FAILED */
    bool sent_empty;                          /* answered a missing initial response */
    char *authcid;                            /* owned; unescaped username */
    bool unknown;                             /* no credential: must fail at the end */
    bool plain_ok;                            /* the asynchronous PLAIN result */
    struct auth_scram_cred cred;              /* real or fake credential; wiped */
    struct buf gs2;                           /* gs2 header exactly as received */
    struct buf auth_msg;                      /* client-first-bare "," server-first [...] */
    struct buf nonce;                         /* client nonce + server nonce */
    char test_nonce[AUTH_SASL_NONCE_MAX + 1]; /* auth_sasl__set_nonce, or empty */
};

/* Per-process key for fake salts (RFC 5802 §9), made once. */
static uint8_t fake_key[32];
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_key_init(void)
{
    TD_ASSERT(sodium_init() >= 0);
    randombytes_buf(fake_key, sizeof(fake_key));
}

static const struct {
    const char *name;
    enum auth_sasl_mech mech;
} MECHS[] = {
    {"PLAIN", AUTH_SASL_PLAIN},
    {"SCRAM-SHA-1", AUTH_SASL_SCRAM_SHA1},
    {"SCRAM-SHA-1-PLUS", AUTH_SASL_SCRAM_SHA1_PLUS},
    {"SCRAM-SHA-256", AUTH_SASL_SCRAM_SHA256},
    {"SCRAM-SHA-256-PLUS", AUTH_SASL_SCRAM_SHA256_PLUS},
    {"OAUTHBEARER", AUTH_SASL_OAUTHBEARER},
};

int auth_sasl_mech_parse(const char *name, enum auth_sasl_mech *out)
{
    if (name == NULL)
        return TD_ENOTFOUND;
    for (size_t i = 0; i < TD_ARRAY_LEN(MECHS); i++) {
        if (strcmp(name, MECHS[i].name) == 0) {
            *out = MECHS[i].mech;
            return TD_OK;
        }
    }
    return TD_ENOTFOUND;
}

const char *auth_sasl_mech_name(enum auth_sasl_mech m)
{
    for (size_t i = 0; i < TD_ARRAY_LEN(MECHS); i++) {
        if (MECHS[i].mech == m)
            return MECHS[i].name;
    }
    return "UNKNOWN";
}

static bool mech_is_plus(enum auth_sasl_mech m)
{
    return m == AUTH_SASL_SCRAM_SHA1_PLUS || m == AUTH_SASL_SCRAM_SHA256_PLUS;
}

static enum auth_scram_hash mech_hash(enum auth_sasl_mech m)
{
    return (m == AUTH_SASL_SCRAM_SHA1 || m == AUTH_SASL_SCRAM_SHA1_PLUS) ? AUTH_SCRAM_SHA1
                                                                         : AUTH_SCRAM_SHA256;
}

struct auth_sasl *auth_sasl_new(enum auth_sasl_mech m, const struct auth_sasl_cbs *cb, void *ud,
                                const char *cb_type, const uint8_t *cb_data, size_t cb_len,
                                bool plus_offered)
{
    struct auth_sasl *s = td_calloc(1, sizeof(*s));

    TD_ASSERT(cb != NULL);
    s->mech = m;
    s->cb = *cb;
    s->ud = ud;
    s->plus_offered = plus_offered;
    if (cb_type != NULL && cb_type[0] != '\0' && cb_data != NULL && cb_len > 0) {
        if (cb_len > AUTH_SASL_CB_MAX || strlen(cb_type) > CB_NAME_MAX) {
            s->cb_bad = true;
        } else {
            s->cb_type = td_strdup(cb_type);
            memcpy(s->cb_data, cb_data, cb_len);
            s->cb_len = cb_len;
        }
    }
    s->state = ST_FIRST;
    buf_init(&s->gs2, AUTH_SASL_MSG_MAX);
    buf_init(&s->auth_msg, 3 * AUTH_SASL_MSG_MAX);
    buf_init(&s->nonce, 2 * AUTH_SASL_NONCE_MAX + 64);
    return s;
}

static void wipe_buf(struct buf *b)
{
    if (b->data != NULL)
        sodium_memzero(b->data, b->cap);
    buf_free(b);
}

void auth_sasl_free(struct auth_sasl *s)
{
    if (s == NULL)
        return;
    free(s->cb_type);
    free(s->authcid);
    wipe_buf(&s->gs2);
    wipe_buf(&s->auth_msg);
    wipe_buf(&s->nonce);
    sodium_memzero(s, sizeof(*s));
    free(s);
}

void auth_sasl__set_nonce(struct auth_sasl *s, const char *nonce)
{
    size_t n = strlen(nonce);

    TD_ASSERT(n > 0 && n <= AUTH_SASL_NONCE_MAX);
    memcpy(s->test_nonce, nonce, n + 1);
}

const char *auth_sasl_authcid(const struct auth_sasl *s)
{
    return s->state == ST_SUCCESS ? s->authcid : NULL;
}

/* Enter the failed state with condition c; returns TD_EDENIED. */
static int fail(struct auth_sasl *s, const char *c, const char **condition)
{
    s->state = ST_FAILED;
    s->condition = c;
    *condition = c;
    sodium_memzero(&s->cred, sizeof(s->cred));
    return TD_EDENIED;
}

/* ---- SCRAM parsing helpers (RFC 5802 §7) -------------------------------- */

/* A cursor over one message. */
struct cur {
    const char *p;
    const char *end;
};

static bool cur_eat(struct cur *c, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Length of the field starting at c->p up to the next ',' or the end. */
static size_t field_len(const struct cur *c)
{
    const char *comma = memchr(c->p, ',', (size_t)(c->end - c->p));

    return comma ? (size_t)(comma - c->p) : (size_t)(c->end - c->p);
}

/* Unescape the saslname s[0..n) ("=2C" -> ',', "=3D" -> '=', any other '='
 * is an error) into a new NUL-terminated string. NULL if malformed, empty
 * or longer than AUTH_SASL_NAME_MAX. The input holds no ',' or NUL. */
static char *saslname_dup(const char *s, size_t n)
{
    char *out;
    size_t o = 0;

    if (n == 0 || n > 3 * AUTH_SASL_NAME_MAX)
        return NULL;
    out = td_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '=') {
            out[o++] = s[i];
        } else if (n - i >= 3 && s[i + 1] == '2' && s[i + 2] == 'C') {
            out[o++] = ',';
            i += 2;
        } else if (n - i >= 3 && s[i + 1] == '3' && s[i + 2] == 'D') {
            out[o++] = '=';
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    if (o > AUTH_SASL_NAME_MAX) {
        free(out);
        return NULL;
    }
    return out;
}

/* printable = %x21-2B / %x2D-7E (RFC 5802 §7). */
static bool nonce_ok(const char *s, size_t n)
{
    if (n == 0 || n > AUTH_SASL_NONCE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch < 0x21 || ch > 0x7e || ch == ',')
            return false;
    }
    return true;
}

static bool is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* Skip ["," attr-val *("," attr-val)] up to the end or, when stop_at_proof,
 * up to the ",p=" that starts the proof (c->p is left on that ','). attr-val
 * = ALPHA "=" 1*value-char; value-char excludes ',' and NUL (already known
 * absent). Returns false on a malformed extension or a reserved "m=". */
static bool skip_extensions(struct cur *c, bool stop_at_proof)
{
    while (c->p < c->end) {
        size_t n;

        if (stop_at_proof && (size_t)(c->end - c->p) >= 3 && memcmp(c->p, ",p=", 3) == 0)
            return true;
        if (!cur_eat(c, ",") || c->end - c->p < 3 || !is_alpha(c->p[0]) || c->p[1] != '=')
            return false;
        if (c->p[0] == 'm') /* RFC 5802 §5.1: "m" MUST cause authentication failure */
            return false;
        c->p += 2;
        n = field_len(c);
        if (n == 0)
            return false;
        c->p += n;
    }
    return !stop_at_proof; /* the client-final must end with a proof */
}

/* Base64 of gs2 header + binding data: what c= must say (RFC 5802 §7). */
static int expected_cbind(const struct auth_sasl *s, struct buf *out)
{
    struct buf raw;
    int rc;

    buf_init(&raw, AUTH_SASL_MSG_MAX + AUTH_SASL_CB_MAX);
    rc = buf_append(&raw, s->gs2.data, s->gs2.len);
    if (rc == TD_OK && s->gs2.data[0] == 'p')
        rc = buf_append(&raw, s->cb_data, s->cb_len);
    if (rc == TD_OK)
        rc = codec_b64_encode(out, raw.data, raw.len);
    buf_free(&raw);
    return rc;
}

/* Fill s->cred with a credential that cannot match, with a salt fixed for
 * (process, hash, name) so probing twice shows nothing (RFC 5802 §9). */
static void fake_cred(struct auth_sasl *s, enum auth_scram_hash h)
{
    uint8_t mac[32];
    struct buf in;

    pthread_once(&fake_once, fake_key_init);
    buf_init(&in, 0);
    buf_appends(&in, "tandem-scram-fake-salt:");
    buf_appends(&in, auth_scram_hash_name(h));
    buf_putc(&in, ':');
    buf_appends(&in, s->authcid);
    auth_scram__hmac(AUTH_SCRAM_SHA256, fake_key, sizeof(fake_key), in.data, in.len, mac);
    buf_free(&in);
    memset(&s->cred, 0, sizeof(s->cred));
    s->cred.hash = h;
    memcpy(s->cred.salt, mac, AUTH_SCRAM_SALT_LEN);
    s->cred.salt_len = AUTH_SCRAM_SALT_LEN;
    s->cred.iterations = h == AUTH_SCRAM_SHA1 ? AUTH_SCRAM_ITER_SHA1 : AUTH_SCRAM_ITER_SHA256;
    s->cred.key_len = auth_scram_hash_len(h);
    randombytes_buf(s->cred.stored_key, s->cred.key_len);
    randombytes_buf(s->cred.server_key, s->cred.key_len);
    s->unknown = true;
    sodium_memzero(mac, sizeof(mac));
}

static bool cred_valid(const struct auth_scram_cred *c, enum auth_scram_hash h)
{
    return c->hash == h && c->key_len == auth_scram_hash_len(h) && c->salt_len >= 1 &&
           c->salt_len <= AUTH_SCRAM_SALT_MAX && c->iterations >= AUTH_SCRAM_ITER_MIN &&
           c->iterations <= AUTH_SCRAM_ITER_MAX;
}

/* client-first-message = gs2-header client-first-message-bare. On success
 * out holds server-first-message and the state is ST_SCRAM_FINAL. */
static int scram_first(struct auth_sasl *s, const char *in, size_t len, struct buf *out,
                       const char **condition)
{
    enum auth_scram_hash h = mech_hash(s->mech);
    struct cur c = {in, in + len};
    const char *bare;
    const char *cbname = NULL;
    size_t cbname_len = 0, n;
    char *authzid = NULL;
    char snonce[AUTH_SASL_NONCE_MAX + 1]; /* server nonce: 32 base64 characters */
    const char *cnonce;
    size_t cnonce_len;
    char flag;
    int rc;

    /* gs2-cbind-flag = ("p=" cb-name) / "n" / "y" */
    if (cur_eat(&c, "n,")) {
        flag = 'n';
    } else if (cur_eat(&c, "y,")) {
        flag = 'y';
    } else if (cur_eat(&c, "p=")) {
        flag = 'p';
        cbname = c.p;
        cbname_len = field_len(&c);
        if (cbname_len == 0 || cbname_len > CB_NAME_MAX)
            return fail(s, C_MALFORMED, condition);
        for (size_t i = 0; i < cbname_len; i++) {
            char ch = cbname[i];

            if (!is_alpha(ch) && !(ch >= '0' && ch <= '9') && ch != '.' && ch != '-')
                return fail(s, C_MALFORMED, condition);
        }
        c.p += cbname_len;
        if (!cur_eat(&c, ","))
            return fail(s, C_MALFORMED, condition);
    } else {
        return fail(s, C_MALFORMED, condition);
    }
    /* [ authzid ] "," */
    if (cur_eat(&c, "a=")) {
        n = field_len(&c);
        authzid = saslname_dup(c.p, n);
        if (authzid == NULL)
            return fail(s, C_MALFORMED, condition);
        c.p += n;
    }
    if (!cur_eat(&c, ",")) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    TD_ASSERT(buf_append(&s->gs2, in, (size_t)(c.p - in)) == TD_OK);
    bare = c.p;
    /* client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions] */
    if (!cur_eat(&c, "n=")) { /* also refuses "m=" (RFC 5802 §5.1) */
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    n = field_len(&c);
    s->authcid = saslname_dup(c.p, n);
    if (s->authcid == NULL) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    c.p += n;
    if (!cur_eat(&c, ",r=")) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    cnonce = c.p;
    cnonce_len = field_len(&c);
    if (!nonce_ok(cnonce, cnonce_len)) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    c.p += cnonce_len;
    if (!skip_extensions(&c, false)) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }

    /* Channel-binding policy (RFC 5802 §6). */
    if (mech_is_plus(s->mech)) {
        if (flag != 'p' || cbname_len != strlen(s->cb_type) ||
            memcmp(cbname, s->cb_type, cbname_len) != 0) {
            rc = fail(s, C_NOT_AUTHORIZED, condition);
            goto out;
        }
    } else if (flag == 'p') {
        rc = fail(s, C_MALFORMED, condition); /* binding asked for a non-PLUS mechanism */
        goto out;
    } else if (flag == 'y' && s->plus_offered) {
        rc = fail(s, C_NOT_AUTHORIZED, condition); /* downgrade: we did offer -PLUS */
        goto out;
    }
    if (authzid != NULL) {
        bool ok = s->cb.check_authzid != NULL
                      ? s->cb.check_authzid(s->ud, s->authcid, authzid) == TD_OK
                      : strcmp(authzid, s->authcid) == 0;
        if (!ok) {
            rc = fail(s, C_INVALID_AUTHZID, condition);
            goto out;
        }
    }

    /* Credential lookup; unknown users go on with a fake one. */
    rc = s->cb.get_scram != NULL ? s->cb.get_scram(s->ud, s->authcid, h, &s->cred) : TD_EIO;
    if (rc == TD_ENOTFOUND) {
        fake_cred(s, h);
    } else if (rc != TD_OK || !cred_valid(&s->cred, h)) {
        rc = fail(s, C_TEMPORARY, condition);
        goto out;
    }

    /* server-first-message = "r=" c-nonce s-nonce ",s=" salt ",i=" iteration-count */
    if (s->test_nonce[0] != '\0') {
        snprintf(snonce, sizeof(snonce), "%s", s->test_nonce);
    } else {
        uint8_t raw[SERVER_NONCE_BYTES];

        randombytes_buf(raw, sizeof(raw));
        sodium_bin2base64(snonce, sizeof(snonce), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
    }
    rc = buf_append(&s->nonce, cnonce, cnonce_len);
    if (rc == TD_OK)
        rc = buf_appends(&s->nonce, snonce);
    if (rc == TD_OK)
        rc = buf_printf(out, "r=%s,s=", s->nonce.data);
    if (rc == TD_OK)
        rc = codec_b64_encode(out, s->cred.salt, s->cred.salt_len);
    if (rc == TD_OK)
        rc = buf_printf(out, ",i=%u", (unsigned)s->cred.iterations);
    if (rc == TD_OK)
        rc = buf_append(&s->auth_msg, bare, (size_t)(in + len - bare));
    if (rc == TD_OK)
        rc = buf_putc(&s->auth_msg, ',');
    if (rc == TD_OK)
        rc = buf_append(&s->auth_msg, out->data, out->len);
    if (rc != TD_OK) {
        buf_reset(out);
        rc = fail(s, C_TEMPORARY, condition);
        goto out;
    }
    s->state = ST_SCRAM_FINAL;
    rc = TD_OK;
out:
    free(authzid);
    return rc;
}

/* client-final-message = client-final-message-without-proof "," proof, where
 * the part without proof = "c=" base64 "," nonce ["," extensions]. On
 * success out holds server-final-message ("v=...") and the state is
 * ST_SUCCESS. */
static int scram_final(struct auth_sasl *s, const char *in, size_t len, struct buf *out,
                       const char **condition)
{
    enum auth_scram_hash h = s->cred.hash;
    size_t hl = auth_scram_hash_len(h);
    struct cur c = {in, in + len};
    struct buf want;
    uint8_t proof[AUTH_SCRAM_KEY_MAX], sig[AUTH_SCRAM_KEY_MAX], key[AUTH_SCRAM_KEY_MAX];
    uint8_t tmp[AUTH_SASL_MSG_MAX];
    size_t n, got;
    bool match;
    int rc;

    buf_init(&want, 0);
    /* channel-binding = "c=" base64 */
    if (!cur_eat(&c, "c=")) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    n = field_len(&c);
    if (codec_b64_decode(c.p, n, tmp, sizeof(tmp), &got) != TD_OK) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    if (expected_cbind(s, &want) != TD_OK) {
        rc = fail(s, C_TEMPORARY, condition);
        goto out;
    }
    /* Base64 is canonical here (strict decoder), so text equality is byte equality. */
    if (n != want.len || memcmp(c.p, want.data, n) != 0) {
        rc = fail(s, C_NOT_AUTHORIZED, condition);
        goto out;
    }
    c.p += n;
    /* "," nonce: must be the combined nonce we sent. */
    if (!cur_eat(&c, ",r=")) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    n = field_len(&c);
    if (n != s->nonce.len || memcmp(c.p, s->nonce.data, n) != 0) {
        rc = fail(s, C_NOT_AUTHORIZED, condition);
        goto out;
    }
    c.p += n;
    if (!skip_extensions(&c, true)) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    /* AuthMessage = client-first-bare "," server-first "," final-without-proof */
    rc = buf_putc(&s->auth_msg, ',');
    if (rc == TD_OK)
        rc = buf_append(&s->auth_msg, in, (size_t)(c.p - in));
    if (rc != TD_OK) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }
    TD_ASSERT(cur_eat(&c, ",p="));
    n = (size_t)(c.end - c.p);
    if (memchr(c.p, ',', n) != NULL ||
        codec_b64_decode(c.p, n, proof, sizeof(proof), &got) != TD_OK || got != hl) {
        rc = fail(s, C_MALFORMED, condition);
        goto out;
    }

    /* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) == StoredKey */
    auth_scram__hmac(h, s->cred.stored_key, hl, s->auth_msg.data, s->auth_msg.len, sig);
    for (size_t i = 0; i < hl; i++)
        key[i] = proof[i] ^ sig[i];
    auth_scram__digest(h, key, hl, sig);
    match = sodium_memcmp(sig, s->cred.stored_key, hl) == 0;
    if (!match || s->unknown) {
        rc = fail(s, C_NOT_AUTHORIZED, condition);
        goto out;
    }
    /* server-final-message = "v=" base64(HMAC(ServerKey, AuthMessage)) */
    auth_scram__hmac(h, s->cred.server_key, hl, s->auth_msg.data, s->auth_msg.len, sig);
    rc = buf_appends(out, "v=");
    if (rc == TD_OK)
        rc = codec_b64_encode(out, sig, hl);
    if (rc != TD_OK) {
        buf_reset(out);
        rc = fail(s, C_TEMPORARY, condition);
        goto out;
    }
    s->state = ST_SUCCESS;
    sodium_memzero(&s->cred, sizeof(s->cred));
    rc = TD_OK;
out:
    buf_free(&want);
    sodium_memzero(proof, sizeof(proof));
    sodium_memzero(sig, sizeof(sig));
    sodium_memzero(key, sizeof(key));
    return rc;
}

/* ---- PLAIN (RFC 4616 §2) ---------------------------------------------- */

static int plain_first(struct auth_sasl *s, const char *in, size_t len, bool *done,
                       const char **condition)
{
    const char *nul1 = memchr(in, '\0', len), *nul2;
    size_t zid_len, cid_len, pw_len;
    char *pw;
    int rc;

    if (nul1 == NULL)
        return fail(s, C_MALFORMED, condition);
    nul2 = memchr(nul1 + 1, '\0', (size_t)(in + len - nul1 - 1));
    if (nul2 == NULL)
        return fail(s, C_MALFORMED, condition);
    zid_len = (size_t)(nul1 - in);
    cid_len = (size_t)(nul2 - nul1 - 1);
    pw_len = (size_t)(in + len - nul2 - 1);
    /* Exactly two NULs; authcid and passwd non-empty; all of it UTF-8. */
    if (memchr(nul2 + 1, '\0', pw_len) != NULL || cid_len == 0 || pw_len == 0 ||
        !utf8_valid(in, len))
        return fail(s, C_MALFORMED, condition);
    if (cid_len > AUTH_SASL_NAME_MAX || zid_len > AUTH_SASL_NAME_MAX)
        return fail(s, C_NOT_AUTHORIZED, condition);
    s->authcid = td_strndup(nul1 + 1, cid_len);
    if (zid_len > 0) {
        char *zid = td_strndup(in, zid_len);
        bool ok = s->cb.check_authzid != NULL ? s->cb.check_authzid(s->ud, s->authcid, zid) == TD_OK
                                              : strcmp(zid, s->authcid) == 0;

        free(zid);
        if (!ok)
            return fail(s, C_INVALID_AUTHZID, condition);
    }
    if (pw_len > AUTH_SASL_PASSWORD_MAX)
        return fail(s, C_NOT_AUTHORIZED, condition);
    if (s->cb.check_plain == NULL)
        return fail(s, C_TEMPORARY, condition);
    pw = td_strndup(nul2 + 1, pw_len);
    rc = s->cb.check_plain(s->ud, s->authcid, pw, pw_len);
    sodium_memzero(pw, pw_len);
    free(pw);
    if (rc == TD_EAGAIN) {
        s->state = ST_PLAIN_WAIT;
        return TD_EAGAIN;
    }
    if (rc == TD_OK) {
        s->state = ST_SUCCESS;
        *done = true;
        return TD_OK;
    }
    return fail(s, (rc == TD_EDENIED || rc == TD_ENOTFOUND) ? C_NOT_AUTHORIZED : C_TEMPORARY,
                condition);
}

/* ---- OAUTHBEARER (RFC 7628 §3.1) --------------------------------------- */

/* The value of a GS2 "a=" authzid with =2C and =3D decoded (RFC 5801 §4),
 * or NULL if malformed. */
static char *gs2_name_decode(const char *v, size_t len)
{
    struct buf b;

    buf_init(&b, AUTH_SASL_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        if (v[i] == '=') {
            if (i + 2 < len && v[i + 1] == '2' && v[i + 2] == 'C')
                buf_putc(&b, ',');
            else if (i + 2 < len && v[i + 1] == '3' && v[i + 2] == 'D')
                buf_putc(&b, '=');
            else {
                buf_free(&b);
                return NULL;
            }
            i += 2;
        } else {
            buf_putc(&b, v[i]);
        }
    }
    return buf_steal(&b, NULL);
}

/* gs2-header kvsep *(key "=" value kvsep) kvsep, where kvsep is %x01 and the
 * gs2-header is "n," or "y," then an optional "a=authzid", then ",". The
 * bearer is the "auth" pair's "Bearer " value (scheme case-insensitive). */
static int bearer_first(struct auth_sasl *s, const char *in, size_t len, struct buf *out,
                        bool *done, const char **condition)
{
    const char *p = in, *end = in + len, *comma;
    const char *token = NULL;
    size_t token_len = 0;
    char *zid = NULL, *tok = NULL, *who = NULL;
    int rc;

    if (len < 5 || (p[0] != 'n' && p[0] != 'y') || p[1] != ',' || memchr(in, '\0', len) ||
        !utf8_valid(in, len))
        return fail(s, C_MALFORMED, condition);
    p += 2;
    comma = memchr(p, ',', (size_t)(end - p));
    if (comma == NULL)
        return fail(s, C_MALFORMED, condition);
    if (comma > p) {
        if (comma - p < 3 || p[0] != 'a' || p[1] != '=' ||
            (size_t)(comma - p - 2) > AUTH_SASL_NAME_MAX)
            return fail(s, C_MALFORMED, condition);
        zid = gs2_name_decode(p + 2, (size_t)(comma - p - 2));
        if (zid == NULL)
            return fail(s, C_MALFORMED, condition);
    }
    p = comma + 1;
    if (p >= end || *p != '\x01') {
        free(zid);
        return fail(s, C_MALFORMED, condition);
    }
    p++;
    /* key=value pairs until the final empty one */
    while (p < end && *p != '\x01') {
        const char *sep = memchr(p, '\x01', (size_t)(end - p));
        if (sep == NULL) {
            free(zid);
            return fail(s, C_MALFORMED, condition);
        }
        /* key = 1*ALPHA (RFC 7628 §3.1) */
        const char *k = p;
        while (k < sep && ((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z')))
            k++;
        if (k == p || k == sep || *k != '=') {
            free(zid);
            return fail(s, C_MALFORMED, condition);
        }
        if (sep - p > 5 && memcmp(p, "auth=", 5) == 0) {
            const char *v = p + 5;
            if (sep - v > 7 && strncasecmp(v, "Bearer ", 7) == 0) {
                token = v + 7;
                token_len = (size_t)(sep - token);
            }
        }
        p = sep + 1;
    }
    if (p + 1 != end || token == NULL || token_len == 0) {
        free(zid);
        return fail(s, C_MALFORMED, condition);
    }
    if (s->cb.check_bearer == NULL) {
        free(zid);
        return fail(s, C_TEMPORARY, condition);
    }
    tok = td_strndup(token, token_len);
    rc = s->cb.check_bearer(s->ud, tok, token_len, &who, out);
    sodium_memzero(tok, token_len);
    free(tok);
    if (rc == TD_EDENIED) {
        /* §3.2.2: the error as a challenge; the client answers %x01 */
        free(zid);
        if (out->len == 0)
            buf_appends(out, "{\"status\":\"invalid_token\"}");
        s->state = ST_BEARER_ERR;
        return TD_OK;
    }
    if (rc != TD_OK) {
        free(zid);
        free(who);
        buf_reset(out);
        return fail(s, C_TEMPORARY, condition);
    }
    s->authcid = who;
    buf_reset(out);
    if (zid != NULL) {
        bool ok = s->cb.check_authzid != NULL ? s->cb.check_authzid(s->ud, who, zid) == TD_OK
                                              : strcmp(zid, who) == 0;
        free(zid);
        if (!ok) {
            free(s->authcid);
            s->authcid = NULL;
            return fail(s, C_INVALID_AUTHZID, condition);
        }
    }
    s->state = ST_SUCCESS;
    *done = true;
    return TD_OK;
}

void auth_sasl_plain_result(struct auth_sasl *s, bool ok)
{
    if (s == NULL || s->state != ST_PLAIN_WAIT)
        return;
    s->plain_ok = ok;
    s->state = ST_PLAIN_READY;
}

/* ---- the step function ------------------------------------------------ */

int auth_sasl_step(struct auth_sasl *s, const char *in, size_t in_len, struct buf *out, bool *done,
                   const char **condition)
{
    *done = false;
    *condition = NULL;
    buf_reset(out);
    if (in == NULL && in_len > 0)
        return fail(s, C_MALFORMED, condition);
    if (in == NULL)
        in = "";

    switch (s->state) {
    case ST_FAILED: *condition = s->condition; return TD_EDENIED;
    case ST_SUCCESS:
        /* Nothing may follow success; treat a further message as an attack. */
        free(s->authcid);
        s->authcid = NULL;
        return fail(s, C_MALFORMED, condition);
    case ST_PLAIN_WAIT: return TD_EAGAIN;
    case ST_PLAIN_READY:
        if (!s->plain_ok)
            return fail(s, C_NOT_AUTHORIZED, condition);
        s->state = ST_SUCCESS;
        *done = true;
        return TD_OK;
    case ST_BEARER_ERR:
        /* RFC 7628 §3.2.3: the client's %x01 ends the exchange with a failure */
        return fail(s, in_len == 1 && in[0] == '\x01' ? C_NOT_AUTHORIZED : C_MALFORMED,
                    condition);
    case ST_FIRST:
    case ST_SCRAM_FINAL: break;
    }

    if (in_len > AUTH_SASL_MSG_MAX)
        return fail(s, C_MALFORMED, condition);
    if (s->state == ST_FIRST) {
        if (mech_is_plus(s->mech) && (s->cb_type == NULL || s->cb_bad))
            return fail(s, C_INVALID_MECH, condition);
        if (in_len == 0) {
            /* RFC 6120 §6.4.2: no initial response; ask for it once. */
            if (s->sent_empty)
                return fail(s, C_MALFORMED, condition);
            s->sent_empty = true;
            return TD_OK;
        }
        if (s->mech == AUTH_SASL_PLAIN)
            return plain_first(s, in, in_len, done, condition);
        if (s->mech == AUTH_SASL_OAUTHBEARER)
            return bearer_first(s, in, in_len, out, done, condition);
    }
    /* SCRAM messages are UTF-8 without NUL (RFC 5802 §7). */
    if (memchr(in, '\0', in_len) != NULL || !utf8_valid(in, in_len))
        return fail(s, C_MALFORMED, condition);
    if (s->state == ST_FIRST)
        return scram_first(s, in, in_len, out, condition);
    {
        int rc = scram_final(s, in, in_len, out, condition);

        if (rc == TD_OK)
            *done = true;
        return rc;
    }
}
