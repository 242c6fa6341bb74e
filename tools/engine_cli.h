/* engine_cli.h - what the engine commands (perplexity, calibrate, sweep) set up alike
 * beyond ak_session: the text they score and the perplexity parameters. */
#ifndef AK_ENGINE_CLI_H
#define AK_ENGINE_CLI_H

#include <stddef.h>

#include "eval/perplexity.h"
#include "eval/session.h"

/* Reads a text file as llama.cpp reads a prompt file: one trailing newline is dropped.
 * A malloc'd NUL-terminated buffer, or NULL with a message. */
char *ak_cli_read_text(const char *path, size_t *len, char *err, size_t errlen);


#endif
