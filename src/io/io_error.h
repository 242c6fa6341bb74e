/* io_error.h - error reporting shared by the ak_io sources and the CLI helpers in tools/. */
#ifndef AK_IO_ERROR_H
#define AK_IO_ERROR_H

#include "adaptivek.h"

/* Fills err (when not NULL) with code and a printf-style message; returns code. */
ak_status ak_io_fail(ak_error *err, ak_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
