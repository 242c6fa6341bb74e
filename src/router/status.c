/* status.c - status names and the error helper. */
#include <stdarg.h>
#include <stdio.h>

#include "router/router_internal.h"

const char *ak_status_str(ak_status s) {
    switch (s) {
    case AK_OK: return "ok";
    case AK_ERR_INVALID_ARG: return "invalid argument";
    case AK_ERR_NONFINITE: return "non-finite value";
    case AK_ERR_CONFIG: return "invalid configuration";
    case AK_ERR_JSON: return "invalid JSON";
    case AK_ERR_IO: return "I/O error";
    case AK_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}

ak_status ak_fail(ak_error *err, ak_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}
