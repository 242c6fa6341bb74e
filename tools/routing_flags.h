/* routing_flags.h - the routing flags shared by every command that routes tokens
 * (route, calibrate-logits, and the engine commands):
 *
 *   --policy fixed|entropy|top-p|ratio   --k N   --k-values 1,2,4   --thresholds 0.6,1.2
 *   --threshold-unit nats|bits|normalized   --top-p P   --ratio R   --k-min N   --k-max N
 *   --renormalize | --no-renormalize   --router-config FILE.json   --preset NAME
 *
 * Flags are collected with ak_routing_flags_parse (mixed with a command's own flags) and
 * turned into a validated router config by ak_routing_flags_build once the expert and
 * layer counts are known. The flags are syntax only: they fill an ak_policy_spec, whose
 * rules (include/adaptivek.h) make the policies. A --router-config (or --preset, a built-in
 * config such as olmoe-1b-7b) replaces every routing flag given before it;
 * flags given after it override the config's values (in the default and every layer
 * policy). Without --policy, the policy is implied by its parameters (--k: fixed,
 * --k-values/--thresholds/--threshold-unit: entropy, --top-p, --ratio), else taken from
 * the config, else entropy with the seeds' k={1,2,4}, h={0.6,1.2} nats. */
#ifndef AK_ROUTING_FLAGS_H
#define AK_ROUTING_FLAGS_H

#include <stdio.h>

#include "adaptivek.h"

typedef struct {
    char config_path[1024]; /* "" when no --router-config */
    char preset[64];        /* "" when no --preset */
    ak_policy_spec policy;  /* the policy flags, applied to the config's policies */
    int renormalize;        /* -1: not given */
} ak_routing_flags;

void ak_routing_flags_init(ak_routing_flags *f);

/* Parses the routing flag at argv[i] ("--flag value" or "--flag=value").
 * Returns the number of arguments consumed (1 or 2), 0 if argv[i] is not a routing flag,
 * or -1 on a bad value (err->msg says which flag and why). */
int ak_routing_flags_parse(ak_routing_flags *f, int argc, char **argv, int i, ak_error *err);

/* Builds the router config: loads --router-config (if any), applies the flags, fills
 * n_experts, and validates every policy against n_experts. n_layers: the layers of the
 * input (a per-layer config must have that many). for_calibration != 0 lets an entropy
 * policy come without thresholds (evenly spaced placeholders that calibration rescales)
 * and refuses a fixed policy (nothing to calibrate).
 * k_native is the config's, or without a config ak_config_max_k.
 * On success the caller owns *out (ak_config_free). */
ak_status ak_routing_flags_build(const ak_routing_flags *f, int n_experts, int n_layers, int for_calibration,
                                 ak_router_config *out, ak_error *err);

/* The config a model runs with: ak_routing_flags_build (not for calibration) for the model's
 * experts and layers, its k_native the model's top-k (n_expert_used) when nothing sets one. */
ak_status ak_routing_flags_build_for_model(const ak_routing_flags *f, int n_experts, int n_layers, int n_expert_used,
                                           ak_router_config *out, ak_error *err);

/* Writes the help text of the routing flags (indented two spaces). */
void ak_routing_flags_help(FILE *out);

#endif
