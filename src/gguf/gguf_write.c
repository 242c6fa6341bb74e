/* gguf_write.c - the GGUF writer: key/values are encoded into byte blobs as they are set,
 * tensors are recorded by reference, and gguf_writer_write lays out a v3 file through a
 * temporary file that is renamed into place only once everything is written. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errfmt.h"
#include "gguf/gguf.h"

typedef struct {
    char *key;
    gguf_type type;
    uint8_t *value; /* encoded value as it appears in the file after the type field */
    size_t value_len;
} writer_kv;

typedef struct {
    char *name;
    int type;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data;
    uint64_t nbytes;
} writer_tensor;

struct gguf_writer {
    writer_kv *kvs;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    char error[256]; /* first error from a setter; reported by gguf_writer_write */
};

static void set_error(gguf_writer *w, const char *fmt, ...) {
    if (w->error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kvs[i].key);
        free(w->kvs[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) free(w->tensors[i].name);
    free(w->kvs);
    free(w->tensors);
    free(w);
}

static void put_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Stores (key, type, value) taking ownership of value; replaces an existing key. */
static void set_kv(gguf_writer *w, const char *key, gguf_type type, uint8_t *value, size_t len) {
    if (!value) {
        set_error(w, "out of memory setting key '%s'", key);
        return;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key)) continue;
        free(w->kvs[i].value);
        w->kvs[i].type = type;
        w->kvs[i].value = value;
        w->kvs[i].value_len = len;
        return;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        writer_kv *kvs = realloc(w->kvs, cap * sizeof *kvs);
        if (!kvs) {
            free(value);
            set_error(w, "out of memory setting key '%s'", key);
            return;
        }
        w->kvs = kvs;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(value);
        set_error(w, "out of memory setting key '%s'", key);
        return;
    }
    w->kvs[w->n_kv++] = (writer_kv){k, type, value, len};
}

void gguf_set_scalar(gguf_writer *w, const char *key, gguf_type type, const void *value) {
    size_t n = gguf_type_size(type);
    if (n == 0) {
        set_error(w, "key '%s': gguf_set_scalar needs a fixed-size type, not %s", key, gguf_type_name(type));
        return;
    }
    uint8_t *v = malloc(n);
    if (v) memcpy(v, value, n); /* host is little-endian, as is the file */
    set_kv(w, key, type, v, n);
}

void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v) { gguf_set_scalar(w, key, GGUF_TYPE_UINT32, &v); }
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v) { gguf_set_scalar(w, key, GGUF_TYPE_INT32, &v); }
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v) { gguf_set_scalar(w, key, GGUF_TYPE_UINT64, &v); }
void gguf_set_f32(gguf_writer *w, const char *key, float v) { gguf_set_scalar(w, key, GGUF_TYPE_FLOAT32, &v); }

void gguf_set_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    gguf_set_scalar(w, key, GGUF_TYPE_BOOL, &b);
}

void gguf_set_str(gguf_writer *w, const char *key, const char *s) {
    size_t len = strlen(s);
    uint8_t *v = malloc(8 + len);
    if (v) {
        put_le(v, len, 8);
        memcpy(v + 8, s, len);
    }
    set_kv(w, key, GGUF_TYPE_STRING, v, 8 + len);
}

void gguf_set_arr_data(gguf_writer *w, const char *key, gguf_type elem_type, const void *data, uint64_t n) {
    size_t esize = gguf_type_size(elem_type);
    if (esize == 0) {
        set_error(w, "key '%s': gguf_set_arr_data needs a fixed-size element type, not %s", key,
                  gguf_type_name(elem_type));
        return;
    }
    if (n > (SIZE_MAX - 12) / esize) {
        set_error(w, "key '%s': array of %llu elements is too large", key, (unsigned long long)n);
        return;
    }
    size_t len = 12 + (size_t)n * esize;
    uint8_t *v = malloc(len);
    if (v) {
        put_le(v, (uint64_t)elem_type, 4);
        put_le(v + 4, n, 8);
        if (n) memcpy(v + 12, data, (size_t)n * esize);
    }
    set_kv(w, key, GGUF_TYPE_ARRAY, v, len);
}

void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n) {
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++) len += 8 + strlen(strs[i]);
    uint8_t *v = malloc(len);
    if (v) {
        put_le(v, GGUF_TYPE_STRING, 4);
        put_le(v + 4, n, 8);
        size_t pos = 12;
        for (uint64_t i = 0; i < n; i++) {
            size_t sl = strlen(strs[i]);
            put_le(v + pos, sl, 8);
            memcpy(v + pos + 8, strs[i], sl);
            pos += 8 + sl;
        }
    }
    set_kv(w, key, GGUF_TYPE_ARRAY, v, len);
}

int gguf_add_tensor(gguf_writer *w, const char *name, int type, uint32_t n_dims, const int64_t *ne,
                    const void *data, uint64_t nbytes) {
    ak_error err = {0};
    uint64_t expect;
    if (strlen(name) >= GGUF_MAX_TENSOR_NAME) { /* llama.cpp cannot load longer names */
        set_error(w, "tensor name '%s' is longer than %d bytes", name, GGUF_MAX_TENSOR_NAME - 1);
        return -1;
    }
    if (gguf_tensor_nbytes(type, n_dims, ne, &expect, &err)) {
        set_error(w, "tensor '%s': %s", name, err.msg);
        return -1;
    }
    if (expect != nbytes) {
        set_error(w, "tensor '%s': %llu bytes given, its type and shape need %llu", name,
                  (unsigned long long)nbytes, (unsigned long long)expect);
        return -1;
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (!strcmp(w->tensors[i].name, name)) {
            set_error(w, "duplicate tensor name '%s'", name);
            return -1;
        }
    }
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        writer_tensor *t = realloc(w->tensors, cap * sizeof *t);
        if (!t) {
            set_error(w, "out of memory adding tensor '%s'", name);
            return -1;
        }
        w->tensors = t;
        w->cap_tensors = cap;
    }
    writer_tensor *t = &w->tensors[w->n_tensors];
    t->name = strdup(name);
    if (!t->name) {
        set_error(w, "out of memory adding tensor '%s'", name);
        return -1;
    }
    t->type = type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < (int)n_dims ? ne[d] : 1;
    t->data = data;
    t->nbytes = nbytes;
    w->n_tensors++;
    return 0;
}

/* ------------------------------------------------------------------ output */

typedef struct {
    FILE *fp;
    uint64_t written;
    int failed;
} out_stream;

static void out_bytes(out_stream *o, const void *p, size_t n) {
    if (o->failed || n == 0) return;
    if (fwrite(p, 1, n, o->fp) != n) o->failed = 1;
    o->written += n;
}

static void out_u32(out_stream *o, uint32_t v) {
    uint8_t b[4];
    put_le(b, v, 4);
    out_bytes(o, b, 4);
}

static void out_u64(out_stream *o, uint64_t v) {
    uint8_t b[8];
    put_le(b, v, 8);
    out_bytes(o, b, 8);
}

static void out_str(out_stream *o, const char *s) {
    size_t n = strlen(s);
    out_u64(o, n);
    out_bytes(o, s, n);
}

static void out_pad(out_stream *o, uint64_t alignment) {
    static const uint8_t zeros[256];
    while (o->written % alignment) {
        uint64_t n = alignment - o->written % alignment;
        out_bytes(o, zeros, n < sizeof zeros ? (size_t)n : sizeof zeros);
        if (o->failed) return;
    }
}

static uint32_t writer_alignment(const gguf_writer *w, ak_error *err) {
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, "general.alignment")) continue;
        uint32_t a = 0;
        if (w->kvs[i].type == GGUF_TYPE_UINT32) memcpy(&a, w->kvs[i].value, 4);
        if (w->kvs[i].type != GGUF_TYPE_UINT32 || a == 0 || (a & (a - 1))) {
            ak_failf(err, AK_ERR_FORMAT, "general.alignment must be a u32 power of two");
            return 0;
        }
        return a;
    }
    return GGUF_DEFAULT_ALIGNMENT;
}

static uint64_t round_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

int gguf_writer_write(const gguf_writer *w, const char *path, ak_error *err) {
    ak_error why;
    if (w->error[0]) {
        ak_failf(err, AK_ERR_FORMAT, "%s: %s", path, w->error);
        return -1;
    }
    uint32_t alignment = writer_alignment(w, &why);
    if (!alignment) {
        ak_failf(err, why.code, "%s: %s", path, why.msg);
        return -1;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        ak_failf(err, AK_ERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ak_failf(err, AK_ERR_IO, "%s: cannot create temporary file: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) { /* mkstemp made it 0600 */
        ak_failf(err, AK_ERR_IO, "%s: cannot set permissions: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    out_stream o = {fdopen(fd, "wb"), 0, 0};
    if (!o.fp) {
        close(fd);
        o.failed = 1;
    } else {
        out_bytes(&o, GGUF_MAGIC, 4);
        out_u32(&o, 3);
        out_u64(&o, w->n_tensors);
        out_u64(&o, w->n_kv);
        for (size_t i = 0; i < w->n_kv; i++) {
            out_str(&o, w->kvs[i].key);
            out_u32(&o, (uint32_t)w->kvs[i].type);
            out_bytes(&o, w->kvs[i].value, w->kvs[i].value_len);
        }
        uint64_t offset = 0;
        for (size_t i = 0; i < w->n_tensors; i++) {
            const writer_tensor *t = &w->tensors[i];
            out_str(&o, t->name);
            out_u32(&o, t->n_dims);
            for (uint32_t d = 0; d < t->n_dims; d++) out_u64(&o, (uint64_t)t->ne[d]);
            out_u32(&o, (uint32_t)t->type);
            out_u64(&o, offset);
            offset += round_up(t->nbytes, alignment);
        }
        out_pad(&o, alignment);
        for (size_t i = 0; i < w->n_tensors; i++) {
            out_bytes(&o, w->tensors[i].data, (size_t)w->tensors[i].nbytes);
            out_pad(&o, alignment);
        }
        if (fflush(o.fp) != 0 || fsync(fileno(o.fp)) != 0) o.failed = 1;
        if (fclose(o.fp) != 0) o.failed = 1;
    }
    int saved = errno;
    if (!o.failed && rename(tmp, path) != 0) {
        saved = errno;
        o.failed = 1;
    }
    if (o.failed) {
        ak_failf(err, AK_ERR_IO, "%s: write failed: %s", path, strerror(saved));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
