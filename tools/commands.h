/* commands.h - the subcommands of the adaptive-k CLI. Each lives in tools/cmd_<name>.c,
 * takes argv with argv[0] = the subcommand name, and returns the process exit status. */
#ifndef AK_COMMANDS_H
#define AK_COMMANDS_H

typedef int ak_command_fn(int argc, char **argv);

typedef struct {
    const char *name;
    ak_command_fn *run;
    const char *summary;
} ak_command;

ak_command_fn cmd_route, cmd_calibrate_logits, cmd_train_tokenizer, cmd_train, cmd_gguf_info, cmd_gen_model,
    cmd_perplexity, cmd_generate, cmd_tokenize, cmd_serve, cmd_calibrate, cmd_sweep, cmd_profile;

#endif
