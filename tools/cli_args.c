/* cli_args.c - taking one argument of a command against its flag tables. */
#include "cli_args.h"

#include <limits.h>
#include <string.h>

#include "cli_util.h"

/* 1, 0 or -1 as ak_cli_flag_value, for `name` and then `alias`. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char *alias, const char **v) {
    int r = ak_cli_flag_value(argc, argv, i, name, v);
    if (!r && alias) r = ak_cli_flag_value(argc, argv, i, alias, v);
    return r;
}

static int missing(const ak_cli_args *a, char **argv, int i) {
    fprintf(stderr, "%s: %s needs a value\n", a->cmd, argv[i]);
    return 2;
}

static int bad_int(const ak_cli_args *a, const ak_cli_int_flag *f, const char *v) {
    if (f->min == INT_MIN && f->max == INT_MAX)
        fprintf(stderr, "%s: %s needs an integer, not '%s'\n", a->cmd, f->name, v);
    else if (f->max == INT_MAX)
        fprintf(stderr, "%s: %s needs an integer >= %d, not '%s'\n", a->cmd, f->name, f->min, v);
    else
        fprintf(stderr, "%s: %s needs an integer in %d..%d, not '%s'\n", a->cmd, f->name, f->min, f->max, v);
    return 2;
}

static int unknown(const ak_cli_args *a, const char *arg) {
    if (!a->usage_after_unknown) {
        fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", a->cmd, arg);
        return 2;
    }
    fprintf(stderr, "%s: unknown argument '%s'\n", a->cmd, arg);
    a->usage(stderr);
    return 2;
}

int ak_cli_args_take(ak_cli_args *a, int argc, char **argv, int *i) {
    const char *v = NULL;
    int r;
    if (!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help")) {
        a->usage(stdout);
        return 0;
    }
    for (int k = 0; k < a->n_bools; k++)
        if (!strcmp(argv[*i], a->bools[k].name)) {
            *a->bools[k].dst = a->bools[k].value;
            return -1;
        }
    for (int k = 0; k < a->n_strs; k++) {
        if (!(r = flag_value(argc, argv, i, a->strs[k].name, a->strs[k].alias, &v))) continue;
        if (r < 0) return missing(a, argv, *i);
        *a->strs[k].dst = v;
        return -1;
    }
    for (int k = 0; k < a->n_ints; k++) {
        const ak_cli_int_flag *f = &a->ints[k];
        if (!(r = flag_value(argc, argv, i, f->name, f->alias, &v))) continue;
        if (r < 0) return missing(a, argv, *i);
        if (ak_cli_parse_int(v, f->dst) || *f->dst < f->min || *f->dst > f->max) return bad_int(a, f, v);
        return -1;
    }
    ak_error err = {0};
    if (a->skip && (r = ak_skip_flags_parse(a->skip, argc, argv, *i, &err))) {
        if (r < 0) {
            fprintf(stderr, "%s: %s\n", a->cmd, err.msg);
            return 2;
        }
        *i += r - 1;
        return -1;
    }
    if (!a->routing) return unknown(a, argv[*i]);
    if (!(r = ak_routing_flags_parse(a->routing, argc, argv, *i, &err))) return unknown(a, argv[*i]);
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", a->cmd, err.msg);
        return 2;
    }
    *i += r - 1;
    a->n_routing++;
    return -1;
}

int ak_cli_args_value(const ak_cli_args *a, int argc, char **argv, int *i, const char *name, const char **value) {
    int r = ak_cli_flag_value(argc, argv, i, name, value);
    if (r < 0) missing(a, argv, *i);
    return r;
}
