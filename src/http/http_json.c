/* SPDX-License-Identifier: MIT */
/* JSON bodies; see http_json.h. jansson's own depth limit is a build-time
 * constant (2048), far deeper than any API needs, so the depth is checked
 * first by a scan that skips strings: a hostile "[[[[..." is refused before
 * any allocation. */
#include "http/http_json.h"

#include "core/err.h"
#include "core/utf8.h"
#include "http/http_form.h"

#include <string.h>

static size_t max_nesting(const char *s, size_t len, size_t limit)
{
    size_t depth = 0;
    size_t deepest = 0;
    bool in_string = false;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest)
                deepest = depth;
            if (deepest > limit)
                return deepest;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return deepest;
}

int http_json_parse(struct arena *a, const char *body, size_t len, size_t max_depth,
                    json_t **out, const char **why)
{
    json_error_t e;

    *out = NULL;
    if (len == 0) {
        *why = "the body is empty; a JSON value was expected";
        return TD_EINVAL;
    }
    if (!utf8_valid(body, len)) {
        *why = "the body is not valid UTF-8";
        return TD_EINVAL;
    }
    if (max_nesting(body, len, max_depth) > max_depth) {
        *why = arena_printf(a, "JSON nested deeper than %zu levels", max_depth);
        return TD_ETOOBIG;
    }
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (*out == NULL) {
        *why = arena_printf(a, "invalid JSON at line %d, column %d: %s", e.line, e.column,
                            e.text);
        return TD_EINVAL;
    }
    return TD_OK;
}

int http_req_json(struct http_req *r, json_t **out, const char **why)
{
    const char *ct = http_req_header(r, "Content-Type");

    *out = NULL;
    if (ct == NULL || !http_media_type_is(ct, "application/json")) {
        *why = "the body must be sent as application/json";
        return TD_EPROTO;
    }
    return http_json_parse(r->arena, r->body, r->body_len, HTTP_JSON_MAX_DEPTH, out, why);
}
