/* commands.h - the subcommands of the adaptive-k CLI. Each lives in tools/cmd_<name>.c,
 * takes argv with argv[0] = the subcommand name, and returns the process exit status. */
#ifndef AK_COMMANDS_H
#define AK_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} ak_command;

/* Declared weak while the commands are being built in parallel: a command whose file is
 * not in the tree yet resolves to NULL and main() reports it as unavailable. */
#define AK_COMMAND_DECL(fn) int fn(int argc, char **argv) __attribute__((weak))
AK_COMMAND_DECL(cmd_route);
AK_COMMAND_DECL(cmd_calibrate_logits);
AK_COMMAND_DECL(cmd_train_tokenizer);
AK_COMMAND_DECL(cmd_train);
AK_COMMAND_DECL(cmd_gguf_info);
AK_COMMAND_DECL(cmd_gen_model);
AK_COMMAND_DECL(cmd_perplexity);
AK_COMMAND_DECL(cmd_generate);
AK_COMMAND_DECL(cmd_tokenize);
AK_COMMAND_DECL(cmd_serve);
AK_COMMAND_DECL(cmd_calibrate);
AK_COMMAND_DECL(cmd_sweep);

#endif
