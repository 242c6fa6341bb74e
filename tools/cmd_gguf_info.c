/* cmd_gguf_info.c - adaptive-k gguf-info: what a GGUF file holds (header, key/values,
 * tensors, bytes per tensor type). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gguf/gguf.h"

#define MAX_SHOWN_ITEMS 8
#define MAX_SHOWN_CHARS 60

static void usage(FILE *out) {
    fprintf(out,
            "usage: adaptive-k gguf-info FILE [--kv] [--tensors]\n"
            "  Validates FILE and prints its version, alignment and counts, then every key/value\n"
            "  (--kv) and every tensor with type, shape, size and offset plus the total bytes per\n"
            "  tensor type (--tensors). With neither flag, prints both.\n");
}

/* Prints a string quoted, escaping control bytes, cut after MAX_SHOWN_CHARS. */
static void print_str(gguf_str s) {
    uint64_t n = s.len < MAX_SHOWN_CHARS ? s.len : MAX_SHOWN_CHARS;
    putchar('"');
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 32 || c == 127)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
    putchar('"');
    if (s.len > n) printf("...(%" PRIu64 " bytes)", s.len);
}

static void print_scalar(gguf_type t, const unsigned char *p) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        float f32;
        uint64_t u64;
        int64_t i64;
        double f64;
    } v;
    memcpy(&v, p, gguf_type_size(t));
    switch (t) {
    case GGUF_TYPE_UINT8: printf("%u", v.u8); break;
    case GGUF_TYPE_INT8: printf("%d", v.i8); break;
    case GGUF_TYPE_UINT16: printf("%u", v.u16); break;
    case GGUF_TYPE_INT16: printf("%d", v.i16); break;
    case GGUF_TYPE_UINT32: printf("%" PRIu32, v.u32); break;
    case GGUF_TYPE_INT32: printf("%" PRId32, v.i32); break;
    case GGUF_TYPE_FLOAT32: printf("%.9g", v.f32); break;
    case GGUF_TYPE_BOOL: fputs(v.u8 ? "true" : "false", stdout); break;
    case GGUF_TYPE_UINT64: printf("%" PRIu64, v.u64); break;
    case GGUF_TYPE_INT64: printf("%" PRId64, v.i64); break;
    case GGUF_TYPE_FLOAT64: printf("%.17g", v.f64); break;
    default: fputs("?", stdout);
    }
}

static void print_kvs(const gguf_file *f) {
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_type t = gguf_kv_type(f, i), et;
        gguf_str s;
        uint64_t n;
        printf("  ");
        print_str(gguf_key_name(f, i));
        if (gguf_kv_arr_info(f, i, &et, &n)) {
            printf(" arr[%s, %" PRIu64 "] = [", gguf_type_name(et), n);
            const unsigned char *d = gguf_kv_data(f, i);
            for (uint64_t j = 0; j < n && j < MAX_SHOWN_ITEMS; j++) {
                if (j) fputs(", ", stdout);
                if (d)
                    print_scalar(et, d + j * gguf_type_size(et));
                else if (gguf_kv_str(f, i, j, &s))
                    print_str(s);
            }
            printf("%s]\n", n > MAX_SHOWN_ITEMS ? ", ..." : "");
        } else if (gguf_kv_str(f, i, 0, &s)) {
            printf(" str = ");
            print_str(s);
            putchar('\n');
        } else {
            printf(" %s = ", gguf_type_name(t));
            print_scalar(t, gguf_kv_data(f, i));
            putchar('\n');
        }
    }
}

static void print_tensors(const gguf_file *f) {
    uint64_t bytes_per_type[64] = {0};
    int64_t count_per_type[64] = {0};
    uint64_t total = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        const char *tname = "?";
        gguf_ggml_type_info(t->type, &tname, NULL, NULL);
        char shape[128];
        int len = snprintf(shape, sizeof shape, "[%" PRId64, t->ne[0]);
        for (uint32_t d = 1; d < t->n_dims; d++)
            len += snprintf(shape + len, sizeof shape - (size_t)len, ", %" PRId64, t->ne[d]);
        snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %5" PRId64 " %-8s %-26s %12" PRIu64 " bytes  offset %-12" PRIu64 " ", i, tname, shape,
               t->nbytes, t->offset);
        print_str(t->name);
        putchar('\n');
        if (t->type >= 0 && t->type < 64) {
            bytes_per_type[t->type] += t->nbytes;
            count_per_type[t->type]++;
        }
        total += t->nbytes;
    }
    printf("bytes per tensor type:\n");
    for (int ty = 0; ty < 64; ty++) {
        const char *tname;
        if (!count_per_type[ty] || !gguf_ggml_type_info(ty, &tname, NULL, NULL)) continue;
        printf("  %-8s %6" PRId64 " tensors %14" PRIu64 " bytes (%.1f MiB)\n", tname, count_per_type[ty],
               bytes_per_type[ty], (double)bytes_per_type[ty] / 1048576.0);
    }
    printf("  total    %6" PRId64 " tensors %14" PRIu64 " bytes (%.1f MiB)\n", gguf_n_tensors(f), total,
           (double)total / 1048576.0);
}

int cmd_gguf_info(int argc, char **argv) {
    const char *path = NULL;
    int show_kv = 0, show_tensors = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--kv")) {
            show_kv = 1;
        } else if (!strcmp(argv[i], "--tensors")) {
            show_tensors = 1;
        } else if (argv[i][0] != '-' && !path) {
            path = argv[i];
        } else {
            fprintf(stderr, "gguf-info: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (!show_kv && !show_tensors) show_kv = show_tensors = 1;
    ak_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    if (!f) {
        fprintf(stderr, "gguf-info: %s\n", err.msg);
        return 1;
    }
    printf("%s: GGUF v%u, %" PRIu64 " bytes, alignment %u, data at %" PRIu64 ", %" PRId64 " key/values, %" PRId64
           " tensors\n",
           path, gguf_version(f), gguf_size(f), gguf_alignment(f), gguf_data_offset(f), gguf_n_kv(f),
           gguf_n_tensors(f));
    if (show_kv) {
        printf("key/values:\n");
        print_kvs(f);
    }
    if (show_tensors) {
        printf("tensors:\n");
        print_tensors(f);
    }
    gguf_close(f);
    return 0;
}
