/* SPDX-License-Identifier: MIT */
/* Outgoing HTTP client: libcurl's multi interface driven by the libuv loop,
 * so partner calls, federation deliveries and feed polls never block the one
 * loop thread. curl owns the HTTP/1.1 and HTTP/2 protocol work (RFC 9110,
 * RFC 9112) and TLS; this module owns the glue (one uv_poll_t per socket curl
 * asks about, one uv_timer_t for curl's timeout), the limits (whole-transfer
 * timeout, response body and header ceilings, http/https only, no redirects
 * followed: RFC 9110 §15.4 leaves that to the caller here) and the lifetime
 * rules: every request's callback fires exactly once, on the loop thread.
 *
 * Lifetime (libuv docs/src/handle.rst): httpc_free() cancels what is in
 * flight, releases curl and closes the uv handles; the memory is released in
 * the close callbacks, so the caller runs the loop until it returns. */
#ifndef TD_NET_HTTPC_H
#define TD_NET_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/buf.h"

#define HTTPC_DEFAULT_TIMEOUT_MS 30000L
#define HTTPC_DEFAULT_MAX_RESPONSE (8u * 1024 * 1024)
#define HTTPC_MAX_HEADER_BYTES (64u * 1024)     /* final response header block */
#define HTTPC_MAX_URL_LEN 8192u                 /* longer URLs are TD_EINVAL */
#define HTTPC_MAX_REQ_HEADERS 64u               /* request header lines */
#define HTTPC_MAX_REQ_HEADER_LEN 8192u          /* one request header line */
#define HTTPC_MAX_REQ_BODY (64u * 1024 * 1024)  /* request body we agree to copy */
#define HTTPC_MAX_ACTIVE 1024u                  /* requests in flight per client */

struct httpc;

struct httpc_request {
    const char *method;                /* "GET" (default if NULL), "POST", ... */
    const char *url;                   /* http:// or https:// only */
    const char *const *headers;        /* NULL-terminated array of "Name: value", or NULL */
    const void *body;                  /* copied by httpc_request(); may be NULL */
    size_t body_len;                   /* bytes at body */
    long timeout_ms;                   /* whole transfer; 0 = HTTPC_DEFAULT_TIMEOUT_MS */
    size_t max_response_bytes;         /* body cap; 0 = 8 MiB; exceeding is TD_ETOOBIG */
    bool insecure;                     /* skip TLS verification (loopback tests only) */
};

struct httpc_response {
    int err;                   /* TD_OK, TD_EIO (connect/transfer failure), TD_ETOOBIG,
                                * or TD_ECLOSED (cancelled by httpc_free) */
    const char *error;         /* human-readable reason when err != TD_OK, else "" */
    long status;               /* HTTP status, 0 if none */
    const char *content_type;  /* or NULL */
    const struct buf *headers; /* raw header block of the final response */
    const struct buf *body;    /* response body (NUL-terminated for convenience) */
};

/* Called exactly once per request, on the loop thread; resp and everything it
 * points to are valid only during the call. The callback may start new
 * requests or call httpc_free(). */
typedef void httpc_done_cb(void *ud, const struct httpc_response *resp);

/** Create a client on loop; user_agent (copied) may be NULL for "tandem".
 * TD_OK and *out, or TD_EIO if curl cannot be set up. */
int httpc_new(uv_loop_t *loop, const char *user_agent, struct httpc **out);

/** Start a request; everything in req is copied. Returns TD_OK (cb fires
 * later, never from inside this call), TD_EINVAL (bad method, URL, scheme,
 * header or size; cb never fires), TD_ELIMIT (HTTPC_MAX_ACTIVE in flight) or
 * TD_ECLOSED (httpc_free() has been called). Redirects are not followed. */
int httpc_request(struct httpc *h, const struct httpc_request *req, httpc_done_cb *cb, void *ud);

/** Requests started whose callback has not fired yet. */
size_t httpc_active(const struct httpc *h);

/** Cancel all in-flight requests (their callbacks fire with TD_ECLOSED before
 * this returns), release curl and close the uv handles. Memory is freed when
 * the handles' close callbacks have run, so call uv_run afterwards until it
 * returns. NULL-safe; a second call does nothing. */
void httpc_free(struct httpc *h);

#endif
