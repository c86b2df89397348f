/* SPDX-License-Identifier: MIT */
/* Logging in logfmt (key=value pairs, one event per line) with levels.
 * Every line starts with ts=, level= and event=; the caller adds its own
 * pairs with a printf format. Values that may contain spaces, quotes or
 * peer-controlled bytes are passed through log_q(), which quotes and escapes
 * them. Never log tokens, passwords, cookies or keys. */
#ifndef TD_LOG_H
#define TD_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERR };

/** Send lines to out (default stderr) and drop those below min. */
void log_setup(FILE *out, enum log_level min);
/** Parse "debug|info|warn|error"; -1 if unknown. */
int log_level_parse(const char *s);
void log_set_level(enum log_level min);
int log_enabled(enum log_level level);

/** One line: ts=... level=... event=<event> <kvfmt...> */
void log_emit(enum log_level level, const char *event, const char *kvfmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_emit(LOG_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_emit(LOG_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_emit(LOG_WARN, ev, __VA_ARGS__)
#define log_err(ev, ...) log_emit(LOG_ERR, ev, __VA_ARGS__)

/* Quote s for a logfmt value into one of a few rotating static buffers
 * (so several log_q() calls may appear in one log_emit), truncating at
 * LOG_Q_MAX bytes. Loop thread only. */
#define LOG_Q_MAX 200
const char *log_q(const char *s);

/** Print "tandem: <msg>" to stderr and exit(1). For start-up errors only. */
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
