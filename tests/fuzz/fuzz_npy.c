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
    /* both loaders: a value read past the mapping or the buffer is an ASan report */
    ak_f32_array a;
    ak_status st = ak_npy_load_f32(path, &a, &err);
    FUZZ_CHECK(st == AK_OK || err.msg[0]);
    volatile float fsum = 0;
    for (size_t i = 0; st == AK_OK && i < a.count; i++) fsum += a.data[i];
    if (st == AK_OK) ak_f32_array_free(&a);
    (void)fsum;
    ak_i32_array b;
    st = ak_npy_load_i32(path, &b, &err);
    FUZZ_CHECK(st == AK_OK || err.msg[0]);
    volatile int64_t isum = 0;
    for (size_t i = 0; st == AK_OK && i < b.count; i++) isum += b.data[i];
    if (st == AK_OK) ak_i32_array_free(&b);
    (void)isum;
    return 0;
}
