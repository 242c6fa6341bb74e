/*
 * gguf.h - GGUF v2/v3 reader (mmap, every offset, size, count and string checked against
 * the file) and writer.
 *
 * The reader maps the file read-only and never copies tensor data: gguf_tensor.data points
 * into the mapping. Strings in the metadata are not NUL-terminated in the file; the reader
 * hands them out as (pointer, length) views into the mapping.
 */
#ifndef AK_GGUF_H
#define AK_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "adaptivek.h" /* ak_error */

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DIMS 4
#define GGUF_MAX_TENSOR_NAME 64 /* llama.cpp's limit incl. NUL: the writer rejects longer names */

typedef enum {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
    GGUF_TYPE_COUNT
} gguf_type;

typedef struct {
    const char *ptr; /* not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the row length (fastest-varying), unused dims 1 */
    int type;                  /* ggml type id (see quant.h ak_type) */
    uint64_t offset;           /* relative to the start of the data section */
    uint64_t nbytes;
    const void *data;          /* into the mapping */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Opens and validates a file: magic, version 2 or 3, counts, every key/value, tensor
 * dims and types, offsets and sizes within the file, alignment. On failure returns NULL
 * and writes a message naming the file and what is wrong into err. */
gguf_file *gguf_open(const char *path, ak_error *err);
/* The same over a caller-owned buffer (used by fuzz tests); buf must outlive the file. */
gguf_file *gguf_open_buffer(const void *buf, size_t len, ak_error *err);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
uint32_t gguf_alignment(const gguf_file *f);
const void *gguf_base(const gguf_file *f); /* start of the mapping */
int gguf_is_mapped(const gguf_file *f);    /* 1: gguf_open mapped the file; 0: a caller's buffer */
uint64_t gguf_size(const gguf_file *f);

/* Metadata. Keys are looked up by exact name; -1 when absent. */
int64_t gguf_n_kv(const gguf_file *f);
int64_t gguf_find_key(const gguf_file *f, const char *key);
gguf_str gguf_key_name(const gguf_file *f, int64_t i);
gguf_type gguf_kv_type(const gguf_file *f, int64_t i);

/* Typed getters by key. They return 1 on success and 0 if the key is absent or of an
 * incompatible type. Integer getters accept any integer type whose value fits. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out); /* f32 or f64 */
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out);
/* Arrays: element type and count. Numeric arrays are exposed as a pointer into the
 * mapping (unaligned: read with memcpy); string arrays through gguf_get_arr_str. */
int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_type *elem_type, uint64_t *n);
const void *gguf_get_arr_data(const gguf_file *f, const char *key);
int gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, gguf_str *out);

/* Tensors. */
int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor *gguf_get_tensor(const gguf_file *f, int64_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name); /* NULL if absent */

/* Convenience: compare a gguf_str with a C string. */
int gguf_str_eq(gguf_str s, const char *c);

/* Access by key index (0..gguf_n_kv-1), for tools that list everything. Arrays of arrays
 * are rejected by the reader, so an array's element type is never GGUF_TYPE_ARRAY.
 * gguf_kv_data: a scalar's value bytes, or a numeric array's elements (unaligned: read with
 * memcpy); NULL for strings and string arrays. gguf_kv_str: the string value (j ignored) or
 * element j of a string array; 0 if out of range or not a string. */
int gguf_kv_arr_info(const gguf_file *f, int64_t i, gguf_type *elem_type, uint64_t *n);
const void *gguf_kv_data(const gguf_file *f, int64_t i);
int gguf_kv_str(const gguf_file *f, int64_t i, uint64_t j, gguf_str *out);
uint64_t gguf_data_offset(const gguf_file *f); /* start of the tensor data section */

/* Value types: "u32", "str", "arr", ...; bytes of one scalar (0 for string and array). */
const char *gguf_type_name(gguf_type t);
size_t gguf_type_size(gguf_type t);
/* ggml tensor types the reader knows (including ones we cannot compute with, so such
 * files still open): name, elements per block, bytes per block. Returns 0 if unknown. */
int gguf_ggml_type_info(int type, const char **name, int64_t *block_elems, size_t *block_bytes);
/* Bytes of a tensor of this type and shape into *nbytes; returns 0, or -1 with a message in
 * err when the type is unknown, n_dims is not 1..4, a dim is negative, ne[0] is not a
 * multiple of the block size, or the element or byte count overflows. */
int gguf_tensor_nbytes(int type, uint32_t n_dims, const int64_t *ne, uint64_t *nbytes, ak_error *err);

/* ---------------------------------------------------------------- writer */

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void); /* version 3, alignment 32 */
void gguf_writer_free(gguf_writer *w);
/* Setting an existing key replaces its value. */
void gguf_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_set_f32(gguf_writer *w, const char *key, float v);
void gguf_set_bool(gguf_writer *w, const char *key, int v);
void gguf_set_str(gguf_writer *w, const char *key, const char *v);
/* Any fixed-size type (u8..f64, bool): value points to one value of that type. */
void gguf_set_scalar(gguf_writer *w, const char *key, gguf_type type, const void *value);
void gguf_set_arr_data(gguf_writer *w, const char *key, gguf_type elem_type, const void *data,
                       uint64_t n);
void gguf_set_arr_str(gguf_writer *w, const char *key, const char *const *strs, uint64_t n);
/* Adds a tensor; data is copied only when the file is written (it must stay valid until
 * gguf_writer_write returns). nbytes must equal the size implied by type and ne. Returns 0,
 * or -1 for a bad type/shape/size, a duplicate name or a name of 64+ bytes (gguf_writer_write
 * then fails too). */
int gguf_add_tensor(gguf_writer *w, const char *name, int type, uint32_t n_dims,
                    const int64_t *ne, const void *data, uint64_t nbytes);
/* Writes the file through a temporary file in the same directory renamed into place, so
 * a failed write leaves no partial file. Alignment is general.alignment if set (u32, power
 * of two), else 32. An invalid earlier call (bad type, out of memory) is reported here.
 * Returns 0 on success, -1 with a message in err. */
int gguf_writer_write(const gguf_writer *w, const char *path, ak_error *err);

#endif
