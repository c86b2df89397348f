/* SPDX-License-Identifier: MIT */
/* BlurHash encoder (Wolt's algorithm, https://github.com/woltapp/blurhash,
 * "Algorithm.md"): the image is projected onto xc * yc cosine basis functions
 * in linear light; the average colour (DC) is stored as 24-bit sRGB and the
 * other factors quantised to 19 levels per channel against their largest
 * magnitude, everything written in base 83. Mastodon sends it with every
 * attachment (4x3 components) so clients can paint a placeholder. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "social/mb_media.h"

static const char b83[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

static char *encode83(char *p, int value, int length)
{
    int div = 1;
    for (int i = 1; i < length; i++)
        div *= 83;
    for (int i = 0; i < length; i++) {
        *p++ = b83[(value / div) % 83];
        div /= 83;
    }
    return p;
}

/* Single precision throughout, as the reference C encoder that Mastodon's
 * blurhash gem embeds: the hash must match byte for byte what other servers
 * compute, and a double would round a few AC components the other way. */
static float srgb_to_linear(int value)
{
    float v = (float)value / 255;
    if (v <= 0.04045)
        return (float)(v / 12.92);
    return powf((float)((v + 0.055) / 1.055), 2.4f);
}

static int linear_to_srgb(float value)
{
    float v = fmaxf(0, fminf(1, value));
    if (v <= 0.0031308)
        return (int)(v * 12.92 * 255 + 0.5);
    return (int)((1.055 * powf(v, (float)(1 / 2.4)) - 0.055) * 255 + 0.5);
}

static float sign_pow(float v, float e)
{
    return copysignf(powf(fabsf(v), e), v);
}

static int quant_ac(float v, float max)
{
    return (int)fmaxf(0, fminf(18, floorf((float)(sign_pow(v / max, 0.5f) * 9 + 9.5))));
}

int mb_blurhash_encode(const unsigned char *rgb, uint32_t width, uint32_t height,
                       size_t stride, int xc, int yc, char out[MB_BLURHASH_MAX])
{
    if (!rgb || width == 0 || height == 0 || xc < 1 || xc > 9 || yc < 1 || yc > 9 ||
        stride / 3 < width)
        return TD_EINVAL;

    /* The basis is separable: cos(pi i x / w) * cos(pi j y / h). Tabulate both
     * factors and the linear-light values once instead of per component; the
     * sums still run in the reference's order (rows, then columns). */
    float lin[256];
    for (int v = 0; v < 256; v++)
        lin[v] = srgb_to_linear(v);
    float *cx = td_malloc(sizeof(float) * (size_t)xc * width);
    float *cy = td_malloc(sizeof(float) * (size_t)yc * height);
    for (int i = 0; i < xc; i++)
        for (uint32_t x = 0; x < width; x++)
            cx[(size_t)i * width + x] = cosf((float)(M_PI * i * x / width));
    for (int j = 0; j < yc; j++)
        for (uint32_t y = 0; y < height; y++)
            cy[(size_t)j * height + y] = cosf((float)(M_PI * j * y / height));

    float f[81][3];
    memset(f, 0, sizeof(f));
    for (uint32_t y = 0; y < height; y++) {
        const unsigned char *row = rgb + (size_t)y * stride;
        for (uint32_t x = 0; x < width; x++) {
            float r = lin[row[3 * x]], g = lin[row[3 * x + 1]], b = lin[row[3 * x + 2]];
            for (int j = 0; j < yc; j++) {
                float by = cy[(size_t)j * height + y];
                for (int i = 0; i < xc; i++) {
                    float basis = cx[(size_t)i * width + x] * by;
                    float *fc = f[j * xc + i];
                    fc[0] += basis * r;
                    fc[1] += basis * g;
                    fc[2] += basis * b;
                }
            }
        }
    }
    free(cx);
    free(cy);
    int n = xc * yc;
    for (int k = 0; k < n; k++) {
        float scale = (k == 0 ? 1.0f : 2.0f) / (float)((uint64_t)width * height);
        for (int c = 0; c < 3; c++)
            f[k][c] *= scale;
    }

    char *p = out;
    p = encode83(p, (xc - 1) + (yc - 1) * 9, 1);
    float max_value = 1;
    if (n > 1) {
        float actual = 0;
        for (int k = 1; k < n; k++)
            for (int c = 0; c < 3; c++)
                actual = fmaxf(fabsf(f[k][c]), actual);
        int qmax = (int)fmaxf(0, fminf(82, floorf((float)(actual * 166 - 0.5))));
        max_value = ((float)qmax + 1) / 166;
        p = encode83(p, qmax, 1);
    } else {
        p = encode83(p, 0, 1);
    }
    int dc = (linear_to_srgb(f[0][0]) << 16) + (linear_to_srgb(f[0][1]) << 8) +
             linear_to_srgb(f[0][2]);
    p = encode83(p, dc, 4);
    for (int k = 1; k < n; k++) {
        int ac = quant_ac(f[k][0], max_value) * 19 * 19 + quant_ac(f[k][1], max_value) * 19 +
                 quant_ac(f[k][2], max_value);
        p = encode83(p, ac, 2);
    }
    *p = '\0';
    return TD_OK;
}
