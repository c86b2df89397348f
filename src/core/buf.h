/* SPDX-License-Identifier: MIT */
/* A growable byte buffer with a ceiling (curl's dynbuf idea): every buffer
 * that holds peer-controlled bytes is created with the most it may ever hold,
 * so an append past it fails with TD_ETOOBIG instead of growing without end.
 * The data is always NUL-terminated for convenience (the NUL is not counted
 * in len). A zeroed struct buf is a valid empty buffer with no ceiling. */
#ifndef TD_BUF_H
#define TD_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* owned; NULL until the first append */
    size_t len; /* bytes used, not counting the trailing NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* most bytes len may reach; 0 = no ceiling (internal data only) */
};

/** Start an empty buffer that may hold at most max bytes (0 = unlimited). */
void buf_init(struct buf *b, size_t max);
/** Append n bytes; TD_ETOOBIG (buffer unchanged) if that passes the ceiling. */
int buf_append(struct buf *b, const void *p, size_t n);
/** Append a NUL-terminated string. */
int buf_appends(struct buf *b, const char *s);
/** Append one byte. */
int buf_putc(struct buf *b, char c);
/** Append printf-formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/** Append s with HTML special characters (& < > " ') escaped. */
int buf_append_html(struct buf *b, const char *s, size_t n);
/** Drop the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/** Empty the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/** Release the memory; the buffer is empty and reusable afterwards. NULL-safe. */
void buf_free(struct buf *b);
/** Take ownership of the data (NUL-terminated, free with free()); b becomes empty. */
char *buf_steal(struct buf *b, size_t *len);

#endif
