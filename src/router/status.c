/* status.c - status names. */
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
    case AK_ERR_FORMAT: return "malformed or unsupported file";
    }
    return "unknown status";
}
