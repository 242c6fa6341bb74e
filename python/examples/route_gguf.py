#!/usr/bin/env python3
"""route_gguf.py - reads a GGUF model's router weights with NumPy and routes recorded router
logits of that model, printing the summary `adaptive-k route` prints.

    python3 python/examples/route_gguf.py models/olmoe-sotu-f16.gguf data/sample_router_logits.npy
    python3 python/examples/route_gguf.py MODEL.gguf LOGITS.npy --router-config models/olmoe-sotu-best-avgk3.json

The baseline top-k is the model's own (its expert_used_count key); the policy is the seeds'
entropy rule unless a router config is given."""
import argparse
import sys

import numpy as np

import adaptive_k
from adaptive_k.gguf import GGUFFile


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("logits", help=".npy of router logits [layers, tokens, experts] recorded from the model")
    ap.add_argument("--router-config", help="router-config JSON (per-layer policies)")
    args = ap.parse_args(argv)

    g = GGUFFile(args.model)
    n_layers, n_experts, k_native = g.arch_value("block_count"), g.arch_value("expert_count"), \
        g.arch_value("expert_used_count")
    if not n_experts:
        sys.exit("%s: not an MoE model (no expert_count key)" % args.model)
    routers = [g.tensor("blk.%d.ffn_gate_inp.weight" % l) for l in range(n_layers)]
    print("model     %s: %s, %d layers, %d experts, top-%d" % (
        args.model, g.metadata.get("general.architecture"), n_layers, n_experts, k_native))
    print("routers   %d x %s %s (blk.N.ffn_gate_inp.weight, [experts, embedding])" % (
        len(routers), list(routers[0].shape), routers[0].dtype))

    logits = np.load(args.logits)
    if logits.ndim == 2:
        logits = logits[None]
    if logits.shape[0] != n_layers or logits.shape[2] != routers[0].shape[0]:
        sys.exit("%s: shape %s does not match the model's %d layers x %d experts" % (
            args.logits, logits.shape, n_layers, n_experts))

    if args.router_config:
        router = adaptive_k.AdaptiveKRouter.load(args.router_config)
    else:
        router = adaptive_k.AdaptiveKRouter(n_experts=n_experts, k_native=k_native)
    k, ids, weights, entropy = router.route(logits, return_entropy=True)
    print("policy    %s" % router.policy().describe(n_experts))
    sys.stdout.write(adaptive_k.format_route_summary(k, entropy, n_experts, k_native))


if __name__ == "__main__":
    main()
