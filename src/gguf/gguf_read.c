/* gguf_read.c - the GGUF reader: validates the whole header against the file size before
 * anything is trusted, then answers lookups through hash indexes over keys and tensors.
 *
 * Every count read from the file is compared with the bytes left before it sizes an
 * allocation: each key/value needs at least KV_MIN_BYTES and each tensor info at least
 * TENSOR_MIN_BYTES, so a file claiming 2^60 of them fails before any malloc. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errfmt.h"
#include "gguf/gguf.h"

#define KV_MIN_BYTES 13     /* key length (8) + value type (4) + a one-byte value */
#define TENSOR_MIN_BYTES 32 /* name length (8) + n_dims (4) + ne[0] (8) + type (4) + offset (8) */

typedef struct {
    gguf_str key;
    gguf_type type;
    gguf_type elem_type;     /* arrays only */
    uint64_t n;              /* arrays: element count */
    const uint8_t *data;     /* scalar bytes, string bytes, or first array element */
    gguf_str str;            /* string value */
    const uint8_t **strs;    /* string arrays: start (length prefix) of each element */
} gguf_kv;

typedef struct {
    int64_t *slots; /* index into kvs/tensors, -1 when empty; capacity is a power of two */
    uint64_t mask;
} name_index;

struct gguf_file {
    const uint8_t *base;
    uint64_t size;
    int mapped;
    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kvs;
    gguf_tensor *tensors;
    name_index kv_index, tensor_index;
};

typedef struct {
    const uint8_t *base;
    uint64_t size, pos;
    const char *name; /* file name for messages */
    ak_error *err;    /* may be NULL */
} cursor;

/* Every parse error is a malformed file: "NAME: what". */
static int fail(cursor *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cursor *c, const char *fmt, ...) {
    if (!c->err) return -1;
    char why[sizeof c->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return ak_failf(c->err, AK_ERR_FORMAT, "%s: %s", c->name, why);
}

static uint64_t remaining(const cursor *c) { return c->size - c->pos; }

static int take(cursor *c, uint64_t n, const uint8_t **out, const char *what) {
    *out = c->base + c->pos;
    if (n > remaining(c))
        return fail(c, "%s at offset %llu needs %llu bytes but only %llu remain (file size %llu)",
                    what, (unsigned long long)c->pos, (unsigned long long)n,
                    (unsigned long long)remaining(c), (unsigned long long)c->size);
    c->pos += n;
    return 0;
}

static int read_u32(cursor *c, uint32_t *v, const char *what) {
    const uint8_t *p;
    if (take(c, 4, &p, what)) return -1;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

static int read_u64(cursor *c, uint64_t *v, const char *what) {
    const uint8_t *p;
    if (take(c, 8, &p, what)) return -1;
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--) x = x << 8 | p[i];
    *v = x;
    return 0;
}

static int read_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    const uint8_t *p;
    if (read_u64(c, &len, what)) return -1;
    if (len > remaining(c))
        return fail(c, "%s at offset %llu has length %llu, past the end of the file (size %llu)", what,
                    (unsigned long long)(c->pos - 8), (unsigned long long)len,
                    (unsigned long long)c->size);
    take(c, len, &p, what);
    s->ptr = (const char *)p;
    s->len = len;
    return 0;
}

/* Prints a name for messages: at most 64 bytes, control bytes as '?'. */
static const char *show(gguf_str s, char buf[80]) {
    size_t n = s.len < 64 ? (size_t)s.len : 64, j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        buf[j++] = ch < 32 || ch == 127 ? '?' : (char)ch;
    }
    if (s.len > 64) {
        memcpy(buf + j, "...", 3);
        j += 3;
    }
    buf[j] = 0;
    return buf;
}

/* ------------------------------------------------------------------ name index */

static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static int index_init(name_index *ix, int64_t n) {
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    ix->slots = malloc(cap * sizeof *ix->slots);
    if (!ix->slots) return -1;
    memset(ix->slots, 0xff, cap * sizeof *ix->slots);
    ix->mask = cap - 1;
    return 0;
}

/* Finds name; the names are those of the entries (name_of(i)). Returns the slot holding it,
 * or the empty slot where it would go (*found = 0). */
typedef gguf_str (*name_of_fn)(const gguf_file *f, int64_t i);
static uint64_t index_slot(const gguf_file *f, const name_index *ix, name_of_fn name_of,
                           const char *p, uint64_t n, int *found) {
    uint64_t s = hash_bytes(p, n) & ix->mask;
    for (;; s = (s + 1) & ix->mask) {
        int64_t i = ix->slots[s];
        if (i < 0) break;
        gguf_str e = name_of(f, i);
        if (e.len == n && memcmp(e.ptr, p, n) == 0) {
            *found = 1;
            return s;
        }
    }
    *found = 0;
    return s;
}

static gguf_str kv_name(const gguf_file *f, int64_t i) { return f->kvs[i].key; }
static gguf_str tensor_name(const gguf_file *f, int64_t i) { return f->tensors[i].name; }

/* ------------------------------------------------------------------ parsing */

/* Arrays grow as entries are actually parsed, so a corrupt count costs nothing up front.
 * The new part is zeroed. Returns the (possibly moved) array, NULL when out of memory (p is
 * then still valid). */
static void *grow(void *p, uint64_t *cap, uint64_t need, size_t elem) {
    if (need <= *cap) return p;
    uint64_t n = *cap ? *cap * 2 : 64;
    if (n < need) n = need;
    if (n > SIZE_MAX / elem) return NULL;
    uint8_t *q = realloc(p, (size_t)(n * elem));
    if (!q) return NULL;
    memset(q + *cap * elem, 0, (size_t)((n - *cap) * elem));
    *cap = n;
    return q;
}

static int parse_array(cursor *c, gguf_kv *kv, const char *key) {
    uint32_t et;
    if (read_u32(c, &et, "array element type")) return -1;
    if (et >= GGUF_TYPE_COUNT) return fail(c, "key '%s': unknown array element type %u", key, et);
    if (et == GGUF_TYPE_ARRAY) return fail(c, "key '%s': arrays of arrays are not supported", key);
    kv->elem_type = (gguf_type)et;
    if (read_u64(c, &kv->n, "array length")) return -1;
    kv->data = c->base + c->pos;
    if (et != GGUF_TYPE_STRING) {
        uint64_t esize = gguf_type_size(kv->elem_type);
        if (kv->n > remaining(c) / esize)
            return fail(c, "key '%s': array of %llu %s elements extends past the end of the file (size %llu)",
                        key, (unsigned long long)kv->n, gguf_type_name(kv->elem_type),
                        (unsigned long long)c->size);
        c->pos += kv->n * esize;
        return 0;
    }
    if (kv->n > remaining(c) / 8)
        return fail(c, "key '%s': array of %llu strings extends past the end of the file (size %llu)", key,
                    (unsigned long long)kv->n, (unsigned long long)c->size);
    uint64_t cap = 0;
    for (uint64_t j = 0; j < kv->n; j++) {
        gguf_str s;
        const uint8_t **strs = grow(kv->strs, &cap, j + 1, sizeof *kv->strs);
        if (!strs) return fail(c, "key '%s': out of memory for %llu strings", key, (unsigned long long)kv->n);
        kv->strs = strs;
        kv->strs[j] = c->base + c->pos;
        if (read_str(c, &s, "array string")) return -1;
    }
    return 0;
}

static int parse_kvs(cursor *c, gguf_file *f, int64_t claimed) {
    uint64_t cap = 0;
    for (int64_t i = 0; i < claimed; i++) {
        gguf_kv *kvs = grow(f->kvs, &cap, (uint64_t)i + 1, sizeof *f->kvs);
        if (!kvs) return fail(c, "out of memory");
        f->kvs = kvs;
        f->n_kv = i + 1; /* so gguf_close frees this entry if it fails half-way */
        gguf_kv *kv = &f->kvs[i];
        char nb[80];
        uint32_t type;
        if (read_str(c, &kv->key, "key name")) return -1;
        const char *key = show(kv->key, nb);
        if (read_u32(c, &type, "value type")) return -1;
        if (type >= GGUF_TYPE_COUNT) return fail(c, "key '%s': unknown value type %u", key, type);
        kv->type = (gguf_type)type;
        if (type == GGUF_TYPE_STRING) {
            if (read_str(c, &kv->str, "string value")) return -1;
        } else if (type == GGUF_TYPE_ARRAY) {
            if (parse_array(c, kv, key)) return -1;
        } else if (take(c, gguf_type_size(kv->type), &kv->data, "value")) {
            return -1;
        }
    }
    if (index_init(&f->kv_index, f->n_kv)) return fail(c, "out of memory");
    for (int64_t i = 0; i < f->n_kv; i++) {
        char nb[80];
        int found;
        gguf_str key = f->kvs[i].key;
        uint64_t s = index_slot(f, &f->kv_index, kv_name, key.ptr, key.len, &found);
        if (found)
            return fail(c, "duplicate key '%s' (entries %lld and %lld)", show(key, nb),
                        (long long)f->kv_index.slots[s], (long long)i);
        f->kv_index.slots[s] = i;
    }
    int64_t ia = gguf_find_key(f, "general.alignment");
    if (ia >= 0) {
        if (f->kvs[ia].type != GGUF_TYPE_UINT32)
            return fail(c, "general.alignment has type %s, expected u32", gguf_type_name(f->kvs[ia].type));
        const uint8_t *d = f->kvs[ia].data;
        uint32_t a = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
        if (a == 0 || (a & (a - 1)) != 0)
            return fail(c, "general.alignment %u is not a nonzero power of two", a);
        f->alignment = a;
    }
    return 0;
}

static int parse_tensor_infos(cursor *c, gguf_file *f, int64_t claimed) {
    uint64_t cap = 0;
    for (int64_t i = 0; i < claimed; i++) {
        gguf_tensor *ts = grow(f->tensors, &cap, (uint64_t)i + 1, sizeof *f->tensors);
        if (!ts) return fail(c, "out of memory");
        f->tensors = ts;
        f->n_tensors = i + 1;
        gguf_tensor *t = &f->tensors[i];
        char nb[80];
        ak_error err;
        uint32_t type;
        uint64_t v;
        if (read_str(c, &t->name, "tensor name")) return -1;
        const char *name = show(t->name, nb);
        if (read_u32(c, &t->n_dims, "tensor n_dims")) return -1;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
            return fail(c, "tensor '%s': n_dims %u is not in 1..%d", name, t->n_dims, GGUF_MAX_DIMS);
        for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            if (read_u64(c, &v, "tensor dimension")) return -1;
            t->ne[d] = (int64_t)v;
        }
        if (read_u32(c, &type, "tensor type")) return -1;
        t->type = (int)type;
        if (type > INT32_MAX || !gguf_ggml_type_info(t->type, NULL, NULL, NULL))
            return fail(c, "tensor '%s': unknown ggml type %u", name, type);
        if (read_u64(c, &t->offset, "tensor offset")) return -1;
        if (gguf_tensor_nbytes(t->type, t->n_dims, t->ne, &t->nbytes, &err))
            return fail(c, "tensor '%s': %s", name, err.msg);
    }
    if (index_init(&f->tensor_index, f->n_tensors)) return fail(c, "out of memory");
    for (int64_t i = 0; i < f->n_tensors; i++) {
        char nb[80];
        int found;
        gguf_str name = f->tensors[i].name;
        uint64_t s = index_slot(f, &f->tensor_index, tensor_name, name.ptr, name.len, &found);
        if (found)
            return fail(c, "duplicate tensor name '%s' (tensors %lld and %lld)", show(name, nb),
                        (long long)f->tensor_index.slots[s], (long long)i);
        f->tensor_index.slots[s] = i;
    }
    return 0;
}

typedef struct {
    uint64_t offset, end;
    int64_t index;
} extent;

static int by_offset(const void *a, const void *b) {
    const extent *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Overlapping tensor data means a corrupt shape or offset. Gaps and any order are allowed
 * (llama.cpp demands tensors packed in order; we only demand that they be disjoint). */
static int check_overlap(cursor *c, const gguf_file *f) {
    if (f->n_tensors < 2) return 0;
    extent *e = malloc((size_t)f->n_tensors * sizeof *e);
    if (!e) return fail(c, "out of memory");
    int64_t n = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) /* empty tensors occupy nothing */
        if (f->tensors[i].nbytes)
            e[n++] = (extent){f->tensors[i].offset, f->tensors[i].offset + f->tensors[i].nbytes, i};
    qsort(e, (size_t)n, sizeof *e, by_offset);
    int64_t reach = 0; /* the extent reaching furthest so far */
    for (int64_t i = 1; i < n; i++) {
        if (e[i].offset >= e[reach].end) {
            if (e[i].end > e[reach].end) reach = i;
            continue;
        }
        char na[80], nb[80];
        const gguf_tensor *a = &f->tensors[e[reach].index], *b = &f->tensors[e[i].index];
        fail(c, "tensor '%s' data [offset %llu, %llu bytes] overlaps tensor '%s' [offset %llu, %llu bytes]",
             show(b->name, nb), (unsigned long long)(f->data_offset + b->offset), (unsigned long long)b->nbytes,
             show(a->name, na), (unsigned long long)(f->data_offset + a->offset), (unsigned long long)a->nbytes);
        free(e);
        return -1;
    }
    free(e);
    return 0;
}

static int place_tensors(cursor *c, gguf_file *f) {
    uint64_t a = f->alignment;
    f->data_offset = (c->pos + a - 1) / a * a;
    if (f->n_tensors == 0) return 0;
    if (f->data_offset > c->size)
        return fail(c, "data section (aligned to %llu bytes) starts at %llu, past the end of the file (size %llu)",
                    (unsigned long long)a, (unsigned long long)f->data_offset, (unsigned long long)c->size);
    uint64_t data_size = c->size - f->data_offset;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char nb[80];
        if (t->offset % a != 0)
            return fail(c, "tensor '%s' data offset %llu is not a multiple of the alignment %llu",
                        show(t->name, nb), (unsigned long long)t->offset, (unsigned long long)a);
        if (t->offset > data_size || t->nbytes > data_size - t->offset)
            return fail(c, "tensor '%s' data [offset %llu, %llu bytes] extends past end of file (size %llu)",
                        show(t->name, nb), (unsigned long long)(f->data_offset + t->offset),
                        (unsigned long long)t->nbytes, (unsigned long long)c->size);
        t->data = c->base + f->data_offset + t->offset;
    }
    return check_overlap(c, f);
}

static int parse(cursor *c, gguf_file *f) {
    const uint8_t *magic;
    uint64_t n;
    if (c->size < 4 || memcmp(c->base, GGUF_MAGIC, 4) != 0) {
        if (c->size >= 4 && memcmp(c->base, "FUGG", 4) == 0)
            return fail(c, "big-endian GGUF files are not supported");
        return fail(c, "not a GGUF file (bad magic)");
    }
    take(c, 4, &magic, "magic");
    if (read_u32(c, &f->version, "version")) return -1;
    if (f->version == 1) return fail(c, "unsupported GGUF version 1 (only 2 and 3 are read)");
    if ((f->version & 0xffff) == 0 && f->version != 0)
        return fail(c, "GGUF version field 0x%08x looks byte-swapped (big-endian file): not supported",
                    f->version);
    if (f->version != 2 && f->version != 3)
        return fail(c, "unsupported GGUF version %u (only 2 and 3 are read)", f->version);
    if (read_u64(c, &n, "tensor count")) return -1;
    if (n > remaining(c) / TENSOR_MIN_BYTES)
        return fail(c, "tensor count %llu is impossible for a file of %llu bytes", (unsigned long long)n,
                    (unsigned long long)c->size);
    int64_t n_tensors = (int64_t)n;
    if (read_u64(c, &n, "key/value count")) return -1;
    if (n > remaining(c) / KV_MIN_BYTES)
        return fail(c, "key/value count %llu is impossible for a file of %llu bytes", (unsigned long long)n,
                    (unsigned long long)c->size);
    int64_t n_kv = (int64_t)n;
    if (parse_kvs(c, f, n_kv) || parse_tensor_infos(c, f, n_tensors) || place_tensors(c, f)) return -1;
    return 0;
}

static gguf_file *open_mem(const uint8_t *base, uint64_t size, int mapped, const char *name, ak_error *err) {
    gguf_file *f = calloc(1, sizeof *f);
    cursor c = {base, size, 0, name, err};
    if (!f) {
        ak_failf(err, AK_ERR_NOMEM, "%s: out of memory", name);
        if (mapped) munmap((void *)base, size);
        return NULL;
    }
    f->base = base;
    f->size = size;
    f->mapped = mapped;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (parse(&c, f)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

gguf_file *gguf_open_buffer(const void *buf, size_t len, ak_error *err) {
    return open_mem(buf, len, 0, "<buffer>", err);
}

gguf_file *gguf_open(const char *path, ak_error *err) {
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ak_failf(err, AK_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ak_failf(err, AK_ERR_FORMAT, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0) {
        ak_failf(err, AK_ERR_FORMAT, "%s: empty file, not a GGUF file", path);
        close(fd);
        return NULL;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int saved = errno;
    close(fd);
    if (p == MAP_FAILED) {
        ak_failf(err, AK_ERR_IO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(saved));
        return NULL;
    }
    return open_mem(p, (uint64_t)st.st_size, 1, path, err);
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_kv; i++) free(f->kvs[i].strs);
    free(f->kvs);
    free(f->tensors);
    free(f->kv_index.slots);
    free(f->tensor_index.slots);
    if (f->mapped) munmap((void *)f->base, f->size);
    free(f);
}

/* ------------------------------------------------------------------ queries */

uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
const void *gguf_base(const gguf_file *f) { return f->base; }
uint64_t gguf_size(const gguf_file *f) { return f->size; }
uint64_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    int found;
    uint64_t s = index_slot(f, &f->kv_index, kv_name, key, strlen(key), &found);
    return found ? f->kv_index.slots[s] : -1;
}

int gguf_is_mapped(const gguf_file *f) { return f->mapped; }

gguf_str gguf_key_name(const gguf_file *f, int64_t i) {
    gguf_str none = {"", 0};
    return i >= 0 && i < f->n_kv ? f->kvs[i].key : none;
}

gguf_type gguf_kv_type(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_kv ? f->kvs[i].type : GGUF_TYPE_COUNT;
}

int gguf_kv_arr_info(const gguf_file *f, int64_t i, gguf_type *elem_type, uint64_t *n) {
    if (i < 0 || i >= f->n_kv || f->kvs[i].type != GGUF_TYPE_ARRAY) return 0;
    if (elem_type) *elem_type = f->kvs[i].elem_type;
    if (n) *n = f->kvs[i].n;
    return 1;
}

const void *gguf_kv_data(const gguf_file *f, int64_t i) {
    if (i < 0 || i >= f->n_kv) return NULL;
    const gguf_kv *kv = &f->kvs[i];
    if (kv->type == GGUF_TYPE_STRING) return NULL;
    if (kv->type == GGUF_TYPE_ARRAY && kv->elem_type == GGUF_TYPE_STRING) return NULL;
    return kv->data;
}

int gguf_kv_str(const gguf_file *f, int64_t i, uint64_t j, gguf_str *out) {
    if (i < 0 || i >= f->n_kv) return 0;
    const gguf_kv *kv = &f->kvs[i];
    if (kv->type == GGUF_TYPE_STRING) {
        *out = kv->str;
        return 1;
    }
    if (kv->type != GGUF_TYPE_ARRAY || kv->elem_type != GGUF_TYPE_STRING || j >= kv->n) return 0;
    const uint8_t *p = kv->strs[j];
    uint64_t len = 0;
    for (int b = 7; b >= 0; b--) len = len << 8 | p[b];
    out->ptr = (const char *)p + 8;
    out->len = len;
    return 1;
}

/* Reads any integer kv as signed/unsigned 64-bit; returns 0 if not an integer type. */
static int kv_integer(const gguf_kv *kv, int *is_unsigned, uint64_t *u, int64_t *s) {
    const uint8_t *d = kv->data;
    uint64_t raw = 0;
    size_t n = gguf_type_size(kv->type);
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_UINT16: case GGUF_TYPE_UINT32: case GGUF_TYPE_UINT64:
        *is_unsigned = 1;
        break;
    case GGUF_TYPE_INT8: case GGUF_TYPE_INT16: case GGUF_TYPE_INT32: case GGUF_TYPE_INT64:
        *is_unsigned = 0;
        break;
    default:
        return 0;
    }
    for (size_t b = n; b-- > 0;) raw = raw << 8 | d[b];
    *u = raw;
    if (!*is_unsigned) {
        /* sign-extend from n bytes */
        unsigned shift = (unsigned)(64 - 8 * n);
        *s = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
    }
    return 1;
}

static const gguf_kv *lookup(const gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    return i >= 0 ? &f->kvs[i] : NULL;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_kv *kv = lookup(f, key);
    int uns;
    uint64_t u;
    int64_t s;
    if (!kv || !kv_integer(kv, &uns, &u, &s)) return 0;
    if (uns) {
        if (u > (uint64_t)INT64_MAX) return 0;
        s = (int64_t)u;
    }
    *out = s;
    return 1;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    const gguf_kv *kv = lookup(f, key);
    int uns;
    uint64_t u;
    int64_t s;
    if (!kv || !kv_integer(kv, &uns, &u, &s)) return 0;
    if (!uns) {
        if (s < 0) return 0;
        u = (uint64_t)s;
    }
    if (u > UINT32_MAX) return 0;
    *out = (uint32_t)u;
    return 1;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_kv *kv = lookup(f, key);
    if (!kv) return 0;
    if (kv->type == GGUF_TYPE_FLOAT32) {
        memcpy(out, kv->data, 4);
        return 1;
    }
    if (kv->type == GGUF_TYPE_FLOAT64) {
        double d;
        memcpy(&d, kv->data, 8);
        *out = (float)d;
        return 1;
    }
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out) {
    const gguf_kv *kv = lookup(f, key);
    if (!kv || kv->type != GGUF_TYPE_BOOL) return 0;
    *out = kv->data[0] != 0;
    return 1;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out) {
    const gguf_kv *kv = lookup(f, key);
    if (!kv || kv->type != GGUF_TYPE_STRING) return 0;
    *out = kv->str;
    return 1;
}

int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_type *elem_type, uint64_t *n) {
    return gguf_kv_arr_info(f, gguf_find_key(f, key), elem_type, n);
}

const void *gguf_get_arr_data(const gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    if (i < 0 || f->kvs[i].type != GGUF_TYPE_ARRAY) return NULL;
    return gguf_kv_data(f, i);
}

int gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out) {
    int64_t k = gguf_find_key(f, key);
    if (k < 0 || f->kvs[k].type != GGUF_TYPE_ARRAY) return 0;
    return gguf_kv_str(f, k, i, out);
}

const gguf_tensor *gguf_get_tensor(const gguf_file *f, int64_t i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    int found;
    uint64_t s = index_slot(f, &f->tensor_index, tensor_name, name, strlen(name), &found);
    return found ? &f->tensors[f->tensor_index.slots[s]] : NULL;
}
