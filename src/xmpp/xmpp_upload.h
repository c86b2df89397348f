/* SPDX-License-Identifier: MIT */
/* HTTP File Upload (XEP-0363): the service on its own subdomain, answering
 * slot requests over XMPP, and the HTTP side that takes the PUT and serves
 * the GET of each slot. See xmpp_upload.c. */
#ifndef TD_XMPP_UPLOAD_H
#define TD_XMPP_UPLOAD_H

#include "http/http.h"
#include "xmpp/xmpp_c2s.h"

#include <stddef.h>

struct xmpp_upload_opts {
    const char *domain;   /* the service's JID (e.g. upload.example.org); NULL or "" = off */
    size_t max_bytes;     /* largest file */
    const char *base_url; /* public URL of the HTTP listener, no trailing slash */
    const char *data_dir; /* files go to <data_dir>/uploads */
};

/** Turn the service on for srv (after xmpp_c2s_start, before the loop runs):
 *  loads the signing key from the store's secrets ("upload"). TD_OK, or an
 *  error with *err (the caller frees). */
int xmpp_upload_configure(struct xmpp_c2s *srv, const struct xmpp_upload_opts *o, char **err);
/** Answer an HTTP request for /upload/<owner>/<id>/<name> (any method): PUT
 *  of a slot, GET/HEAD of a file, OPTIONS preflight (XEP-0363 §5, CORS). */
void xmpp_upload_http(struct xmpp_c2s *srv, struct http_req *r);
/** The body limit of request r (method and path known): max_bytes for a PUT
 *  under /upload/ while the service is on, else 0 (the server's own limit). */
size_t xmpp_upload_body_limit(const struct xmpp_c2s *srv, const struct http_req *r);

#endif
