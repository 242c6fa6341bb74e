/* errfmt.h - the one error convention of the tree: a function that can fail takes an
 * `ak_error *err` (may be NULL) last, fills it with a status code and a message, and
 * returns its failure value (-1, NULL or an ak_status). These are the setters. Header-only
 * (src/base), so libadaptivek uses them without a link dependency. */
#ifndef AK_BASE_ERRFMT_H
#define AK_BASE_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "base/errfmt.h"
#include "adaptivek.h"

static inline void ak_error_vset(ak_error *err, ak_status code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static inline void ak_error_vset(ak_error *err, ak_status code, const char *fmt, va_list ap) {
    if (!err) return;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    err->code = code;
}

/* Fills err (when not NULL) with code and the message; returns code. For ak_status functions. */
static inline ak_status ak_error_setf(ak_error *err, ak_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline ak_status ak_error_setf(ak_error *err, ak_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ak_error_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* The same, returning -1: for functions that return 0 or -1 (and, as `ak_failf(...), NULL`,
 * for those that return a pointer). */
static inline int ak_failf(ak_error *err, ak_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int ak_failf(ak_error *err, ak_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ak_error_vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

/* Clears err at the start of a call, so a success leaves no stale message. */
static inline void ak_error_clear(ak_error *err) {
    if (err) {
        err->code = AK_OK;
        err->msg[0] = 0;
    }
}

#endif
