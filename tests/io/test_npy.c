/* test_npy.c - the .npy reader/writer on hand-built files, and every malformed case. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/logits.h"
#include "io/npy.h"
#include "../check.h"


static char path[256];

static void write_bytes(const void *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        perror(path);
        exit(1);
    }
    if (n) fwrite(b, 1, n, fp);
    fclose(fp);
}

/* A .npy file: magic, version, header length (2 or 4 bytes), dict padded with spaces to
 * a multiple of 16 plus '\n' (as older numpy did), then `data`. Returns the size. */
static size_t build(unsigned char *out, int major, const char *dict, const void *data, size_t data_len) {
    size_t prefix = major == 1 ? 10 : 12, n = strlen(dict);
    size_t hlen = (prefix + n + 1 + 15) / 16 * 16 - prefix;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    if (major != 1) out[10] = out[11] = 0;
    memcpy(out + prefix, dict, n);
    memset(out + prefix + n, ' ', hlen - n - 1);
    out[prefix + hlen - 1] = '\n';
    memcpy(out + prefix + hlen, data, data_len);
    return prefix + hlen + data_len;
}

static ak_status load_bytes(const void *b, size_t n, ak_f32_array *a, ak_error *err) {
    write_bytes(b, n);
    return ak_npy_load_f32(path, a, err);
}

/* Expects the bytes to be rejected with a message containing `want`. */
static void expect_error(const char *what, const void *b, size_t n, const char *want) {
    ak_f32_array a;
    ak_error err = {0};
    ak_status s = load_bytes(b, n, &a, &err);
    if (s == AK_OK || !strstr(err.msg, want)) {
        fprintf(stderr, "%s: expected an error containing '%s', got status %d '%s'\n", what, want, s, err.msg);
        failures++;
    }
    if (s == AK_OK) ak_f32_array_free(&a);
}

static void test_f32_versions(void) {
    const float v[6] = {1.5f, -2.0f, 0.25f, 3.0f, 1e-3f, -7.75f};
    unsigned char buf[512];
    for (int major = 1; major <= 3; major++) {
        size_t n = build(buf, major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v);
        ak_f32_array a;
        ak_error err = {0};
        CHECK(load_bytes(buf, n, &a, &err) == AK_OK);
        CHECK(a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3 && a.count == 6);
        CHECK(a.source_dtype == AK_DTYPE_F32);
        for (int i = 0; i < 6; i++) CHECK(a.data && a.data[i] == v[i]);
        ak_f32_array_free(&a);
    }
    /* 3-D, double quotes, no trailing comma, other key order, extra spaces */
    float w[2 * 1 * 2] = {1, 2, 3, 4};
    size_t n = build(buf, 1, "{ \"shape\" : (2,1,2) , \"fortran_order\":False,\"descr\":\"<f4\"}", w, sizeof w);
    ak_f32_array a;
    ak_error err = {0};
    CHECK(load_bytes(buf, n, &a, &err) == AK_OK);
    CHECK(a.ndim == 3 && a.shape[0] == 2 && a.shape[1] == 1 && a.shape[2] == 2 && a.data[3] == 4.0f);
    ak_f32_array_free(&a);
    /* 1-D and scalar shapes parse */
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", w, sizeof w);
    CHECK(load_bytes(buf, n, &a, &err) == AK_OK && a.ndim == 1 && a.shape[0] == 4);
    ak_f32_array_free(&a);
    n = build(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", w, 4);
    CHECK(load_bytes(buf, n, &a, &err) == AK_OK && a.ndim == 0 && a.count == 1 && a.data[0] == 1.0f);
    ak_f32_array_free(&a);
}

static void test_f16(void) {
    /* binary16 bit patterns and their values worked out by hand:
     * 0x3C00 = 1, 0xC000 = -2, 0x3555 = 2^-2 * (1 + 341/1024) = 0.333251953125,
     * 0x7BFF = 65504 (largest), 0x0001 = 2^-24 (smallest subnormal),
     * 0x03FF = 1023 * 2^-24 (largest subnormal), 0x8400 = -2^-14, 0x8000 = -0 */
    const uint16_t h[8] = {0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001, 0x03FF, 0x8400, 0x8000};
    const float want[8] = {1.0f, -2.0f, 0.333251953125f, 65504.0f, 5.9604644775390625e-08f,
                           6.0975551605224609375e-05f, -6.103515625e-05f, -0.0f};
    unsigned char buf[512];
    size_t n = build(buf, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }", h, sizeof h);
    ak_f32_array a;
    ak_error err = {0};
    CHECK(load_bytes(buf, n, &a, &err) == AK_OK);
    CHECK(a.source_dtype == AK_DTYPE_F16 && a.shape[0] == 2 && a.shape[1] == 4);
    for (int i = 0; i < 8; i++) CHECK(a.data[i] == want[i]);
    CHECK(signbit(a.data[7]));
    ak_f32_array_free(&a);
    CHECK(isinf(ak_half_to_float(0x7C00)) && ak_half_to_float(0x7C00) > 0);
    CHECK(isinf(ak_half_to_float(0xFC00)) && ak_half_to_float(0xFC00) < 0);
    CHECK(isnan(ak_half_to_float(0x7E00)));
    /* every finite half converts to a float that rounds back to the same value class */
    for (uint32_t b = 0; b < 0x7C00; b++) {
        float f = ak_half_to_float((uint16_t)b);
        CHECK(f >= 0 && isfinite(f));
        if (b) CHECK(f > ak_half_to_float((uint16_t)(b - 1))); /* strictly increasing */
        if (!(f >= 0 && isfinite(f))) break;
    }
}

static void test_malformed(void) {
    const float v[6] = {0};
    unsigned char buf[512];
    const char *good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    size_t n = build(buf, 1, good, v, sizeof v);

    expect_error("empty file", buf, 0, "not a .npy file");
    expect_error("bad magic", "\x93NUMPX\x01\x00\x10\x00", 10, "not a .npy file");
    expect_error("text file", "hello world, this is not npy\n", 29, "not a .npy file");
    /* every truncation of a valid file is an error */
    for (size_t cut = 1; cut < n; cut++) {
        ak_f32_array a;
        ak_error err = {0};
        ak_status s = load_bytes(buf, cut, &a, &err);
        CHECK(s != AK_OK);
        if (s == AK_OK) ak_f32_array_free(&a);
        CHECK(strstr(err.msg, "truncated") != NULL);
    }
    unsigned char longer[600];
    memcpy(longer, buf, n);
    longer[n] = 0;
    expect_error("extra data", longer, n + 1, "unexpected bytes after");

    unsigned char bad[512];
    memcpy(bad, buf, n);
    bad[6] = 4;
    expect_error("version 4.0", bad, n, "unsupported format version 4.0");
    memcpy(bad, buf, n);
    bad[7] = 1;
    expect_error("version 1.1", bad, n, "unsupported format version 1.1");
    memcpy(bad, buf, n);
    bad[8] = 0xff;
    bad[9] = 0x7f;
    expect_error("header length past the end", bad, n, "truncated inside the header");
    memcpy(bad, buf, n);
    bad[10 + (buf[8] | buf[9] << 8) - 1] = ' '; /* the header's final '\n' */
    expect_error("no newline", bad, n, "newline");
    memcpy(bad, buf, n);
    bad[20] = (unsigned char)0xe9;
    expect_error("non-ASCII header", bad, n, "unexpected byte");

    struct {
        const char *dict, *want;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "Fortran-order"},
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "big-endian"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", "'<f8' is not supported"},
        {"{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3), }", "'<u2' is not supported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3), }", "structured"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", "unexpected key 'x'"},
        {"{'descr': '<f4', 'fortran_order': False}", "missing key 'shape'"},
        {"{'fortran_order': False, 'shape': (2, 3)}", "missing key 'descr'"},
        {"{'descr': '<f4', 'shape': (2, 3)}", "missing key 'fortran_order'"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", "duplicate key"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", "non-negative integers"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2.5, 3), }", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }", "must be a tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6), }", "(n,)"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3 }", "expected ',' or ')'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", "expected ',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", "True or False"},
        {"{'descr': <f4, 'fortran_order': False, 'shape': (2, 3)}", "must be a string"},
        {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 3)}", "expected ':'"},
        {"{descr: '<f4'}", "quoted key"},
        {"('descr', '<f4')", "expected a '{'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", "trailing characters"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1)}", "more than 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", "data truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", "unexpected bytes"},
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", "expected float32"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t m = build(bad, 1, cases[i].dict, v, sizeof v);
        expect_error(cases[i].dict, bad, m, cases[i].want);
    }

    /* corrupt each header byte to each of a few values: error or success, never a crash */
    for (size_t i = 0; i < 74; i++) {
        const unsigned char vals[] = {0, '(', ')', '\'', ',', '9', '{', '}', ' ', 0xff};
        for (size_t j = 0; j < sizeof vals; j++) {
            memcpy(bad, buf, n);
            bad[i] = vals[j];
            ak_f32_array a;
            ak_error err = {0};
            if (load_bytes(bad, n, &a, &err) == AK_OK) {
                CHECK(a.count * 4 <= sizeof v);
                ak_f32_array_free(&a);
            } else {
                CHECK(err.msg[0] != 0);
            }
        }
    }
}

static void test_writer(void) {
    const float v[6] = {1, 2, 3, 4, 5, 6.5f};
    const int64_t shape[2] = {3, 2};
    ak_error err = {0};
    CHECK(ak_npy_save(path, AK_DTYPE_F32, 2, shape, v, &err) == AK_OK);
    FILE *fp = fopen(path, "rb");
    unsigned char head[128];
    size_t got = fread(head, 1, sizeof head, fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    CHECK(got == 128 && !memcmp(head, "\x93NUMPY\x01\x00", 8));
    CHECK((size - 24) % 64 == 0); /* data starts 64-byte aligned */
    CHECK(strstr((const char *)head + 10, "'shape': (3, 2)") != NULL);
    ak_f32_array a;
    CHECK(ak_npy_load_f32(path, &a, &err) == AK_OK);
    CHECK(a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 2 && a.data[5] == 6.5f);
    ak_f32_array_free(&a);

    const int32_t ids[4] = {7, -1, 0, 2147483647};
    const int64_t s1[1] = {4};
    CHECK(ak_npy_save(path, AK_DTYPE_I32, 1, s1, ids, &err) == AK_OK);
    ak_i32_array b;
    CHECK(ak_npy_load_i32(path, &b, &err) == AK_OK);
    CHECK(b.ndim == 1 && b.shape[0] == 4 && b.data[1] == -1 && b.data[3] == 2147483647);
    ak_i32_array_free(&b);
    CHECK(ak_npy_load_f32(path, &a, &err) != AK_OK && strstr(err.msg, "int32"));

    /* streaming writer: short writes are an error and remove the file */
    ak_npy_writer w;
    CHECK(ak_npy_writer_open(&w, path, AK_DTYPE_F32, 2, shape, &err) == AK_OK);
    CHECK(ak_npy_write(&w, v, 4, &err) == AK_OK);
    CHECK(ak_npy_write(&w, v, 4, &err) != AK_OK); /* more than the shape holds */
    CHECK(ak_npy_writer_close(&w, &err) != AK_OK && strstr(err.msg, "4 of 6"));
    CHECK(access(path, F_OK) != 0);
    CHECK(ak_npy_writer_open(&w, path, AK_DTYPE_F32, 2, shape, &err) == AK_OK);
    CHECK(ak_npy_write(&w, v, 6, &err) == AK_OK);
    ak_npy_writer_abort(&w);
    CHECK(access(path, F_OK) != 0);
    CHECK(ak_npy_save("/nonexistent-dir/x.npy", AK_DTYPE_F32, 2, shape, v, &err) != AK_OK &&
          strstr(err.msg, "/nonexistent-dir/x.npy"));
}

static void test_raw_and_logits(void) {
    const float v[6] = {1, 2, 3, 4, 5, 6};
    write_bytes(v, sizeof v);
    ak_f32_array a;
    ak_error err = {0};
    CHECK(ak_raw_load_f32(path, 3, &a, &err) == AK_OK && a.shape[0] == 2 && a.shape[1] == 3 && a.data[4] == 5);
    ak_f32_array_free(&a);
    CHECK(ak_raw_load_f32(path, 4, &a, &err) != AK_OK && strstr(err.msg, "not a positive multiple"));
    write_bytes(v, 0);
    CHECK(ak_raw_load_f32(path, 3, &a, &err) != AK_OK);

    ak_logits l;
    write_bytes(v, sizeof v);
    CHECK(ak_logits_load(path, 0, &l, &err) != AK_OK && strstr(err.msg, "needs --experts"));
    CHECK(ak_logits_load(path, 2, &l, &err) == AK_OK && l.n_layers == 1 && l.n_tokens == 3 && l.n_experts == 2);
    ak_logits_free(&l);

    const int64_t s3[3] = {2, 1, 3};
    CHECK(ak_npy_save(path, AK_DTYPE_F32, 3, s3, v, &err) == AK_OK);
    CHECK(ak_logits_load(path, 0, &l, &err) == AK_OK && l.n_layers == 2 && l.n_tokens == 1 && l.n_experts == 3);
    CHECK(ak_logits_layer(&l, 1)[0] == 4.0f);
    ak_logits_free(&l);
    CHECK(ak_logits_load(path, 3, &l, &err) == AK_OK);
    ak_logits_free(&l);
    CHECK(ak_logits_load(path, 4, &l, &err) != AK_OK && strstr(err.msg, "--experts says 4"));
    const int64_t s1[1] = {6};
    CHECK(ak_npy_save(path, AK_DTYPE_F32, 1, s1, v, &err) == AK_OK);
    CHECK(ak_logits_load(path, 0, &l, &err) != AK_OK && strstr(err.msg, "has 1 dimension(s)"));
    const int64_t s0[2] = {0, 6};
    CHECK(ak_npy_save(path, AK_DTYPE_F32, 2, s0, v, &err) == AK_OK);
    CHECK(ak_logits_load(path, 0, &l, &err) != AK_OK && strstr(err.msg, "token count"));
    CHECK(ak_logits_load("/nonexistent/logits.npy", 0, &l, &err) != AK_OK &&
          strstr(err.msg, "/nonexistent/logits.npy: No such file"));
}

int main(void) {
    snprintf(path, sizeof path, "test_npy_%d.tmp", (int)getpid());
    test_f32_versions();
    test_f16();
    test_malformed();
    test_writer();
    test_raw_and_logits();
    remove(path);
    return check_finish("npy");
}
