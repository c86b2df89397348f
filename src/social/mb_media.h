/* SPDX-License-Identifier: MIT */
/* The microblog's image attachments, transport-free (the future
 * POST /api/v2/media of the Mastodon API hands the uploaded bytes here).
 *
 * Two stages:
 *  - mb_media_probe(): a pure header sniffer. The content type comes from the
 *    magic bytes (JPEG, PNG, GIF, WebP; nothing else), the pixel size from the
 *    headers alone: JPEG SOFn (ITU T.81 B.2.2), PNG IHDR (PNG spec 11.2.2),
 *    GIF logical screen descriptor (GIF89a section 18), WebP VP8 frame header
 *    (RFC 6386 9.1), VP8L header (RFC 9649 3.2) or VP8X canvas (RFC 9649 2.7).
 *    mb_media_check() then refuses oversized files and decompression bombs
 *    before a single pixel is decoded.
 *  - mb_media_process() / mb_media_process_async(): decode with libvips, turn
 *    the image upright per its EXIF orientation, convert it to sRGB, and
 *    re-encode it, which drops every piece of metadata (EXIF with GPS, XMP,
 *    IPTC, ICC, comments). It yields the "original" (longest side at most
 *    3840 px, Mastodon's cap) and a thumbnail (longest side 640 px, Mastodon's
 *    "small"), both JPEG quality 85, or PNG when the image has an alpha
 *    channel or is a GIF. A GIF keeps only its first frame: Mastodon turns
 *    animated GIFs into video, which this server does not do. Plus Mastodon's
 *    meta (width, height, "WxH", aspect) and the thumbnail's BlurHash.
 *    The async form runs on libuv's thread pool and calls back on the loop. */
#ifndef TD_MB_MEDIA_H
#define TD_MB_MEDIA_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

enum mb_media_type {
    MB_MEDIA_NONE = 0,
    MB_MEDIA_JPEG,
    MB_MEDIA_PNG,
    MB_MEDIA_GIF,
    MB_MEDIA_WEBP,
};

/** What the headers say. */
struct mb_media_info {
    enum mb_media_type type;
    const char *mime; /* static: "image/jpeg", "image/png", "image/gif", "image/webp" */
    uint32_t width;   /* pixels, > 0 */
    uint32_t height;  /* pixels, > 0 */
};

/** Limits on the input and sizes of the outputs. */
struct mb_media_limits {
    size_t max_bytes;      /* largest input file (microblog.media_max_bytes) */
    uint64_t max_pixels;   /* largest width * height of the input */
    uint32_t max_side;     /* largest width or height of the input */
    uint32_t original_side; /* the re-encoded original's longest side at most */
    uint32_t thumb_side;   /* the thumbnail's longest side at most */
    int jpeg_quality;      /* 1..100 */
};

#define MB_MEDIA_DEFAULT_MAX_BYTES (16u * 1024 * 1024)
#define MB_MEDIA_DEFAULT_MAX_PIXELS 33177600u /* 7680 x 4320, ~33 megapixels */
#define MB_MEDIA_DEFAULT_MAX_SIDE 16384u
#define MB_MEDIA_DEFAULT_ORIGINAL_SIDE 3840u
#define MB_MEDIA_DEFAULT_THUMB_SIDE 640u
#define MB_MEDIA_DEFAULT_JPEG_QUALITY 85

/** The defaults above; max_bytes comes from the config option by the caller. */
void mb_media_limits_default(struct mb_media_limits *lim);

/** Sniff type and pixel size from the first bytes of data. Pure, never reads
 * past len. TD_OK; TD_EINVAL for an unsupported type ("unsupported type") or
 * a malformed or truncated header. *why (may be NULL) gets a static message. */
int mb_media_probe(const void *data, size_t len, struct mb_media_info *out, const char **why);

/** Check a probed file of len bytes against lim: TD_ETOOBIG with *why when it
 * is too large in bytes, pixels or either side; TD_OK otherwise. */
int mb_media_check(const struct mb_media_info *info, size_t len,
                   const struct mb_media_limits *lim, const char **why);

/** One re-encoded rendition; data is owned (free()). */
struct mb_media_image {
    unsigned char *data;
    size_t len;
    enum mb_media_type type; /* MB_MEDIA_JPEG or MB_MEDIA_PNG */
    const char *mime;        /* static */
    uint32_t width, height;
    char size[24];           /* Mastodon's meta "size": "WxH" */
    double aspect;           /* width / height */
};

#define MB_BLURHASH_X 4 /* components across, as Mastodon */
#define MB_BLURHASH_Y 3
#define MB_BLURHASH_MAX 168 /* 4 + 2 * 81 characters (9x9 components) and the NUL */

struct mb_media_result {
    enum mb_media_type source_type; /* what was uploaded */
    struct mb_media_image original;
    struct mb_media_image small;
    char blurhash[MB_BLURHASH_MAX]; /* of the thumbnail */
};

/** Free the buffers of r (not r itself); NULL-safe. */
void mb_media_result_free(struct mb_media_result *r);

/** Probe, check, decode, orient, strip, re-encode and thumbnail. Blocks (use
 * the async form from the loop). TD_OK with *out filled (caller frees with
 * mb_media_result_free); on failure *out is empty, and err (errlen bytes, may
 * be NULL) gets a message fit for the uploader: TD_EINVAL (unsupported or
 * corrupt image), TD_ETOOBIG (over a limit). Thread-safe. */
int mb_media_process(const void *data, size_t len, const struct mb_media_limits *lim,
                     struct mb_media_result *out, char *err, size_t errlen);

/** Called on the loop thread. On success rc is TD_OK and res is the caller's
 * to keep: free with mb_media_result_free() and free(). Otherwise res is NULL
 * and err says why (valid during the call only). */
typedef void mb_media_done_cb(int rc, struct mb_media_result *res, const char *err, void *ud);

/** mb_media_process() on the loop's thread pool. The len bytes are copied
 * (after the byte limit and the header are checked, so an over-size or
 * unsupported upload is refused without a copy, still through cb). cb is
 * always called exactly once, from a later loop iteration.
 * Returns TD_OK, or TD_EIO when libuv cannot queue the work (then cb is not called). */
int mb_media_process_async(uv_loop_t *loop, const void *data, size_t len,
                           const struct mb_media_limits *lim, mb_media_done_cb *cb, void *ud);

/** BlurHash (https://blurha.sh, Wolt's algorithm) of 8-bit RGB pixels: rows of
 * stride bytes, 3 bytes per pixel. xc, yc in 1..9. TD_OK with the hash
 * (NUL-terminated, 4 + 2 * xc * yc characters) in out; TD_EINVAL otherwise. */
int mb_blurhash_encode(const unsigned char *rgb, uint32_t width, uint32_t height,
                       size_t stride, int xc, int yc, char out[MB_BLURHASH_MAX]);

#endif
