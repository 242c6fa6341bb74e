/* replay.c - main() for a harness outside libFuzzer: runs LLVMFuzzerTestOneInput on every
 * file named, and on every file in every folder named (a missing folder is skipped: a
 * harness may have no regression inputs yet). Fails if nothing was replayed. */
#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "base/file.h"

static int replay_file(const char *path) {
    size_t len = 0;
    ak_error err = {0};
    char *b = ak_read_file(path, &len, &err);
    if (!b) {
        fprintf(stderr, "replay: %s\n", err.msg);
        exit(1);
    }
    /* an exact-size copy, so ASan sees a read past the input as libFuzzer would */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) abort();
    memcpy(exact, b, len);
    free(b);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 1;
}

int main(int argc, char **argv) {
    int n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st)) continue;
        if (!S_ISDIR(st.st_mode)) {
            n += replay_file(argv[i]);
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            n += replay_file(path);
        }
        if (d) closedir(d);
    }
    printf("replayed %d inputs\n", n);
    return n > 0 ? 0 : 1;
}
