/* logits_args.h - the arguments of the commands on recorded router logits (route,
 * calibrate-logits): -h/--help, the routing flags, --experts N, --k-native N and one INPUT. */
#ifndef AK_LOGITS_ARGS_H
#define AK_LOGITS_ARGS_H

#include <stdio.h>

#include "io/logits.h"
#include "routing_flags.h"

typedef struct {
    const char *prog;         /* the messages' prefix, e.g. "adaptive-k route" */
    void (*help)(FILE *out);  /* printed to stdout for -h / --help */
    const char *see;          /* where an unknown option's message points, e.g. "--help" */
    const char *input;        /* NULL until given */
    int n_experts;            /* 0: from the .npy header */
    int k_native;             /* 0: not given */
    ak_routing_flags flags;
} ak_logits_args;

void ak_logits_args_init(ak_logits_args *a, const char *prog, void (*help)(FILE *out), const char *see);

/* Takes argv[*i], which none of the command's own flags matched: -1 when it was one of the
 * shared flags or the INPUT (*i advanced past a flag's value); else the status the command
 * exits with: 0 after the help, 2 after "PROG: why" (a bad value, an unknown option, a
 * second input). */
int ak_logits_args_take(ak_logits_args *a, int argc, char **argv, int *i);

/* Loads a->input (ak_logits_load, a->n_experts for raw input): 0, or 1 once "PROG: why" is
 * printed. */
int ak_logits_args_load(const ak_logits_args *a, ak_logits *lg);

/* The router config of the routing flags for lg's experts and layers (ak_routing_flags_build):
 * 0, or 2 once "PROG: why" is printed and lg freed. */
int ak_logits_args_build(const ak_logits_args *a, ak_logits *lg, int for_calibration, ak_router_config *cfg);

#endif
