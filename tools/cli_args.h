/* cli_args.h - a command's arguments as tables (string, integer and on/off flags, and the
 * routing flags), taken one at a time with the messages every command prints:
 * "CMD: FLAG needs a value", "CMD: FLAG needs an integer >= MIN, not 'V'",
 * "CMD: unknown argument 'X'", ... */
#ifndef AK_CLI_ARGS_H
#define AK_CLI_ARGS_H

#include <stdio.h>

#include "routing_flags.h"
#include "skip_flags.h"

/* `name` or `alias` (NULL: none), as "NAME VALUE" or "NAME=VALUE". */
typedef struct {
    const char *name, *alias;
    const char **dst;
} ak_cli_str_flag;

/* An integer in min..max. A bad value's message names the range by name (not the alias):
 * nothing for INT_MIN..INT_MAX, ">= min" when max is INT_MAX, else "in min..max". */
typedef struct {
    const char *name, *alias;
    int *dst, min, max;
} ak_cli_int_flag;

/* A flag without a value: sets *dst to value. */
typedef struct {
    const char *name;
    int *dst, value;
} ak_cli_bool_flag;

typedef struct {
    const char *cmd;             /* the messages' prefix, e.g. "perplexity" */
    void (*usage)(FILE *out);    /* -h / --help print it to stdout */
    int usage_after_unknown;     /* an unknown argument: 1 prints the usage to stderr, 0 "(see --help)" */
    const ak_cli_str_flag *strs;
    int n_strs;
    const ak_cli_int_flag *ints;
    int n_ints;
    const ak_cli_bool_flag *bools;
    int n_bools;
    ak_routing_flags *routing;   /* NULL: the command takes no routing flags */
    ak_skip_flags *skip;         /* NULL: no early-exit / pruning flags */
    int n_routing;               /* routing flags given so far */
} ak_cli_args;

#define AK_CLI_COUNT(table) ((int)(sizeof(table) / sizeof((table)[0])))

/* Takes argv[*i]: -1 when it was a flag (stored, *i advanced past its value); else the status
 * the command exits with: 0 after the usage for -h/--help, 2 after the message for an unknown
 * argument or a missing or bad value. */
int ak_cli_args_take(ak_cli_args *a, int argc, char **argv, int *i);

/* A flag with a value that the command checks itself: 1 with *value set, 0 when argv[*i] is
 * not `name`, -1 once "CMD: FLAG needs a value" is printed. */
int ak_cli_args_value(const ak_cli_args *a, int argc, char **argv, int *i, const char *name, const char **value);

#endif
