/* cli_util.h - small helpers shared by the adaptive-k commands: strict number parsing
 * and "--flag value" / "--flag=value" matching. */
#ifndef AK_CLI_UTIL_H
#define AK_CLI_UTIL_H

#include <stdint.h>

/* Strict conversions: the whole string must be a number (finite for floats). 0 on success. */
int ak_cli_parse_int(const char *s, int *out);
int ak_cli_parse_float(const char *s, float *out);
int ak_cli_parse_double(const char *s, double *out);
/* A random seed: a non-negative integer that a double holds exactly (at most 2^53). */
int ak_cli_parse_seed(const char *s, uint64_t *out);

/* If argv[*i] is `name` followed by a value, or `name=value`, sets *value, advances *i past
 * the value's argument and returns 1; returns -1 when the value is missing; else 0. */
int ak_cli_flag_value(int argc, char **argv, int *i, const char *name, const char **value);

#endif
