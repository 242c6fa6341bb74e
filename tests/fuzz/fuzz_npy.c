/* fuzz_npy - the .npy reader on arbitrary bytes: the header parser on the buffer, then
 * both loaders on the same bytes as a file (a memfd, mapped as a real file is).
 * Properties: failures carry a message; a parsed header describes data inside the input;
 * a loaded array can be read to its last value. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "io/npy.h"

static int g_fd = -1;

/* /proc/self/fd/N naming a memfd that holds exactly the input. */
static const char *as_file(const uint8_t *data, size_t size) {
    static char path[64];
    if (g_fd < 0 && (g_fd = memfd_create("npy", 0)) < 0) abort();
    if (ftruncate(g_fd, 0) || (size && pwrite(g_fd, data, size, 0) != (ssize_t)size)) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", g_fd);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ak_error err = {0};
    ak_npy_header h;
    if (ak_npy_parse_header(data, size, &h, &err) == AK_OK)
        FUZZ_CHECK(h.data_offset <= size && h.ndim >= 0 && h.ndim <= AK_NPY_MAX_DIMS);
    else
        FUZZ_CHECK(err.msg[0]);
    const char *path = as_file(data, size);
    ak_f32_array a;
    if (ak_npy_load_f32(path, &a, &err) == AK_OK) {
        float sum = 0;
        for (size_t i = 0; i < a.count; i++) sum += a.data[i];
        (void)sum;
        ak_f32_array_free(&a);
    } else {
        FUZZ_CHECK(err.msg[0]);
    }
    ak_i32_array b;
    if (ak_npy_load_i32(path, &b, &err) == AK_OK) {
        int64_t sum = 0;
        for (size_t i = 0; i < b.count; i++) sum += b.data[i];
        (void)sum;
        ak_i32_array_free(&b);
    } else {
        FUZZ_CHECK(err.msg[0]);
    }
    return 0;
}
