/* SPDX-License-Identifier: MIT */
/* Unit tests for social/mb_media: the header sniffer (JPEG, PNG, GIF, WebP
 * VP8/VP8L/VP8X) on images libvips writes here, truncated and hostile
 * headers, limits applied before decoding (a PNG claiming 100000x100000),
 * EXIF orientation and metadata stripping on a JPEG with a hand-built EXIF
 * APP1 (orientation 6, a GPS IFD), XMP and a comment, the renditions' sizes
 * and types, BlurHash against the reference implementation's output, the
 * async path on a real loop, and corrupt bodies behind valid headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "social/mb_media.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

struct blob {
    unsigned char *p;
    size_t n;
};

static void blob_free(struct blob *b)
{
    free(b->p);
    b->p = NULL;
    b->n = 0;
}

/* w x h pixels with `bands` bands: a gradient, or left half black / right half
 * white when split is set; alpha (band 4) half transparent. */
static VipsImage *make_image(int w, int h, int bands, bool split)
{
    size_t n = (size_t)w * h * bands;
    unsigned char *px = malloc(n);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *q = px + ((size_t)y * w + x) * bands;
            for (int b = 0; b < bands; b++)
                q[b] = split ? (x < w / 2 ? 0 : 255)
                             : (unsigned char)((x * 7 + y * 3 + b * 50) & 0xff);
            if (bands == 4)
                q[3] = x < w / 2 ? 255 : 128;
        }
    VipsImage *img = vips_image_new_from_memory_copy(px, n, w, h, bands, VIPS_FORMAT_UCHAR);
    free(px);
    assert_non_null(img);
    /* from memory the bands mean nothing yet; 4 would pass for CMYK */
    img->Type = bands >= 3 ? VIPS_INTERPRETATION_sRGB : VIPS_INTERPRETATION_B_W;
    return img;
}

static struct blob save(VipsImage *img, const char *suffix, const char *opts_lossless)
{
    void *buf = NULL;
    size_t n = 0;
    int rc;
    if (strcmp(suffix, ".jpg") == 0)
        rc = vips_jpegsave_buffer(img, &buf, &n, "Q", 90, "strip", TRUE, NULL);
    else if (strcmp(suffix, ".png") == 0)
        rc = vips_pngsave_buffer(img, &buf, &n, NULL);
    else if (strcmp(suffix, ".gif") == 0)
        rc = vips_gifsave_buffer(img, &buf, &n, NULL);
    else
        rc = vips_webpsave_buffer(img, &buf, &n, "lossless", opts_lossless != NULL, "strip",
                                  TRUE, NULL);
    assert_int_equal(rc, 0);
    struct blob b = {malloc(n), n};
    assert_non_null(b.p);
    memcpy(b.p, buf, n);
    g_free(buf);
    return b;
}

static struct blob make(int w, int h, int bands, const char *suffix)
{
    VipsImage *img = make_image(w, h, bands, false);
    struct blob b = save(img, suffix, NULL);
    g_object_unref(img);
    return b;
}

/* The "VP8 " or "VP8L" chunk of an extended-layout WebP, alone in a new RIFF: the
 * simple layout (RFC 9649 2.5). */
static struct blob webp_simple(const struct blob *x, const char *fourcc)
{
    size_t pos = 12;
    while (pos + 8 <= x->n && memcmp(x->p + pos, fourcc, 4) != 0) {
        size_t cl = (size_t)x->p[pos + 4] | (size_t)x->p[pos + 5] << 8 |
                    (size_t)x->p[pos + 6] << 16 | (size_t)x->p[pos + 7] << 24;
        pos += 8 + cl + (cl & 1);
    }
    assert_true(pos + 8 <= x->n);
    size_t cl = (size_t)x->p[pos + 4] | (size_t)x->p[pos + 5] << 8 |
                (size_t)x->p[pos + 6] << 16 | (size_t)x->p[pos + 7] << 24;
    size_t chunk = 8 + cl + (cl & 1);
    assert_true(pos + chunk <= x->n);
    struct blob b = {malloc(12 + chunk), 12 + chunk};
    assert_non_null(b.p);
    size_t riff = 4 + chunk;
    memcpy(b.p, "RIFF", 4);
    b.p[4] = (unsigned char)riff, b.p[5] = (unsigned char)(riff >> 8);
    b.p[6] = (unsigned char)(riff >> 16), b.p[7] = (unsigned char)(riff >> 24);
    memcpy(b.p + 8, "WEBP", 4);
    memcpy(b.p + 12, x->p + pos, chunk);
    return b;
}

static int setup(void **state)
{
    (void)state;
    return VIPS_INIT("test_mb_media") == 0 ? 0 : -1;
}

static void default_limits(struct mb_media_limits *lim)
{
    mb_media_limits_default(lim);
}

/* ---------------------------------------------------------------- probe */

static void expect_probe(const struct blob *b, enum mb_media_type t, const char *mime,
                         uint32_t w, uint32_t h)
{
    struct mb_media_info info;
    const char *why = "x";
    assert_int_equal(mb_media_probe(b->p, b->n, &info, &why), TD_OK);
    assert_null(why);
    assert_int_equal(info.type, t);
    assert_string_equal(info.mime, mime);
    assert_int_equal(info.width, w);
    assert_int_equal(info.height, h);
}

static void test_probe_types(void **state)
{
    (void)state;
    struct blob b = make(40, 30, 3, ".jpg");
    expect_probe(&b, MB_MEDIA_JPEG, "image/jpeg", 40, 30);
    blob_free(&b);
    b = make(41, 29, 4, ".png");
    expect_probe(&b, MB_MEDIA_PNG, "image/png", 41, 29);
    blob_free(&b);
    b = make(17, 9, 3, ".gif");
    expect_probe(&b, MB_MEDIA_GIF, "image/gif", 17, 9);
    blob_free(&b);
    /* lossy: libvips always writes the extended layout ("VP8X"); the
     * simple one, a bare "VP8 " chunk, is its VP8 chunk in a RIFF alone */
    b = make(50, 20, 3, ".webp");
    assert_memory_equal(b.p + 12, "VP8X", 4);
    expect_probe(&b, MB_MEDIA_WEBP, "image/webp", 50, 20);
    struct blob s = webp_simple(&b, "VP8 ");
    assert_memory_equal(s.p + 12, "VP8 ", 4);
    expect_probe(&s, MB_MEDIA_WEBP, "image/webp", 50, 20);
    struct mb_media_limits lim;
    default_limits(&lim);
    struct mb_media_result res;
    char err[128];
    assert_int_equal(mb_media_process(s.p, s.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_string_equal(res.original.size, "50x20");
    mb_media_result_free(&res);
    blob_free(&s);
    blob_free(&b);
    /* lossy with alpha: "VP8X" (extended) with ALPH and VP8 chunks */
    b = make(33, 65, 4, ".webp");
    assert_memory_equal(b.p + 12, "VP8X", 4);
    expect_probe(&b, MB_MEDIA_WEBP, "image/webp", 33, 65);
    blob_free(&b);
    /* lossless: "VP8L" */
    VipsImage *img = make_image(3000, 7, 3, false);
    b = save(img, ".webp", "lossless");
    g_object_unref(img);
    expect_probe(&b, MB_MEDIA_WEBP, "image/webp", 3000, 7);
    s = webp_simple(&b, "VP8L");
    assert_memory_equal(s.p + 12, "VP8L", 4);
    expect_probe(&s, MB_MEDIA_WEBP, "image/webp", 3000, 7);
    assert_int_equal(mb_media_process(s.p, s.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_string_equal(res.original.size, "3000x7");
    mb_media_result_free(&res);
    blob_free(&s);
    blob_free(&b);

    /* The smallest GIF87a, written by hand: 3x2, global table, one pixel. */
    static const unsigned char gif[] = {
        'G', 'I', 'F', '8', '7', 'a', 3, 0, 2, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
        ',', 0, 0, 0, 0, 3, 0, 2, 0, 0, 2, 2, 0x44, 0x01, 0, ';'};
    struct blob g = {(unsigned char *)gif, sizeof(gif)};
    expect_probe(&g, MB_MEDIA_GIF, "image/gif", 3, 2);

    /* JPEG fill bytes and an RST marker before the frame header are fine */
    static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xff, 0xff, 0xe0, 0, 4, 'J', 'F',
                                        0xff, 0xd0, 0xff, 0xc2, 0, 11, 8, 0x01, 0x02, 0x03,
                                        0x04, 1, 1, 0x11, 0};
    struct blob j = {(unsigned char *)jpg, sizeof(jpg)};
    expect_probe(&j, MB_MEDIA_JPEG, "image/jpeg", 0x0304, 0x0102);
}

/* Every prefix of a valid file either fails cleanly or (once the frame
 * header is inside) tells the full file's size; exact-size copies so ASan
 * catches a read past the end. */
static void check_prefixes(const struct blob *b, size_t header_end)
{
    struct mb_media_info full, part;
    assert_int_equal(mb_media_probe(b->p, b->n, &full, NULL), TD_OK);
    for (size_t k = 0; k <= b->n && k <= 600; k++) {
        unsigned char *c = malloc(k ? k : 1);
        assert_non_null(c);
        memcpy(c, b->p, k);
        const char *why = NULL;
        int rc = mb_media_probe(c, k, &part, &why);
        if (k < header_end) {
            assert_int_equal(rc, TD_EINVAL);
            assert_non_null(why);
            assert_int_equal(part.width, 0);
        } else {
            assert_int_equal(rc, TD_OK);
            assert_int_equal(part.width, full.width);
            assert_int_equal(part.height, full.height);
        }
        free(c);
    }
}

static void test_probe_truncated(void **state)
{
    (void)state;
    struct blob b = make(40, 30, 3, ".png");
    check_prefixes(&b, 29);
    const char *why = NULL;
    struct mb_media_info info;
    assert_int_equal(mb_media_probe(b.p, 20, &info, &why), TD_EINVAL);
    assert_string_equal(why, "truncated PNG header");
    assert_int_equal(info.type, MB_MEDIA_PNG);
    blob_free(&b);

    b = make(40, 30, 3, ".gif");
    check_prefixes(&b, 13);
    blob_free(&b);
    b = make(40, 30, 3, ".webp");
    check_prefixes(&b, 30); /* VP8X */
    struct blob s = webp_simple(&b, "VP8 ");
    check_prefixes(&s, 30); /* VP8 */
    blob_free(&s);
    blob_free(&b);
    VipsImage *img = make_image(40, 30, 3, false);
    b = save(img, ".webp", "lossless");
    g_object_unref(img);
    s = webp_simple(&b, "VP8L");
    check_prefixes(&s, 25); /* VP8L */
    blob_free(&s);
    blob_free(&b);

    /* JPEG: the SOF0 lies after APP0 and the tables; find where it ends */
    b = make(40, 30, 3, ".jpg");
    size_t sof = 0;
    for (size_t i = 2; i + 1 < b.n; i++)
        if (b.p[i] == 0xff && b.p[i + 1] == 0xc0) {
            sof = i;
            break;
        }
    assert_true(sof > 0);
    check_prefixes(&b, sof + 2 + 7);
    assert_int_equal(mb_media_probe(b.p, sof + 4, &info, &why), TD_EINVAL);
    assert_string_equal(why, "truncated JPEG header");
    blob_free(&b);
}

static void expect_einval(const void *p, size_t n, const char *reason)
{
    struct mb_media_info info;
    const char *why = NULL;
    assert_int_equal(mb_media_probe(p, n, &info, &why), TD_EINVAL);
    assert_non_null(why);
    if (reason)
        assert_string_equal(why, reason);
    assert_int_equal(info.width, 0);
    assert_int_equal(info.height, 0);
}

static void test_probe_hostile(void **state)
{
    (void)state;
    expect_einval(NULL, 0, "unsupported type");
    expect_einval("", 0, "unsupported type");
    expect_einval("hello, world, not an image", 26, "unsupported type");
    expect_einval("BM\x36\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00", 14, "unsupported type");
    expect_einval("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 41, "unsupported type");
    expect_einval("RIFF\0\0\0\0WAVEfmt ", 16, "unsupported type");
    expect_einval("GIF88a\x01\0\x01\0\0\0\0", 13, "unsupported type");
    /* known magic, broken insides */
    expect_einval("\xff\xd8\xff\xd9", 4, "JPEG without a frame header");
    expect_einval("\xff\xd8\xff\xda\x00\x02", 6, "JPEG without a frame header");
    expect_einval("\xff\xd8\xff\x00", 4, "malformed JPEG header");
    expect_einval("\xff\xd8\xff\xe0\x00\x01", 6, "malformed JPEG header");
    expect_einval("\xff\xd8\xff\xe0\xff\xff", 6, "truncated JPEG header");
    expect_einval("\xff\xd8\xff\xc0\x00\x11\x08\x00\x00\x00\x10", 11,
                  "JPEG without a size in its frame header");
    expect_einval("\xff\xd8\xff\xc0\x00\x05\x08\x00\x10\x00\x10", 11, "malformed JPEG header");
    expect_einval("\xff\xd8\xff\xe0\x00\x04\x00\x00\x12", 9, "malformed JPEG header");
    static const unsigned char png_bad[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                            0, 0, 0, 13, 'I', 'D', 'A', 'T',
                                            0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    expect_einval(png_bad, sizeof(png_bad), "PNG without IHDR first");
    static const unsigned char png_zero[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                             0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                             0, 0, 0, 0, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    expect_einval(png_zero, sizeof(png_zero), "PNG with an invalid size");
    static const unsigned char png_neg[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                            0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                            0x80, 0, 0, 0, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    expect_einval(png_neg, sizeof(png_neg), "PNG with an invalid size");
    expect_einval("GIF89a\x00\x00\x01\x00\x00\x00\x00", 13, "GIF with an invalid size");
    expect_einval("RIFF\0\0\0\0WEBPVP8 \x0a\0\0\0\x00\x00\x00\x9d\x01\x2b\x10\x00\x10\x00",
                  30, "malformed WebP VP8 header");
    expect_einval("RIFF\0\0\0\0WEBPVP8 \x0a\0\0\0\x00\x00\x00\x9d\x01\x2a\x00\x40\x10\x00",
                  30, "WebP with an invalid size");
    expect_einval("RIFF\0\0\0\0WEBPVP8L\x05\0\0\0\x2e\0\0\0\0", 25, "malformed WebP VP8L header");
    expect_einval("RIFF\0\0\0\0WEBPALPH\x05\0\0\0\x2e\0\0\0\0", 25, "malformed WebP header");

    /* the largest sizes each format can state are read exactly */
    struct mb_media_info info;
    assert_int_equal(mb_media_probe("RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\x10\0\0\0\xff\xff\xff"
                                    "\xff\xff\xff", 30, &info, NULL), TD_OK);
    assert_int_equal(info.width, 1u << 24);
    assert_int_equal(info.height, 1u << 24);
    assert_int_equal(mb_media_probe("RIFF\0\0\0\0WEBPVP8L\x05\0\0\0\x2f\xff\xff\xff\x0f", 25,
                                    &info, NULL), TD_OK);
    assert_int_equal(info.width, 16384);
    assert_int_equal(info.height, 16384);
}

/* ---------------------------------------------------------------- limits */

/* A PNG header claiming w x h, then an IDAT of junk: decoding it would fail,
 * so only a refusal before decoding gives TD_ETOOBIG. */
static struct blob png_claiming(uint32_t w, uint32_t h)
{
    static const unsigned char head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                         0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    struct blob b = {malloc(200), 200};
    assert_non_null(b.p);
    memset(b.p, 0xa5, b.n);
    memcpy(b.p, head, sizeof(head));
    unsigned char *p = b.p + 16;
    p[0] = w >> 24, p[1] = w >> 16, p[2] = w >> 8, p[3] = w;
    p[4] = h >> 24, p[5] = h >> 16, p[6] = h >> 8, p[7] = h;
    p[8] = 8, p[9] = 2, p[10] = 0, p[11] = 0, p[12] = 0;
    memcpy(b.p + 33, "\0\0\0\x40IDAT", 8);
    return b;
}

static void test_limits_before_decode(void **state)
{
    (void)state;
    struct mb_media_limits lim;
    default_limits(&lim);
    assert_int_equal(lim.max_bytes, 16u * 1024 * 1024);
    struct mb_media_info info;
    const char *why = NULL;
    char err[128];
    struct mb_media_result res;

    struct blob b = png_claiming(100000, 100000);
    assert_int_equal(mb_media_probe(b.p, b.n, &info, NULL), TD_OK);
    assert_int_equal(info.width, 100000);
    assert_int_equal(mb_media_check(&info, b.n, &lim, &why), TD_ETOOBIG);
    assert_string_equal(why, "image too wide or too tall");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_ETOOBIG);
    assert_string_equal(err, "image too wide or too tall");
    assert_null(res.original.data);
    blob_free(&b);

    /* each side fine, the product not: 8000 x 8000 = 64 megapixels */
    b = png_claiming(8000, 8000);
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_ETOOBIG);
    assert_string_equal(err, "image has too many pixels");
    blob_free(&b);

    /* bytes: a real image over a small byte limit */
    b = make(64, 64, 3, ".png");
    lim.max_bytes = b.n - 1;
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_ETOOBIG);
    assert_string_equal(err, "file too large");
    lim.max_bytes = b.n;
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    mb_media_result_free(&res);
    blob_free(&b);

    /* exactly at the limits passes the check */
    default_limits(&lim);
    info.width = 16384;
    info.height = 2025;
    assert_int_equal(mb_media_check(&info, lim.max_bytes, &lim, &why), TD_OK);
    info.height = 2026;
    assert_int_equal(mb_media_check(&info, lim.max_bytes, &lim, &why), TD_ETOOBIG);
    info.height = 16385;
    info.width = 1;
    assert_int_equal(mb_media_check(&info, 1, &lim, &why), TD_ETOOBIG);

    /* unsupported type through process */
    assert_int_equal(mb_media_process("GIF90a", 6, &lim, &res, err, sizeof(err)), TD_EINVAL);
    assert_string_equal(err, "unsupported type");
}

/* ---------------------------------------------------------------- EXIF */

static void put16(unsigned char **p, unsigned v)
{
    *(*p)++ = (unsigned char)(v >> 8);
    *(*p)++ = (unsigned char)v;
}

static void put32(unsigned char **p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p, v & 0xffff);
}

/* An APP1 "Exif" segment (big-endian TIFF): IFD0 with Orientation = 6,
 * ImageDescription and a GPS IFD holding GPSLatitudeRef "N" and
 * GPSLatitude 48/1 51/1 2955/100 (the Eiffel Tower, more or less). */
static size_t exif_app1(unsigned char *out)
{
    unsigned char *p = out;
    unsigned char *len_at;
    *p++ = 0xff, *p++ = 0xe1;
    len_at = p;
    p += 2;
    memcpy(p, "Exif\0\0", 6), p += 6;
    unsigned char *tiff = p;
    memcpy(p, "MM\0\x2a\0\0\0\x08", 8), p += 8;
    /* IFD0 at 8: 3 entries */
    const uint32_t ifd0_end = 8 + 2 + 3 * 12 + 4;  /* 50 */
    const uint32_t desc_at = ifd0_end;               /* 16 bytes of text */
    const uint32_t gps_at = desc_at + 16;            /* 66 */
    const uint32_t gps_end = gps_at + 2 + 2 * 12 + 4; /* 96 */
    put16(&p, 3);
    put16(&p, 0x010e), put16(&p, 2), put32(&p, 16), put32(&p, desc_at); /* ImageDescription */
    put16(&p, 0x0112), put16(&p, 3), put32(&p, 1), put16(&p, 6), put16(&p, 0); /* Orientation */
    put16(&p, 0x8825), put16(&p, 4), put32(&p, 1), put32(&p, gps_at); /* GPSInfo IFD */
    put32(&p, 0);
    memcpy(p, "SECRET-LOCATION", 16), p += 16;
    put16(&p, 2);
    put16(&p, 0x0001), put16(&p, 2), put32(&p, 2), *p++ = 'N', *p++ = 0, *p++ = 0, *p++ = 0;
    put16(&p, 0x0002), put16(&p, 5), put32(&p, 3), put32(&p, gps_end); /* GPSLatitude */
    put32(&p, 0);
    put32(&p, 48), put32(&p, 1), put32(&p, 51), put32(&p, 1), put32(&p, 2955), put32(&p, 100);
    assert_int_equal((size_t)(p - tiff), gps_end + 24);
    size_t seg = (size_t)(p - len_at);
    len_at[0] = (unsigned char)(seg >> 8), len_at[1] = (unsigned char)seg;
    return (size_t)(p - out);
}

/* APP1 XMP and a COM segment, both with words that must not survive. */
static size_t xmp_and_comment(unsigned char *out)
{
    static const char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
                              "<exif:GPSLatitude>48,51.49N</exif:GPSLatitude></x:xmpmeta>";
    static const char com[] = "SECRET-COMMENT from the camera";
    unsigned char *p = out;
    *p++ = 0xff, *p++ = 0xe1;
    put16(&p, (unsigned)(2 + sizeof(xmp) - 1));
    memcpy(p, xmp, sizeof(xmp) - 1), p += sizeof(xmp) - 1;
    *p++ = 0xff, *p++ = 0xfe;
    put16(&p, (unsigned)(2 + sizeof(com) - 1));
    memcpy(p, com, sizeof(com) - 1), p += sizeof(com) - 1;
    return (size_t)(p - out);
}

static bool contains(const unsigned char *h, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(h + i, needle, k) == 0)
            return true;
    return false;
}

/* Every marker segment before SOS: only APP0 (JFIF) and the codec's own. */
static void assert_clean_jpeg(const struct mb_media_image *im)
{
    assert_int_equal(im->type, MB_MEDIA_JPEG);
    assert_string_equal(im->mime, "image/jpeg");
    const unsigned char *p = im->data;
    size_t n = im->len, pos = 2;
    assert_true(n > 4 && p[0] == 0xff && p[1] == 0xd8);
    for (;;) {
        assert_true(pos + 4 <= n);
        assert_int_equal(p[pos], 0xff);
        unsigned m = p[pos + 1];
        if (m == 0xda)
            break;
        assert_false(m >= 0xe1 && m <= 0xef); /* APP1 (EXIF, XMP) .. APP15, APP2 = ICC */
        assert_int_not_equal(m, 0xfe);        /* COM */
        pos += 2 + ((size_t)p[pos + 2] << 8 | p[pos + 3]);
    }
    assert_false(contains(p, n, "Exif"));
    assert_false(contains(p, n, "GPS"));
    assert_false(contains(p, n, "SECRET"));
    assert_false(contains(p, n, "adobe"));
    assert_false(contains(p, n, "ICC_PROFILE"));
}

/* mean of the pixel values in rows [y0, y1) of a decoded rendition */
static double row_mean(const struct mb_media_image *im, int y0, int y1)
{
    VipsImage *img = vips_image_new_from_buffer(im->data, im->len, "", NULL);
    assert_non_null(img);
    VipsImage *crop = NULL;
    assert_int_equal(vips_crop(img, &crop, 0, y0, vips_image_get_width(img), y1 - y0, NULL), 0);
    double avg = -1;
    assert_int_equal(vips_avg(crop, &avg, NULL), 0);
    g_object_unref(crop);
    g_object_unref(img);
    return avg;
}

static void test_exif_orientation_and_strip(void **state)
{
    (void)state;
    /* 64 x 32, left half black, right half white */
    VipsImage *img = make_image(64, 32, 3, true);
    struct blob plain = save(img, ".jpg", NULL);
    g_object_unref(img);
    unsigned char segs[1024];
    size_t sn = exif_app1(segs);
    sn += xmp_and_comment(segs + sn);
    struct blob b = {malloc(plain.n + sn), plain.n + sn};
    assert_non_null(b.p);
    memcpy(b.p, plain.p, 2); /* SOI, then ours, then the rest (APP0 onwards) */
    memcpy(b.p + 2, segs, sn);
    memcpy(b.p + 2 + sn, plain.p + 2, plain.n - 2);
    blob_free(&plain);

    /* sanity: libvips (libexif) reads what we wrote */
    VipsImage *chk = vips_image_new_from_buffer(b.p, b.n, "", NULL);
    assert_non_null(chk);
    int orient = 0;
    assert_int_equal(vips_image_get_int(chk, "orientation", &orient), 0);
    assert_int_equal(orient, 6);
    assert_true(vips_image_get_typeof(chk, "exif-ifd3-GPSLatitudeRef") != 0);
    g_object_unref(chk);
    expect_probe(&b, MB_MEDIA_JPEG, "image/jpeg", 64, 32);
    assert_true(contains(b.p, b.n, "GPS"));

    struct mb_media_limits lim;
    default_limits(&lim);
    struct mb_media_result res;
    char err[128];
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.source_type, MB_MEDIA_JPEG);
    /* orientation 6: turned 90 degrees clockwise, so 32 wide and 64 tall ... */
    assert_int_equal(res.original.width, 32);
    assert_int_equal(res.original.height, 64);
    assert_string_equal(res.original.size, "32x64");
    assert_true(res.original.aspect > 0.49 && res.original.aspect < 0.51);
    /* ... and the left (black) half is now on top */
    assert_true(row_mean(&res.original, 0, 28) < 30);
    assert_true(row_mean(&res.original, 36, 64) > 225);
    assert_clean_jpeg(&res.original);
    assert_clean_jpeg(&res.small);
    assert_int_equal(res.small.width, 32);
    /* the output carries no orientation any more */
    VipsImage *out = vips_image_new_from_buffer(res.original.data, res.original.len, "", NULL);
    assert_non_null(out);
    assert_int_equal(vips_image_get_typeof(out, "orientation"), 0);
    assert_int_equal(vips_image_get_typeof(out, "exif-data"), 0);
    g_object_unref(out);
    mb_media_result_free(&res);
    blob_free(&b);
}

/* ---------------------------------------------------------------- renditions */

static void assert_blurhash(const char *h)
{
    static const char b83[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
    assert_int_equal(strlen(h), 4 + 2 * MB_BLURHASH_X * MB_BLURHASH_Y);
    assert_int_equal(h[0], 'L'); /* (4 - 1) + (3 - 1) * 9 = 21 */
    for (const char *c = h; *c; c++)
        assert_non_null(strchr(b83, *c));
}

static void test_renditions(void **state)
{
    (void)state;
    struct mb_media_limits lim;
    default_limits(&lim);
    struct mb_media_result res;
    char err[128];

    /* opaque PNG, 2000 x 1000: JPEG original as is, 640 x 320 thumbnail */
    struct blob b = make(2000, 1000, 3, ".png");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.source_type, MB_MEDIA_PNG);
    assert_int_equal(res.original.type, MB_MEDIA_JPEG);
    assert_string_equal(res.original.size, "2000x1000");
    assert_int_equal(res.small.type, MB_MEDIA_JPEG);
    assert_int_equal(res.small.width, 640);
    assert_int_equal(res.small.height, 320);
    assert_string_equal(res.small.size, "640x320");
    assert_true(res.small.aspect > 1.99 && res.small.aspect < 2.01);
    assert_true(res.small.len < res.original.len);
    assert_blurhash(res.blurhash);
    /* the thumbnail really is what it says */
    VipsImage *t = vips_image_new_from_buffer(res.small.data, res.small.len, "", NULL);
    assert_non_null(t);
    assert_int_equal(vips_image_get_width(t), 640);
    assert_int_equal(vips_image_get_height(t), 320);
    g_object_unref(t);
    mb_media_result_free(&res);
    blob_free(&b);

    /* longer than Mastodon's 3840 cap: the original shrinks */
    b = make(4000, 100, 3, ".jpg");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_string_equal(res.original.size, "3840x96");
    assert_string_equal(res.small.size, "640x16");
    mb_media_result_free(&res);
    blob_free(&b);

    /* twice the cap: the JPEG is shrunk on load, the result is the same size */
    b = make(7700, 200, 3, ".jpg");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.original.width, 3840);
    assert_true(res.original.height >= 99 && res.original.height <= 100);
    VipsImage *o = vips_image_new_from_buffer(res.original.data, res.original.len, "", NULL);
    assert_non_null(o);
    assert_int_equal(vips_image_get_width(o), 3840);
    g_object_unref(o);
    mb_media_result_free(&res);
    blob_free(&b);

    /* alpha stays: PNG out */
    b = make(300, 200, 4, ".webp");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.source_type, MB_MEDIA_WEBP);
    assert_int_equal(res.original.type, MB_MEDIA_PNG);
    assert_string_equal(res.original.mime, "image/png");
    assert_memory_equal(res.original.data, "\x89PNG", 4);
    assert_int_equal(res.small.type, MB_MEDIA_PNG);
    assert_string_equal(res.small.size, "300x200");
    assert_blurhash(res.blurhash);
    mb_media_result_free(&res);
    blob_free(&b);

    /* GIF: first frame as PNG */
    b = make(100, 50, 3, ".gif");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.source_type, MB_MEDIA_GIF);
    assert_int_equal(res.original.type, MB_MEDIA_PNG);
    assert_string_equal(res.original.size, "100x50");
    mb_media_result_free(&res);
    blob_free(&b);

    /* grey JPEG is fine too */
    b = make(50, 50, 1, ".jpg");
    assert_int_equal(mb_media_process(b.p, b.n, &lim, &res, err, sizeof(err)), TD_OK);
    assert_int_equal(res.original.type, MB_MEDIA_JPEG);
    mb_media_result_free(&res);
    mb_media_result_free(NULL);
    blob_free(&b);
}

/* ---------------------------------------------------------------- blurhash */

/* The expected hashes come from the reference C encoder (woltapp/blurhash,
 * Debian's python3-blurhash, function create_hash_from_pixels) over the same
 * pixels:  data = [(x*255)//31, (y*255)//23, ((x*7+y*13)*5)%256] for y<24, x<32. */
static void test_blurhash_vector(void **state)
{
    (void)state;
    enum { W = 32, H = 24 };
    unsigned char px[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *q = px + (y * W + x) * 3;
            q[0] = (unsigned char)(x * 255 / (W - 1));
            q[1] = (unsigned char)(y * 255 / (H - 1));
            q[2] = (unsigned char)(((x * 7 + y * 13) * 5) % 256);
        }
    char h[MB_BLURHASH_MAX];
    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3, 4, 3, h), TD_OK);
    assert_string_equal(h, "L$Hewc2swwX8l}WCjse:gJfjfQfi");
    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3, 1, 1, h), TD_OK);
    assert_string_equal(h, "00Hewc");
    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3, 9, 9, h), TD_OK);
    assert_int_equal(strlen(h), 4 + 2 * 81);

    /* noise, odd sizes, a row stride with padding: the same reference over
     * s = (s * 1103515245 + 12345) & 0x7fffffff; byte = (s >> 16) & 0xff,
     * starting at s = 12345, for 97 x 61 pixels */
    enum { NW = 97, NH = 61, STRIDE = NW * 3 + 5 };
    unsigned char *noise = calloc(NH, STRIDE);
    assert_non_null(noise);
    uint64_t seed = 12345;
    for (int y = 0; y < NH; y++)
        for (int i = 0; i < NW * 3; i++) {
            seed = (seed * 1103515245u + 12345u) & 0x7fffffffu;
            noise[y * STRIDE + i] = (unsigned char)((seed >> 16) & 0xff);
        }
    assert_int_equal(mb_blurhash_encode(noise, NW, NH, STRIDE, 4, 3, h), TD_OK);
    assert_string_equal(h, "L2HVC*-;w@=|^nkXIVoyng$%gvNs");
    assert_int_equal(mb_blurhash_encode(noise, NW, NH, STRIDE, 3, 7, h), TD_OK);
    assert_string_equal(h, "u2HVC*-;w@^nkXIVng$%gv^iIIz{nyJ~$.y;v8nOK*R6kR");
    assert_int_equal(mb_blurhash_encode(noise, NW, NH, STRIDE, 9, 9, h), TD_OK);
    assert_string_equal(h, "|2HVC*-;w@=|ySb|IU^lvx^nkXIVoym.R.=Yv.xWng$%gvNsIVW*IUakN0^iI"
                           "Iz{V{z?yBxkAu#,nyJ~$.O+S6oz$$rZrVy;v8nOV@Q;kOWRtlv.K*R6kRz_sjKsv*"
                           "w6PM?ccE+II:w#r?nU$_JP:[r{NsXRT1nPt6RmTw");
    free(noise);

    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3, 0, 3, h), TD_EINVAL);
    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3, 4, 10, h), TD_EINVAL);
    assert_int_equal(mb_blurhash_encode(px, 0, H, W * 3, 4, 3, h), TD_EINVAL);
    assert_int_equal(mb_blurhash_encode(px, W, H, W * 3 - 1, 4, 3, h), TD_EINVAL);
    assert_int_equal(mb_blurhash_encode(NULL, W, H, W * 3, 4, 3, h), TD_EINVAL);
}

/* ---------------------------------------------------------------- corrupt */

static void expect_corrupt(const struct blob *b)
{
    struct mb_media_limits lim;
    default_limits(&lim);
    struct mb_media_result res;
    char err[128];
    struct mb_media_info info;
    assert_int_equal(mb_media_probe(b->p, b->n, &info, NULL), TD_OK); /* header fine */
    assert_int_equal(mb_media_process(b->p, b->n, &lim, &res, err, sizeof(err)), TD_EINVAL);
    assert_string_equal(err, "corrupt or truncated image");
    assert_null(res.original.data);
    assert_null(res.small.data);
}

static void test_corrupt_body(void **state)
{
    (void)state;
    const char *kinds[] = {".jpg", ".png", ".gif", ".webp"};
    for (size_t k = 0; k < 4; k++) {
        struct blob b = make(200, 150, 3, kinds[k]);
        /* truncated in the middle of the pixel data */
        struct blob half = {b.p, b.n / 2};
        expect_corrupt(&half);
        /* the pixel data overwritten with junk, the length kept */
        for (size_t i = b.n / 3; i < b.n - 2; i++)
            b.p[i] = (unsigned char)(i * 37 + 11);
        expect_corrupt(&b);
        blob_free(&b);
    }
    /* a PNG claiming a sane size with a junk IDAT */
    struct blob b = png_claiming(64, 64);
    expect_corrupt(&b);
    blob_free(&b);
}

/* ---------------------------------------------------------------- async */

struct done {
    int calls;
    int rc;
    struct mb_media_result *res;
    char err[128];
};

static void on_done(int rc, struct mb_media_result *res, const char *err, void *ud)
{
    struct done *d = ud;
    d->calls++;
    d->rc = rc;
    d->res = res;
    if (err)
        snprintf(d->err, sizeof(d->err), "%s", err);
}

static void test_async(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct mb_media_limits lim;
    default_limits(&lim);

    struct blob b = make(1280, 960, 3, ".jpg");
    struct done ok = {0}, bad = {0}, big = {0}, corrupt = {0};
    assert_int_equal(mb_media_process_async(&loop, b.p, b.n, &lim, on_done, &ok), TD_OK);
    blob_free(&b); /* the input was copied */
    assert_int_equal(mb_media_process_async(&loop, "nope", 4, &lim, on_done, &bad), TD_OK);
    struct blob p = png_claiming(100000, 100000);
    assert_int_equal(mb_media_process_async(&loop, p.p, p.n, &lim, on_done, &big), TD_OK);
    blob_free(&p);
    p = png_claiming(64, 64);
    assert_int_equal(mb_media_process_async(&loop, p.p, p.n, &lim, on_done, &corrupt), TD_OK);
    blob_free(&p);
    /* never called back from inside the call */
    assert_int_equal(ok.calls + bad.calls + big.calls + corrupt.calls, 0);

    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.rc, TD_OK);
    assert_non_null(ok.res);
    assert_string_equal(ok.res->original.size, "1280x960");
    assert_string_equal(ok.res->small.size, "640x480");
    assert_blurhash(ok.res->blurhash);
    mb_media_result_free(ok.res);
    free(ok.res);

    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.rc, TD_EINVAL);
    assert_null(bad.res);
    assert_string_equal(bad.err, "unsupported type");
    assert_int_equal(big.calls, 1);
    assert_int_equal(big.rc, TD_ETOOBIG);
    assert_string_equal(big.err, "image too wide or too tall");
    assert_int_equal(corrupt.calls, 1);
    assert_int_equal(corrupt.rc, TD_EINVAL);
    assert_null(corrupt.res);
    assert_string_equal(corrupt.err, "corrupt or truncated image");
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_types),
        cmocka_unit_test(test_probe_truncated),
        cmocka_unit_test(test_probe_hostile),
        cmocka_unit_test(test_limits_before_decode),
        cmocka_unit_test(test_exif_orientation_and_strip),
        cmocka_unit_test(test_renditions),
        cmocka_unit_test(test_blurhash_vector),
        cmocka_unit_test(test_corrupt_body),
        cmocka_unit_test(test_async),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
