/* npy.h - NumPy .npy arrays: strict reader (versions 1.0, 2.0, 3.0; little-endian
 * float32, float16 and int32; C order) and writer (float32, int32).
 *
 * Files are memory-mapped; a float32 array is used in place, float16 is converted.
 * Every function that can fail returns ak_status and fills err->msg (when err != NULL). */
#ifndef AK_IO_NPY_H
#define AK_IO_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "adaptivek.h"

#define AK_NPY_MAX_DIMS 8

typedef enum { AK_DTYPE_F32 = 0, AK_DTYPE_F16, AK_DTYPE_I32 } ak_dtype;

const char *ak_dtype_name(ak_dtype t); /* "float32", "float16", "int32" */
size_t ak_dtype_size(ak_dtype t);

typedef struct {
    int major, minor;    /* format version */
    ak_dtype dtype;
    int ndim;            /* 0 (a scalar) .. AK_NPY_MAX_DIMS */
    int64_t shape[AK_NPY_MAX_DIMS];
    size_t count;        /* product of shape (1 for a scalar) */
    size_t data_offset;  /* bytes from the start of the file to the data */
} ak_npy_header;

/* Parse the header at the start of buf (len bytes available). Checks the magic, version,
 * header length against len, the dict syntax, the three keys, dtype, fortran_order,
 * and that the shape product (in bytes) does not overflow size_t. */
ak_status ak_npy_parse_header(const void *buf, size_t len, ak_npy_header *h, ak_error *err);

/* An array of float32 values loaded from a file (in place or converted). */
typedef struct {
    int ndim;
    int64_t shape[AK_NPY_MAX_DIMS];
    size_t count;
    ak_dtype source_dtype; /* what the file held */
    const float *data;     /* count values, row-major */
    /* private */
    void *map_;
    size_t map_len_;
    float *owned_;
} ak_f32_array;

/* Load a float32 or float16 .npy file. */
ak_status ak_npy_load_f32(const char *path, ak_f32_array *a, ak_error *err);
/* Load raw little-endian float32 values as a 2-D [size / (4 * cols)][cols] array;
 * the file size must be a positive multiple of 4 * cols. */
ak_status ak_raw_load_f32(const char *path, int cols, ak_f32_array *a, ak_error *err);
void ak_f32_array_free(ak_f32_array *a);

/* An int32 .npy file (e.g. expert ids written by `adaptive-k route`). */
typedef struct {
    int ndim;
    int64_t shape[AK_NPY_MAX_DIMS];
    size_t count;
    int32_t *data; /* malloc'd */
} ak_i32_array;
ak_status ak_npy_load_i32(const char *path, ak_i32_array *a, ak_error *err);
void ak_i32_array_free(ak_i32_array *a);

/* Writer: opens the file and writes a version 1.0 header for dtype (F32 or I32) and shape;
 * the data is then appended in row-major order by any number of ak_npy_write calls and
 * ak_npy_close checks that exactly the header's count was written. */
typedef struct {
    void *fp_;
    ak_dtype dtype;
    size_t count;
    size_t written;
    char path[512];
} ak_npy_writer;

ak_status ak_npy_writer_open(ak_npy_writer *w, const char *path, ak_dtype dtype, int ndim,
                             const int64_t *shape, ak_error *err);
ak_status ak_npy_write(ak_npy_writer *w, const void *values, size_t n, ak_error *err);
/* Closes the file; on error (or if w was not fully written) the file is removed. */
ak_status ak_npy_writer_close(ak_npy_writer *w, ak_error *err);

/* Closes the file and removes it (after an error elsewhere). */
void ak_npy_writer_abort(ak_npy_writer *w);

/* One-shot save. */
ak_status ak_npy_save(const char *path, ak_dtype dtype, int ndim, const int64_t *shape,
                      const void *values, ak_error *err);

/* IEEE 754 binary16 -> binary32 (exact, including subnormals, Inf and NaN). */
float ak_half_to_float(uint16_t h);

#endif
