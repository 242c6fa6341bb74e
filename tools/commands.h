/* commands.h - the subcommands of the adaptive-k CLI. Each lives in tools/cmd_<name>.c,
 * takes argv with argv[0] = the subcommand name, and returns the process exit status. */
#ifndef AK_COMMANDS_H
#define AK_COMMANDS_H

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} ak_command;

int cmd_route(int argc, char **argv);
int cmd_calibrate_logits(int argc, char **argv);
int cmd_train_tokenizer(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_gguf_info(int argc, char **argv);
int cmd_gen_model(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

#endif
