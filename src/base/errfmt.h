/* errfmt.h - the printf-style error setters of the tree: into a caller's buffer
 * (char *err, size_t errlen) or into an ak_error. Header-only (src/base), so libadaptivek
 * uses them without a link dependency. */
#ifndef AK_BASE_ERRFMT_H
#define AK_BASE_ERRFMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "adaptivek.h"

/* Formats into err (when err and errlen are not 0); returns -1, what the callers return. */
static inline int ak_verrorf(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static inline int ak_verrorf(char *err, size_t errlen, const char *fmt, va_list ap) {
    if (err && errlen) vsnprintf(err, errlen, fmt, ap);
    return -1;
}

static inline int ak_errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static inline int ak_errorf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ak_verrorf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Fills err (when not NULL) with code and the message; returns code. */
static inline ak_status ak_error_setf(ak_error *err, ak_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline ak_status ak_error_setf(ak_error *err, ak_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        ak_verrorf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

#endif
