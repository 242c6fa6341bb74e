"""vllm.py - adaptive routing as a custom routing function for vLLM's fused MoE layer.

vLLM's FusedMoE calls custom_routing_function(hidden_states, gating_output, topk,
renormalize) and expects (topk_weights, topk_ids) of shape [tokens, topk]. This function
routes gating_output with the router's policy (K per token from libadaptivek) and fills
the slots a token does not use with weight 0 and id -1. topk must be at least the largest
K the policy can choose. Routing runs on the CPU: logits on a GPU are copied to the CPU
and the results back to the logits' device (a synchronisation per MoE layer; measured
costs are in docs/python.md)."""
import numpy as np

from .arrays import as_logits


def make_routing_function(router, layer=None):
    """A vLLM custom_routing_function for one layer (layer=None: the config's default policy).
    vLLM's renormalize flag (the model's own normalisation) decides the weights' scale."""
    import torch

    def routing_function(hidden_states, gating_output, topk, renormalize):
        del hidden_states  # routing reads only the gate's logits
        logits = gating_output.detach()
        device = logits.device
        if device.type != "cpu":
            logits = logits.to("cpu")
        if logits.dtype not in (torch.float32, torch.float16):
            logits = logits.float()  # bfloat16 gates are common on GPUs: widened exactly
        a, _ = as_logits(logits.contiguous(), ndims=(2,), name="gating_output")
        k, ids, w = router.route_into(a, int(topk), bool(renormalize), layer)
        weights, topk_ids = torch.from_numpy(w), torch.from_numpy(ids)
        if device.type != "cpu":
            weights, topk_ids = weights.to(device), topk_ids.to(device)
        return weights, topk_ids

    return routing_function


def expert_counts(topk_ids, n_experts):
    """Tokens per expert of a routing result (ids -1 ignored): what a batch really reads."""
    ids = np.asarray(topk_ids).ravel()
    return np.bincount(ids[ids >= 0], minlength=n_experts)


__all__ = ["make_routing_function", "expert_counts"]
