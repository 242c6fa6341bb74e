/* npy.c - strict .npy reader and writer (format: numpy/lib/format.py documentation). */
#include "io/npy.h"
#include "quant/half.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errfmt.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ak_io reads little-endian data in place: a little-endian host is required"
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

const char *ak_dtype_name(ak_dtype t) {
    switch (t) {
    case AK_DTYPE_F32: return "float32";
    case AK_DTYPE_F16: return "float16";
    case AK_DTYPE_I32: return "int32";
    }
    return "?";
}

size_t ak_dtype_size(ak_dtype t) { return t == AK_DTYPE_F16 ? 2 : 4; }

/* one conversion for the whole project: quant/half.h (exact, NaN payloads kept) */
float ak_half_to_float(uint16_t h) { return half_to_f32(h); }

/* "(4, 512, 64)" in Python tuple syntax. */
static void format_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < len) snprintf(buf + n, len - n, ndim == 1 ? ",)" : ")");
}

/* ---------------------------------------------------------------- header parser */

typedef struct {
    const char *p, *end;
    ak_error *err;
} dict_cursor;

static void skip_space(dict_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static long header_pos(const dict_cursor *c, const char *start) { return (long)(c->p - start); }

/* A Python string literal without escapes, quoted with ' or ". */
static int parse_string(dict_cursor *c, char *out, size_t cap) {
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return -1;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return -1;
    c->p++;
    out[n] = 0;
    return 0;
}

static int match_word(dict_cursor *c, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n)) return 0;
    c->p += n;
    return 1;
}

static ak_status parse_shape(dict_cursor *c, const char *start, ak_npy_header *h) {
    if (c->p >= c->end || *c->p != '(')
        return ak_error_setf(c->err, AK_ERR_IO, "npy header: 'shape' must be a tuple (at byte %ld)",
                          header_pos(c, start));
    c->p++;
    h->ndim = 0;
    int last_comma = 0;
    for (;;) {
        skip_space(c);
        if (c->p < c->end && *c->p == ')') break;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return ak_error_setf(c->err, AK_ERR_IO,
                              "npy header: shape entries must be non-negative integers (at byte %ld)",
                              header_pos(c, start));
        if (h->ndim == AK_NPY_MAX_DIMS)
            return ak_error_setf(c->err, AK_ERR_IO, "npy header: more than %d dimensions", AK_NPY_MAX_DIMS);
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return ak_error_setf(c->err, AK_ERR_IO, "npy header: shape entry too large");
            v = v * 10 + (*c->p++ - '0');
        }
        h->shape[h->ndim++] = v;
        last_comma = 0;
        skip_space(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            last_comma = 1;
            continue;
        }
        if (c->p < c->end && *c->p == ')') break;
        return ak_error_setf(c->err, AK_ERR_IO, "npy header: expected ',' or ')' in shape (at byte %ld)",
                          header_pos(c, start));
    }
    c->p++; /* ')' */
    if (h->ndim == 1 && !last_comma) /* "(5)" is not a tuple in Python; numpy never writes it */
        return ak_error_setf(c->err, AK_ERR_IO, "npy header: a 1-D shape must be written '(n,)'");
    return AK_OK;
}

static ak_status parse_descr(dict_cursor *c, const char *start, ak_npy_header *h) {
    char d[32];
    if (c->p < c->end && *c->p == '[')
        return ak_error_setf(c->err, AK_ERR_IO, "npy: structured dtypes are not supported");
    if (parse_string(c, d, sizeof d))
        return ak_error_setf(c->err, AK_ERR_IO, "npy header: 'descr' must be a string (at byte %ld)",
                          header_pos(c, start));
    if (!strcmp(d, "<f4")) h->dtype = AK_DTYPE_F32;
    else if (!strcmp(d, "<f2")) h->dtype = AK_DTYPE_F16;
    else if (!strcmp(d, "<i4")) h->dtype = AK_DTYPE_I32;
    else if (d[0] == '>')
        return ak_error_setf(c->err, AK_ERR_IO, "npy: big-endian dtype '%s' is not supported (save as '<%s')", d,
                          d + 1);
    else
        return ak_error_setf(c->err, AK_ERR_IO,
                          "npy: dtype '%s' is not supported (need float32 '<f4' or float16 '<f2')", d);
    return AK_OK;
}

ak_status ak_npy_parse_header(const void *buf, size_t len, ak_npy_header *h, ak_error *err) {
    const unsigned char *b = buf;
    memset(h, 0, sizeof *h);
    size_t magic_len = len < sizeof npy_magic ? len : sizeof npy_magic;
    if (len == 0 || memcmp(b, npy_magic, magic_len))
        return ak_error_setf(err, AK_ERR_IO, "not a .npy file (no \\x93NUMPY magic)");
    if (len < 10) return ak_error_setf(err, AK_ERR_IO, "npy: file truncated inside the header");
    h->major = b[6];
    h->minor = b[7];
    if (h->major < 1 || h->major > 3 || h->minor != 0)
        return ak_error_setf(err, AK_ERR_IO, "npy: unsupported format version %d.%d (need 1.0, 2.0 or 3.0)",
                          h->major, h->minor);
    size_t prefix = h->major == 1 ? 10 : 12;
    if (len < prefix) return ak_error_setf(err, AK_ERR_IO, "npy: file truncated inside the header");
    size_t hlen = h->major == 1 ? (size_t)b[8] | (size_t)b[9] << 8
                                : (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    if (hlen > len - prefix)
        return ak_error_setf(err, AK_ERR_IO, "npy: file truncated inside the header (header says %zu bytes, %zu present)",
                          hlen, len - prefix);
    h->data_offset = prefix + hlen;
    const char *start = (const char *)b + prefix;
    if (hlen == 0 || start[hlen - 1] != '\n')
        return ak_error_setf(err, AK_ERR_IO, "npy header: not terminated by a newline");
    for (size_t i = 0; i < hlen; i++)
        if (start[i] == 0 || (unsigned char)start[i] >= 0x80)
            return ak_error_setf(err, AK_ERR_IO, "npy header: unexpected byte 0x%02x at byte %zu",
                              (unsigned char)start[i], i);

    dict_cursor c = {start, start + hlen, err};
    skip_space(&c);
    if (c.p >= c.end || *c.p != '{') return ak_error_setf(err, AK_ERR_IO, "npy header: expected a '{' dict");
    c.p++;
    int have_descr = 0, have_order = 0, have_shape = 0;
    for (;;) {
        skip_space(&c);
        if (c.p < c.end && *c.p == '}') break;
        char key[32];
        if (parse_string(&c, key, sizeof key))
            return ak_error_setf(err, AK_ERR_IO, "npy header: expected a quoted key (at byte %ld)",
                              header_pos(&c, start));
        skip_space(&c);
        if (c.p >= c.end || *c.p != ':')
            return ak_error_setf(err, AK_ERR_IO, "npy header: expected ':' after '%s'", key);
        c.p++;
        skip_space(&c);
        ak_status s = AK_OK;
        int *seen;
        if (!strcmp(key, "descr")) {
            seen = &have_descr;
            s = parse_descr(&c, start, h);
        } else if (!strcmp(key, "fortran_order")) {
            seen = &have_order;
            if (match_word(&c, "True"))
                return ak_error_setf(err, AK_ERR_IO,
                                  "npy: Fortran-order arrays are not supported (save a C-order array)");
            if (!match_word(&c, "False"))
                return ak_error_setf(err, AK_ERR_IO, "npy header: 'fortran_order' must be True or False");
        } else if (!strcmp(key, "shape")) {
            seen = &have_shape;
            s = parse_shape(&c, start, h);
        } else {
            return ak_error_setf(err, AK_ERR_IO, "npy header: unexpected key '%s'", key);
        }
        if (s) return s;
        if (*seen) return ak_error_setf(err, AK_ERR_IO, "npy header: duplicate key '%s'", key);
        *seen = 1;
        skip_space(&c);
        if (c.p < c.end && *c.p == ',') {
            c.p++;
            continue;
        }
        if (c.p < c.end && *c.p == '}') break;
        return ak_error_setf(err, AK_ERR_IO, "npy header: expected ',' or '}' (at byte %ld)", header_pos(&c, start));
    }
    c.p++; /* '}' */
    skip_space(&c);
    if (c.p != c.end) return ak_error_setf(err, AK_ERR_IO, "npy header: trailing characters after the dict");
    if (!have_descr || !have_order || !have_shape)
        return ak_error_setf(err, AK_ERR_IO, "npy header: missing key '%s'",
                          !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");

    size_t count = 1, limit = SIZE_MAX / ak_dtype_size(h->dtype);
    for (int i = 0; i < h->ndim; i++) {
        uint64_t d = (uint64_t)h->shape[i];
        if (d != 0 && count > limit / d) {
            char sh[160];
            format_shape(sh, sizeof sh, h->ndim, h->shape);
            return ak_error_setf(err, AK_ERR_IO, "npy: shape %s is too large (size overflows)", sh);
        }
        count *= (size_t)d;
    }
    h->count = count;
    return AK_OK;
}

/* ---------------------------------------------------------------- loading */

typedef struct {
    void *map;
    size_t len;
} mapped_file;

static ak_status map_file(const char *path, mapped_file *m, ak_error *err) {
    m->map = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return ak_error_setf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return ak_error_setf(err, AK_ERR_IO, "%s: not a regular file", path);
    }
    m->len = (size_t)st.st_size;
    if (m->len == 0) {
        close(fd);
        return AK_OK;
    }
    m->map = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m->map == MAP_FAILED) {
        m->map = NULL;
        return ak_error_setf(err, AK_ERR_IO, "%s: cannot map the file: %s", path, strerror(errno));
    }
    return AK_OK;
}

static void unmap_file(mapped_file *m) {
    if (m->map) munmap(m->map, m->len);
    m->map = NULL;
}

/* Maps path and checks its header and data length. */
static ak_status open_npy(const char *path, mapped_file *m, ak_npy_header *h, ak_error *err) {
    ak_status s = map_file(path, m, err);
    if (s) return s;
    s = ak_npy_parse_header(m->map ? m->map : "", m->len, h, err);
    if (s) {
        unmap_file(m);
        if (!err) return s;
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        return ak_error_setf(err, s, "%s: %s", path, msg);
    }
    size_t need = h->count * ak_dtype_size(h->dtype), have = m->len - h->data_offset;
    if (need != have) {
        char sh[160];
        format_shape(sh, sizeof sh, h->ndim, h->shape);
        unmap_file(m);
        if (have < need)
            return ak_error_setf(err, AK_ERR_IO, "%s: data truncated: shape %s %s needs %zu bytes, file has %zu", path,
                              sh, ak_dtype_name(h->dtype), need, have);
        return ak_error_setf(err, AK_ERR_IO, "%s: %zu unexpected bytes after the %s %s data", path, have - need, sh,
                          ak_dtype_name(h->dtype));
    }
    return AK_OK;
}

ak_status ak_npy_load_f32(const char *path, ak_f32_array *a, ak_error *err) {
    memset(a, 0, sizeof *a);
    mapped_file m;
    ak_npy_header h;
    ak_status s = open_npy(path, &m, &h, err);
    if (s) return s;
    if (h.dtype == AK_DTYPE_I32) {
        unmap_file(&m);
        return ak_error_setf(err, AK_ERR_IO, "%s: holds int32 values, expected float32 or float16", path);
    }
    a->ndim = h.ndim;
    memcpy(a->shape, h.shape, sizeof h.shape);
    a->count = h.count;
    a->source_dtype = h.dtype;
    const unsigned char *src = (const unsigned char *)m.map + h.data_offset;
    if (h.dtype == AK_DTYPE_F32 && h.data_offset % sizeof(float) == 0) {
        a->data = (const float *)(const void *)src;
        a->map_ = m.map;
        a->map_len_ = m.len;
        return AK_OK;
    }
    a->owned_ = malloc(h.count ? h.count * sizeof(float) : 1);
    if (!a->owned_) {
        unmap_file(&m);
        return ak_error_setf(err, AK_ERR_NOMEM, "%s: out of memory for %zu values", path, h.count);
    }
    if (h.dtype == AK_DTYPE_F32) {
        memcpy(a->owned_, src, h.count * sizeof(float));
    } else {
        for (size_t i = 0; i < h.count; i++)
            a->owned_[i] = ak_half_to_float((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    }
    unmap_file(&m);
    a->data = a->owned_;
    return AK_OK;
}

ak_status ak_raw_load_f32(const char *path, int cols, ak_f32_array *a, ak_error *err) {
    memset(a, 0, sizeof *a);
    if (cols <= 0) return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: the column count must be positive", path);
    mapped_file m;
    ak_status s = map_file(path, &m, err);
    if (s) return s;
    size_t row = (size_t)cols * sizeof(float);
    if (m.len == 0 || m.len % row) {
        size_t len = m.len;
        unmap_file(&m);
        return ak_error_setf(err, AK_ERR_IO, "%s: size %zu bytes is not a positive multiple of 4 x %d experts = %zu",
                          path, len, cols, row);
    }
    a->ndim = 2;
    a->shape[0] = (int64_t)(m.len / row);
    a->shape[1] = cols;
    a->count = m.len / sizeof(float);
    a->source_dtype = AK_DTYPE_F32;
    a->data = m.map;
    a->map_ = m.map;
    a->map_len_ = m.len;
    return AK_OK;
}

void ak_f32_array_free(ak_f32_array *a) {
    if (!a) return;
    if (a->map_) munmap(a->map_, a->map_len_);
    free(a->owned_);
    memset(a, 0, sizeof *a);
}

ak_status ak_npy_load_i32(const char *path, ak_i32_array *a, ak_error *err) {
    memset(a, 0, sizeof *a);
    mapped_file m;
    ak_npy_header h;
    ak_status s = open_npy(path, &m, &h, err);
    if (s) return s;
    if (h.dtype != AK_DTYPE_I32) {
        unmap_file(&m);
        return ak_error_setf(err, AK_ERR_IO, "%s: holds %s values, expected int32", path, ak_dtype_name(h.dtype));
    }
    a->data = malloc(h.count ? h.count * sizeof(int32_t) : 1);
    if (!a->data) {
        unmap_file(&m);
        return ak_error_setf(err, AK_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(a->data, (const char *)m.map + h.data_offset, h.count * sizeof(int32_t));
    unmap_file(&m);
    a->ndim = h.ndim;
    memcpy(a->shape, h.shape, sizeof h.shape);
    a->count = h.count;
    return AK_OK;
}

void ak_i32_array_free(ak_i32_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---------------------------------------------------------------- writing */

ak_status ak_npy_writer_open(ak_npy_writer *w, const char *path, ak_dtype dtype, int ndim,
                             const int64_t *shape, ak_error *err) {
    memset(w, 0, sizeof *w);
    if (dtype == AK_DTYPE_F16 || ndim < 0 || ndim > AK_NPY_MAX_DIMS || (ndim && !shape))
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: can only write float32 or int32 arrays of <= %d dims",
                          path, AK_NPY_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && count > SIZE_MAX / 4 / (size_t)shape[i]))
            return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: invalid shape", path);
        count *= (size_t)shape[i];
    }
    char sh[200], dict[320];
    format_shape(sh, sizeof sh, ndim, shape);
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     dtype == AK_DTYPE_F32 ? "<f4" : "<i4", sh);
    /* pad with spaces and a final newline so the data starts on a 64-byte boundary */
    size_t total = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64, hlen = total - 10;
    unsigned char prefix[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                                (unsigned char)(hlen >> 8)};
    FILE *fp = fopen(path, "wb");
    if (!fp) return ak_error_setf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
    fwrite(prefix, 1, sizeof prefix, fp);
    fwrite(dict, 1, (size_t)n, fp);
    for (size_t i = (size_t)n; i + 1 < hlen; i++) fputc(' ', fp);
    fputc('\n', fp);
    w->fp_ = fp;
    w->dtype = dtype;
    w->count = count;
    snprintf(w->path, sizeof w->path, "%s", path);
    if (ferror(fp)) {
        ak_error ignored;
        ak_npy_writer_close(w, &ignored);
        return ak_error_setf(err, AK_ERR_IO, "%s: write failed", path);
    }
    return AK_OK;
}

ak_status ak_npy_write(ak_npy_writer *w, const void *values, size_t n, ak_error *err) {
    if (!w->fp_) return ak_error_setf(err, AK_ERR_INVALID_ARG, "npy writer is not open");
    if (n > w->count - w->written)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: more values written than the shape holds", w->path);
    if (n && fwrite(values, 4, n, w->fp_) != n)
        return ak_error_setf(err, AK_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    w->written += n;
    return AK_OK;
}

ak_status ak_npy_writer_close(ak_npy_writer *w, ak_error *err) {
    if (!w->fp_) return AK_OK;
    FILE *fp = w->fp_;
    w->fp_ = NULL;
    int bad = ferror(fp);
    if (fclose(fp)) bad = 1;
    if (bad || w->written != w->count) {
        remove(w->path);
        if (bad) return ak_error_setf(err, AK_ERR_IO, "%s: write failed", w->path);
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "%s: %zu of %zu values written", w->path, w->written, w->count);
    }
    return AK_OK;
}

void ak_npy_writer_abort(ak_npy_writer *w) {
    if (!w->fp_) return;
    fclose(w->fp_);
    w->fp_ = NULL;
    remove(w->path);
}

ak_status ak_npy_save(const char *path, ak_dtype dtype, int ndim, const int64_t *shape, const void *values,
                      ak_error *err) {
    ak_npy_writer w;
    ak_status s = ak_npy_writer_open(&w, path, dtype, ndim, shape, err);
    if (s) return s;
    s = ak_npy_write(&w, values, w.count, err);
    ak_error close_err;
    ak_status c = ak_npy_writer_close(&w, &close_err);
    if (!s && c && err) *err = close_err;
    return s ? s : c;
}
