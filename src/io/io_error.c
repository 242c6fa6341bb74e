/* io_error.c - error reporting shared by the ak_io sources and the CLI helpers in tools/. */
#include "io/io_error.h"

#include <stdarg.h>
#include <stdio.h>

ak_status ak_io_fail(ak_error *err, ak_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
