/* SPDX-License-Identifier: MIT */
/* logfmt logger; see log.h. */
#include "core/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *log_out;
static enum log_level log_min = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(FILE *out, enum log_level min)
{
    log_out = out;
    log_min = min;
}

void log_set_level(enum log_level min)
{
    log_min = min;
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "err") == 0)
        return LOG_ERR;
    return -1;
}

int log_enabled(enum log_level level)
{
    return level >= log_min;
}

void log_emit(enum log_level level, const char *event, const char *kvfmt, ...)
{
    FILE *out = log_out ? log_out : stderr;
    struct timeval tv;
    struct tm tm;
    char ts[32];
    char line[4096];
    int n;
    va_list ap;

    if (level < log_min)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    /* The whole line is formatted first and written at once: one write()
     * per line on an unbuffered stderr, and lines never interleave. */
    n = snprintf(line, sizeof(line), "ts=%s.%03dZ level=%s event=%s", ts,
                 (int)(tv.tv_usec / 1000), level_names[level], event);
    if (kvfmt && kvfmt[0] && n > 0 && (size_t)n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_start(ap, kvfmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, kvfmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line) - 1)
        n = (int)sizeof(line) - 2; /* truncated: keep the line whole */
    line[n++] = '\n';
    fwrite(line, 1, (size_t)n, out);
    fflush(out);
}

const char *log_q(const char *s)
{
    static char ring[4][LOG_Q_MAX * 4 + 8];
    static unsigned next;
    char *out = ring[next++ % 4];
    size_t o = 0;

    if (s == NULL)
        return "\"\"";
    out[o++] = '"';
    for (size_t i = 0; s[i] && i < LOG_Q_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

void fatal(const char *fmt, ...)
{
    va_list ap;

    fputs("tandem: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}
