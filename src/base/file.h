/* file.h - reading a whole file into memory. Header-only (src/base). */
#ifndef AK_BASE_FILE_H
#define AK_BASE_FILE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"

/* The file's bytes, NUL-terminated, in a malloc'd buffer (caller frees), *len their count;
 * NULL with err = "PATH: why" when it cannot be opened or read, or is larger than
 * max_bytes (0: no limit). */
static inline char *ak_read_file_max(const char *path, size_t max_bytes, size_t *len, ak_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || (max_bytes && n > max_bytes)) break; /* end of file, an error, or too large */
        char *nb = realloc(buf, cap * 2);
        if (!nb) free(buf);
        buf = nb;
        cap *= 2;
    }
    const char *why = !buf ? "out of memory" : ferror(f) ? "read error" : max_bytes && n > max_bytes ? "larger than" : NULL;
    fclose(f);
    if (why) {
        free(buf);
        if (max_bytes && n > max_bytes) ak_failf(err, AK_ERR_INVALID_ARG, "%s: %s %zu bytes", path, why, max_bytes);
        else ak_failf(err, buf ? AK_ERR_IO : AK_ERR_NOMEM, "%s: %s", path, why);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static inline char *ak_read_file(const char *path, size_t *len, ak_error *err) {
    return ak_read_file_max(path, 0, len, err);
}

#endif
