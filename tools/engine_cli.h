/* engine_cli.h - what the engine commands (perplexity, calibrate, generate, profile, sweep,
 * serve) set up alike beyond ak_session: the text they score, the routing from their flags,
 * and the session opened with the messages they print. */
#ifndef AK_ENGINE_CLI_H
#define AK_ENGINE_CLI_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>

#include "cli_args.h"
#include "eval/perplexity.h"
#include "eval/session.h"

/* Reads a text file as llama.cpp reads a prompt file: one trailing newline is dropped.
 * A malloc'd NUL-terminated buffer, or NULL with a message. */
char *ak_cli_read_text(const char *path, size_t *len, ak_error *err);

/* An ak_session_routing_fn for the routing flags a command took (user: its ak_cli_args):
 * none given, the model's native top-k. */
int ak_cli_session_routing(void *user, const ak_hparams *hp, ak_router_config *cfg, ak_error *err);

/* Reads text_path when not NULL (into o->text, freed once tokenised) and opens the session
 * (ak_session_open). 0, or 1 once "CMD: why" is printed; ak_session_close(s) either way. */
int ak_cli_session_open(ak_session *s, const char *cmd, const char *model_path, const char *text_path,
                        ak_session_opts *o);

/* -ctk/-ctv names (NULL: f32) into KV cache types, as llama.cpp's --cache-type-k/-v. 0, or
 * -1 once "CMD: why" is printed. The context checks the type against the model. */
int ak_cli_kv_types(const char *cmd, const char *k_name, const char *v_name, int *type_k, int *type_v);

#endif
