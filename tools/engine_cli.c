/* engine_cli.c - the text and perplexity set-up of the engine commands. */
#include "engine_cli.h"

char *ak_cli_read_text(const char *path, size_t *len, char *err, size_t errlen) {
    char *text = ak_read_whole_file(path, len, err, errlen);
    if (text && *len && text[*len - 1] == '\n') text[--*len] = 0;
    return text;
}

