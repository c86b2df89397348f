/* SPDX-License-Identifier: MIT */
/* The microblog's image attachments: header sniffing and limits, then
 * decoding, orientation, metadata stripping, re-encoding and thumbnails with
 * libvips on libuv's thread pool (see mb_media.h for the whole contract).
 *
 * Headers read by mb_media_probe():
 *  - JPEG (ITU T.81 B.1.1.2, B.2.2): the marker segments after SOI are walked
 *    by their lengths up to the first SOFn (C0-C3, C5-C7, C9-CB, CD-CF), whose
 *    Y and X give the size; SOS or EOI first means no frame header.
 *  - PNG (PNG spec 5.2, 11.2.2): signature, then IHDR as the first chunk.
 *  - GIF (GIF89a section 18): the logical screen width and height. Frames may
 *    claim more than the screen, so the size libvips reads is checked again.
 *  - WebP (RFC 9649 2.5-2.7, RFC 6386 9.1): RIFF/WEBP, then the first chunk:
 *    "VP8 " (key frame start code, 14-bit sizes), "VP8L" (signature 0x2f, two
 *    14-bit sizes minus one) or "VP8X" (two 24-bit canvas sizes minus one).
 * EXIF orientation (EXIF 2.32 4.6.4 A, tag 0x0112) is applied by
 * vips_autorot(), which also removes the tag. */
#include <glib.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

#include "core/err.h"
#include "core/log.h"
#include "social/mb_media.h"

/* ---------------------------------------------------------------- probe */

static uint32_t be16(const unsigned char *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le24(const unsigned char *p)
{
    return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | le24(p);
}

static int fail(const char **why, const char *msg)
{
    if (why)
        *why = msg;
    return TD_EINVAL;
}

static bool is_sof(unsigned m)
{
    /* C4 (DHT), C8 (JPG extension) and CC (DAC) share the range but are not frames */
    return m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
}

static int probe_jpeg(const unsigned char *p, size_t len, struct mb_media_info *out,
                      const char **why)
{
    size_t pos = 2; /* after SOI */
    for (;;) {
        if (pos >= len)
            return fail(why, "truncated JPEG header");
        if (p[pos] != 0xff)
            return fail(why, "malformed JPEG header");
        while (pos < len && p[pos] == 0xff) /* fill bytes (B.1.1.2) */
            pos++;
        if (pos >= len)
            return fail(why, "truncated JPEG header");
        unsigned m = p[pos++];
        if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
            continue; /* TEM, RSTn: no length */
        if (m == 0x00 || m == 0xd8)
            return fail(why, "malformed JPEG header");
        if (m == 0xd9 || m == 0xda)
            return fail(why, "JPEG without a frame header");
        if (len - pos < 2)
            return fail(why, "truncated JPEG header");
        size_t seg = be16(p + pos);
        if (seg < 2)
            return fail(why, "malformed JPEG header");
        if (is_sof(m)) {
            /* Lf(2) P(1) Y(2) X(2) Nf(1) */
            if (seg < 8)
                return fail(why, "malformed JPEG header");
            if (len - pos < 7)
                return fail(why, "truncated JPEG header");
            out->height = be16(p + pos + 3);
            out->width = be16(p + pos + 5);
            /* Y = 0 means "size in a later DNL segment": libjpeg refuses it too */
            if (out->width == 0 || out->height == 0)
                return fail(why, "JPEG without a size in its frame header");
            return TD_OK;
        }
        if (len - pos < seg)
            return fail(why, "truncated JPEG header");
        pos += seg;
    }
}

static int probe_png(const unsigned char *p, size_t len, struct mb_media_info *out,
                     const char **why)
{
    /* signature(8) length(4) "IHDR"(4) width(4) height(4) depth, colour,
     * compression, filter, interlace (5) */
    if (len < 8 + 8 + 13)
        return fail(why, "truncated PNG header");
    if (be32(p + 8) != 13 || memcmp(p + 12, "IHDR", 4) != 0)
        return fail(why, "PNG without IHDR first");
    uint32_t w = be32(p + 16), h = be32(p + 20);
    if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
        return fail(why, "PNG with an invalid size");
    out->width = w;
    out->height = h;
    return TD_OK;
}

static int probe_gif(const unsigned char *p, size_t len, struct mb_media_info *out,
                     const char **why)
{
    if (len < 13) /* header(6) + logical screen descriptor(7) */
        return fail(why, "truncated GIF header");
    out->width = le16(p + 6);
    out->height = le16(p + 8);
    if (out->width == 0 || out->height == 0)
        return fail(why, "GIF with an invalid size");
    return TD_OK;
}

static int probe_webp(const unsigned char *p, size_t len, struct mb_media_info *out,
                      const char **why)
{
    /* "RIFF" size "WEBP" fourcc(12) chunk-size(16) chunk data from 20 */
    if (len < 20)
        return fail(why, "truncated WebP header");
    const unsigned char *d = p + 20;
    size_t dl = len - 20;
    if (memcmp(p + 12, "VP8 ", 4) == 0) {
        /* frame tag(3) start code 9d 01 2a, then 14-bit width and height (2 bits scale) */
        if (dl < 10)
            return fail(why, "truncated WebP header");
        if ((d[0] & 1) != 0 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a)
            return fail(why, "malformed WebP VP8 header");
        out->width = le16(d + 6) & 0x3fff;
        out->height = le16(d + 8) & 0x3fff;
    } else if (memcmp(p + 12, "VP8L", 4) == 0) {
        if (dl < 5)
            return fail(why, "truncated WebP header");
        if (d[0] != 0x2f)
            return fail(why, "malformed WebP VP8L header");
        uint32_t bits = le32(d + 1);
        out->width = (bits & 0x3fff) + 1;
        out->height = ((bits >> 14) & 0x3fff) + 1;
    } else if (memcmp(p + 12, "VP8X", 4) == 0) {
        /* flags(1) reserved(3) canvas width-1 (3) canvas height-1 (3) */
        if (dl < 10)
            return fail(why, "truncated WebP header");
        out->width = le24(d + 4) + 1;
        out->height = le24(d + 7) + 1;
    } else {
        return fail(why, "malformed WebP header");
    }
    if (out->width == 0 || out->height == 0)
        return fail(why, "WebP with an invalid size");
    return TD_OK;
}

int mb_media_probe(const void *data, size_t len, struct mb_media_info *out, const char **why)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    const unsigned char *p = data;
    memset(out, 0, sizeof(*out));
    if (why)
        *why = NULL;
    if (!p)
        len = 0;
    int rc;
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        out->type = MB_MEDIA_JPEG;
        out->mime = "image/jpeg";
        rc = probe_jpeg(p, len, out, why);
    } else if (len >= 8 && memcmp(p, png_sig, 8) == 0) {
        out->type = MB_MEDIA_PNG;
        out->mime = "image/png";
        rc = probe_png(p, len, out, why);
    } else if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
        out->type = MB_MEDIA_GIF;
        out->mime = "image/gif";
        rc = probe_gif(p, len, out, why);
    } else if (len >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
        out->type = MB_MEDIA_WEBP;
        out->mime = "image/webp";
        rc = probe_webp(p, len, out, why);
    } else {
        return fail(why, "unsupported type");
    }
    if (rc != TD_OK) {
        enum mb_media_type t = out->type;
        memset(out, 0, sizeof(*out));
        out->type = t; /* the caller may still want to name what it looked like */
    }
    return rc;
}

void mb_media_limits_default(struct mb_media_limits *lim)
{
    lim->max_bytes = MB_MEDIA_DEFAULT_MAX_BYTES;
    lim->max_pixels = MB_MEDIA_DEFAULT_MAX_PIXELS;
    lim->max_side = MB_MEDIA_DEFAULT_MAX_SIDE;
    lim->original_side = MB_MEDIA_DEFAULT_ORIGINAL_SIDE;
    lim->thumb_side = MB_MEDIA_DEFAULT_THUMB_SIDE;
    lim->jpeg_quality = MB_MEDIA_DEFAULT_JPEG_QUALITY;
}

static int check_size(uint64_t w, uint64_t h, const struct mb_media_limits *lim,
                      const char **why)
{
    if (w > lim->max_side || h > lim->max_side) {
        *why = "image too wide or too tall";
        return TD_ETOOBIG;
    }
    if (w * h > lim->max_pixels) {
        *why = "image has too many pixels";
        return TD_ETOOBIG;
    }
    return TD_OK;
}

int mb_media_check(const struct mb_media_info *info, size_t len,
                   const struct mb_media_limits *lim, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (len > lim->max_bytes) {
        *why = "file too large";
        return TD_ETOOBIG;
    }
    return check_size(info->width, info->height, lim, why);
}

/* ---------------------------------------------------------------- libvips */

static uv_once_t vips_once = UV_ONCE_INIT;
static bool vips_ready;

/* libvips reports through its error buffer; its g_warning()s (e.g. "read gave
 * 2 warnings") would go to stderr unformatted, and with fail_on = error the
 * ones that matter become errors anyway. */
static void vips_log_quiet(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                           gpointer ud)
{
}

static void vips_setup(void)
{
    if (VIPS_INIT("tandem") != 0)
        return;
    /* One vips worker per job: the parallelism is libuv's pool, and vips'
     * own threads would multiply it. */
    vips_concurrency_set(1);
    /* The operation cache would keep decoded uploads alive after the job. */
    vips_cache_set_max(0);
    vips_cache_set_max_mem(0);
    /* Only the loaders called below run, but make sure no fuzz-prone loader
     * module (ImageMagick, PDF) is ever picked by a generic call. */
    vips_block_untrusted_set(TRUE);
    g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO,
                      vips_log_quiet, NULL);
    vips_ready = true;
}

void mb_media_result_free(struct mb_media_result *r)
{
    if (!r)
        return;
    free(r->original.data);
    free(r->small.data);
    memset(r, 0, sizeof(*r));
}

static void seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

/* The libvips error text (for the log, not the uploader), then cleared. */
static void vips_detail(char *detail, size_t dlen)
{
    if (detail && dlen) {
        snprintf(detail, dlen, "%s", vips_error_buffer());
        size_t n = strlen(detail);
        while (n > 0 && (detail[n - 1] == '\n' || detail[n - 1] == ' '))
            detail[--n] = '\0';
    }
    vips_error_clear();
}

static int load(const struct mb_media_info *info, const void *data, size_t len,
                uint32_t keep_side, VipsImage **out)
{
    /* Header only: pixels are decoded at the first access. fail_on = error
     * turns truncated or corrupt bodies into errors instead of grey pixels;
     * for JPEG even warnings, since libjpeg only warns about entropy-coded
     * junk ("Corrupt JPEG data: bad Huffman code") and would hand back noise
     * (PNG warnings are mostly harmless ancillary-chunk complaints);
     * memory keeps big decodes off the temp directory (the pixel cap bounds
     * them). GIF and WebP load their first frame by default. */
    void *buf = (void *)(uintptr_t)data; /* libvips takes it non-const, reads only */
    switch (info->type) {
    case MB_MEDIA_JPEG: {
        /* Shrink-on-load: libjpeg decodes at 1/2, 1/4 or 1/8 scale almost for
         * free, so a 33-megapixel photo never exists at full size when the
         * original only keeps keep_side pixels of its longest side. */
        uint32_t longest = info->width > info->height ? info->width : info->height;
        int shrink = 8;
        while (shrink > 1 && longest / (uint32_t)shrink < keep_side)
            shrink /= 2;
        return vips_jpegload_buffer(buf, len, out, "fail_on", VIPS_FAIL_ON_WARNING, "memory", TRUE,
                                    "shrink", shrink, NULL);
    }
    case MB_MEDIA_PNG:
        return vips_pngload_buffer(buf, len, out, "fail_on", VIPS_FAIL_ON_ERROR, "memory", TRUE,
                                   NULL);
    case MB_MEDIA_GIF:
        return vips_gifload_buffer(buf, len, out, "fail_on", VIPS_FAIL_ON_ERROR, "memory", TRUE,
                                   NULL);
    case MB_MEDIA_WEBP:
        return vips_webpload_buffer(buf, len, out, "fail_on", VIPS_FAIL_ON_ERROR, "memory", TRUE,
                                    NULL);
    default:
        return -1;
    }
}

/* Upright, sRGB, 8 bits per sample, decoded into memory. t is scratch space
 * (vips_object_local_array) of at least 6 slots. */
static int normalise(VipsImage *in, VipsImage **t, VipsImage **out)
{
    VipsImage *img = in;
    if (vips_autorot(img, &t[0], NULL))
        return -1;
    img = t[0];
    if (vips_image_get_typeof(img, VIPS_META_ICC_NAME)) {
        /* A broken embedded profile is not worth refusing the image for:
         * fall back to the plain colourspace conversion below. */
        if (vips_icc_transform(img, &t[1], "srgb", "embedded", TRUE, "depth", 8, NULL) == 0)
            img = t[1];
        else
            vips_error_clear();
    }
    if (vips_image_guess_interpretation(img) != VIPS_INTERPRETATION_sRGB) {
        if (vips_colourspace(img, &t[2], VIPS_INTERPRETATION_sRGB, NULL))
            return -1;
        img = t[2];
    }
    if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR) {
        if (vips_cast(img, &t[3], VIPS_FORMAT_UCHAR, NULL))
            return -1;
        img = t[3];
    }
    /* Decode now, once: both renditions and the blurhash read it. */
    t[4] = vips_image_copy_memory(img);
    if (!t[4])
        return -1;
    *out = t[4];
    return 0;
}

static void fill_meta(struct mb_media_image *im, VipsImage *img, enum mb_media_type type)
{
    im->type = type;
    im->mime = type == MB_MEDIA_PNG ? "image/png" : "image/jpeg";
    im->width = (uint32_t)vips_image_get_width(img);
    im->height = (uint32_t)vips_image_get_height(img);
    snprintf(im->size, sizeof(im->size), "%ux%u", (unsigned)im->width, (unsigned)im->height);
    im->aspect = im->height ? (double)im->width / im->height : 0.0;
}

/* Scale down to fit side x side (never up), re-encode without metadata. */
static int render(VipsImage *img, uint32_t side, enum mb_media_type type, int quality,
                  VipsImage **scratch, struct mb_media_image *im)
{
    VipsImage *src = img;
    int w = vips_image_get_width(img), h = vips_image_get_height(img);
    if ((uint32_t)w > side || (uint32_t)h > side) {
        if (vips_thumbnail_image(img, scratch, (int)side, "height", (int)side, "size",
                                 VIPS_SIZE_DOWN, NULL))
            return -1;
        src = *scratch;
    }
    void *buf = NULL;
    size_t n = 0;
    int rc = type == MB_MEDIA_PNG
                 ? vips_pngsave_buffer(src, &buf, &n, "strip", TRUE, "compression", 6, NULL)
                 : vips_jpegsave_buffer(src, &buf, &n, "strip", TRUE, "Q", quality,
                                        "optimize_coding", TRUE, NULL);
    if (rc)
        return -1;
    im->data = td_malloc(n ? n : 1);
    memcpy(im->data, buf, n);
    im->len = n;
    g_free(buf);
    fill_meta(im, src, type);
    return 0;
}

static int blurhash_of(VipsImage *img, VipsImage **t, char out[MB_BLURHASH_MAX])
{
    VipsImage *src = img;
    if (vips_image_hasalpha(src)) {
        /* transparent areas count as white, as most clients paint them */
        VipsArrayDouble *bg = vips_array_double_newv(3, 255.0, 255.0, 255.0);
        int rc = vips_flatten(src, &t[0], "background", bg, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (rc)
            return -1;
        src = t[0];
    }
    if (vips_image_get_bands(src) != 3 || vips_image_get_format(src) != VIPS_FORMAT_UCHAR) {
        if (vips_extract_band(src, &t[1], 0, "n", 3, NULL))
            return -1;
        if (vips_cast(t[1], &t[2], VIPS_FORMAT_UCHAR, NULL))
            return -1;
        src = t[2];
    }
    size_t n = 0;
    unsigned char *px = vips_image_write_to_memory(src, &n);
    if (!px)
        return -1;
    uint32_t w = (uint32_t)vips_image_get_width(src), h = (uint32_t)vips_image_get_height(src);
    int rc = n == (size_t)w * h * 3
                 ? mb_blurhash_encode(px, w, h, (size_t)w * 3, MB_BLURHASH_X, MB_BLURHASH_Y, out)
                 : TD_EINVAL;
    g_free(px);
    if (rc != TD_OK) {
        vips_error("mb_media", "blurhash failed");
        return -1;
    }
    return 0;
}

/* mb_media_process with the libvips detail of a decode failure for the log. */
static int process(const void *data, size_t len, const struct mb_media_limits *lim,
                   struct mb_media_result *out, char *err, size_t errlen, char *detail,
                   size_t dlen)
{
    memset(out, 0, sizeof(*out));
    if (detail && dlen)
        detail[0] = '\0';
    struct mb_media_info info;
    const char *why = NULL;
    int rc = mb_media_probe(data, len, &info, &why);
    if (rc == TD_OK)
        rc = mb_media_check(&info, len, lim, &why);
    if (rc != TD_OK) {
        seterr(err, errlen, why);
        return rc;
    }
    uv_once(&vips_once, vips_setup);
    if (!vips_ready) {
        seterr(err, errlen, "image library unavailable");
        return TD_EIO;
    }
    out->source_type = info.type;

    VipsObject *scope = VIPS_OBJECT(vips_image_new());
    VipsImage **t = (VipsImage **)vips_object_local_array(scope, 16);
    VipsImage *img = NULL;
    rc = TD_EINVAL;
    const char *msg = "corrupt or truncated image";
    if (load(&info, data, len, lim->original_side, &t[0]))
        goto done;
    /* The header as libvips read it (a GIF frame may be larger than its
     * screen; a JPEG may be shrunk on load): still before any pixel is
     * decoded. */
    if (check_size((uint64_t)vips_image_get_width(t[0]), (uint64_t)vips_image_get_height(t[0]),
                   lim, &why) != TD_OK) {
        rc = TD_ETOOBIG;
        msg = why;
        goto done;
    }
    if (normalise(t[0], t + 1, &img))
        goto done;
    enum mb_media_type type =
        info.type == MB_MEDIA_GIF || vips_image_hasalpha(img) ? MB_MEDIA_PNG : MB_MEDIA_JPEG;
    int q = lim->jpeg_quality >= 1 && lim->jpeg_quality <= 100 ? lim->jpeg_quality
                                                               : MB_MEDIA_DEFAULT_JPEG_QUALITY;
    if (render(img, lim->original_side, type, q, &t[8], &out->original))
        goto done;
    if (render(img, lim->thumb_side, type, q, &t[9], &out->small))
        goto done;
    /* The thumbnail's pixels, not a decode of its JPEG: same picture, no
     * compression noise, and one decode less. */
    VipsImage *thumb = t[9] ? t[9] : img;
    if (blurhash_of(thumb, t + 10, out->blurhash))
        goto done;
    rc = TD_OK;
done:
    if (rc != TD_OK) {
        vips_detail(detail, dlen);
        mb_media_result_free(out);
        seterr(err, errlen, msg);
    }
    g_object_unref(scope);
    /* libvips keeps per-thread buffers; pool threads live on, so hand them back now */
    vips_thread_shutdown();
    return rc;
}

int mb_media_process(const void *data, size_t len, const struct mb_media_limits *lim,
                     struct mb_media_result *out, char *err, size_t errlen)
{
    return process(data, len, lim, out, err, errlen, NULL, 0);
}

/* ---------------------------------------------------------------- async */

struct job {
    uv_work_t work;
    unsigned char *data; /* owned copy of the upload; NULL when refused early */
    size_t len;
    struct mb_media_limits lim;
    mb_media_done_cb *cb;
    void *ud;
    int rc;
    struct mb_media_result *res;
    char err[128];
    char detail[256];
};

static void work_cb(uv_work_t *w)
{
    struct job *j = td_container_of(w, struct job, work);
    if (j->rc != TD_OK)
        return; /* refused on the loop already; only here to call back later */
    j->res = td_calloc(1, sizeof(*j->res));
    j->rc = process(j->data, j->len, &j->lim, j->res, j->err, sizeof(j->err), j->detail,
                    sizeof(j->detail));
    free(j->data);
    j->data = NULL;
    if (j->rc != TD_OK) {
        free(j->res);
        j->res = NULL;
    }
}

static void after_cb(uv_work_t *w, int status)
{
    struct job *j = td_container_of(w, struct job, work);
    if (status == UV_ECANCELED) {
        j->rc = TD_ECLOSED;
        snprintf(j->err, sizeof(j->err), "cancelled");
    }
    if (j->rc != TD_OK && j->detail[0])
        log_info("mb_media_refused", "reason=%s detail=%s", log_q(j->err), log_q(j->detail));
    j->cb(j->rc, j->rc == TD_OK ? j->res : NULL, j->rc == TD_OK ? NULL : j->err, j->ud);
    if (j->rc != TD_OK && j->res) {
        mb_media_result_free(j->res);
        free(j->res);
    }
    free(j->data);
    free(j);
}

int mb_media_process_async(uv_loop_t *loop, const void *data, size_t len,
                           const struct mb_media_limits *lim, mb_media_done_cb *cb, void *ud)
{
    struct job *j = td_calloc(1, sizeof(*j));
    j->lim = *lim;
    j->cb = cb;
    j->ud = ud;
    /* Refuse what the header already condemns before copying megabytes. */
    struct mb_media_info info;
    const char *why = NULL;
    j->rc = mb_media_probe(data, len, &info, &why);
    if (j->rc == TD_OK)
        j->rc = mb_media_check(&info, len, lim, &why);
    if (j->rc != TD_OK) {
        snprintf(j->err, sizeof(j->err), "%s", why);
    } else {
        j->data = td_malloc(len);
        memcpy(j->data, data, len);
        j->len = len;
    }
    int rc = uv_queue_work(loop, &j->work, work_cb, after_cb);
    if (rc != 0) {
        free(j->data);
        free(j);
        return TD_EIO;
    }
    return TD_OK;
}
