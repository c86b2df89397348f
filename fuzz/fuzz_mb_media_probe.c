/* SPDX-License-Identifier: MIT */
/* libFuzzer driver for social/mb_media's header sniffer (JPEG SOFn, PNG IHDR,
 * GIF logical screen, WebP VP8/VP8L/VP8X; see mb_media.c). The input is the
 * uploaded file. Only the pure probe and the limit check run here, never
 * libvips: decoding belongs to the libraries' own fuzzing. Checked
 * invariants, each a __builtin_trap() when broken:
 *  - the probe never reads outside the input: it is run on an exact-size
 *    copy of every prefix of the first 512 bytes, and on the whole input,
 *    so ASan sees any over-read at a truncation point;
 *  - success means a known type, its MIME type, and both sides > 0; failure
 *    means TD_EINVAL with a reason and no size;
 *  - the type follows the magic bytes alone;
 *  - a prefix that probes fine gives the same answer as the whole input (the
 *    size comes from the first frame header, later bytes cannot change it);
 *  - mb_media_check accepts exactly what is within the limits. */
#include "core/err.h"
#include "social/mb_media.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)               \
    do {                          \
        if (!(cond))              \
            __builtin_trap();     \
    } while (0)

static enum mb_media_type magic(const uint8_t *p, size_t n)
{
    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return MB_MEDIA_JPEG;
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return MB_MEDIA_PNG;
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return MB_MEDIA_GIF;
    if (n >= 16 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return MB_MEDIA_WEBP;
    return MB_MEDIA_NONE;
}

static int probe_checked(const uint8_t *p, size_t n, struct mb_media_info *info)
{
    const char *why = NULL;
    int rc = mb_media_probe(p, n, info, &why);
    if (rc == TD_OK) {
        CHECK(why == NULL);
        CHECK(info->type != MB_MEDIA_NONE && info->type == magic(p, n));
        CHECK(info->mime != NULL && strncmp(info->mime, "image/", 6) == 0);
        CHECK(info->width > 0 && info->height > 0);
    } else {
        CHECK(rc == TD_EINVAL);
        CHECK(why != NULL && why[0] != '\0');
        CHECK(info->width == 0 && info->height == 0);
        CHECK(info->type == magic(p, n));
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mb_media_info whole;
    int wrc = probe_checked(data, size, &whole);

    size_t upto = size < 512 ? size : 512;
    for (size_t k = 0; k <= upto; k++) {
        uint8_t *copy = malloc(k ? k : 1);
        CHECK(copy != NULL);
        if (k)
            memcpy(copy, data, k);
        struct mb_media_info part;
        if (probe_checked(copy, k, &part) == TD_OK) {
            CHECK(wrc == TD_OK);
            CHECK(part.type == whole.type && part.width == whole.width &&
                  part.height == whole.height);
        }
        free(copy);
    }

    if (wrc == TD_OK) {
        struct mb_media_limits lim;
        mb_media_limits_default(&lim);
        const char *why = NULL;
        int crc = mb_media_check(&whole, size, &lim, &why);
        int within = size <= lim.max_bytes && whole.width <= lim.max_side &&
                     whole.height <= lim.max_side &&
                     (uint64_t)whole.width * whole.height <= lim.max_pixels;
        CHECK(within ? crc == TD_OK && why == NULL : crc == TD_ETOOBIG && why != NULL);
    }
    return 0;
}
