"""moe.py - a PyTorch MoE block that runs only the experts libadaptivek chooses.

AdaptiveMoEBlock(gate, experts, router) computes, for hidden states x [..., hidden]:
    logits = gate(x);  (k, ids, w) = router.route(logits);  y = sum_i w_i * experts[ids_i](x)
over the chosen experts only: tokens are grouped by expert, and each expert runs once on
its tokens. With a fixed top-k policy it is OLMoE's / Qwen2-MoE's / Mixtral's sparse MoE
block (renormalize as the model does). from_module() takes the gate and experts of such a
block (Hugging Face's attribute names `gate` and `experts`) without copying weights.

Inference only: the routing weights come from libadaptivek, so no gradient reaches the
gate through them."""
import torch

from .router import AdaptiveKRouter


class AdaptiveMoEBlock(torch.nn.Module):
    def __init__(self, gate, experts, router, layer=None):
        super().__init__()
        if not isinstance(router, AdaptiveKRouter):
            raise TypeError("router must be an adaptive_k.AdaptiveKRouter, got %s" % type(router).__name__)
        self.gate = gate
        self.experts = experts if isinstance(experts, torch.nn.ModuleList) else torch.nn.ModuleList(experts)
        self.router = router
        self.layer = layer
        self.last_k = None  # K per token of the last forward (int32 tensor), for statistics

    @classmethod
    def from_module(cls, block, router, layer=None):
        """Reuses block.gate and block.experts (the Hugging Face sparse MoE blocks' names)."""
        for name in ("gate", "experts"):
            if not hasattr(block, name):
                raise TypeError("%s has no attribute %r: pass gate and experts to AdaptiveMoEBlock()" % (
                    type(block).__name__, name))
        return cls(block.gate, block.experts, router, layer)

    def forward(self, hidden_states):
        """Returns (output, router_logits) like the Hugging Face blocks."""
        shape = hidden_states.shape
        x = hidden_states.reshape(-1, shape[-1])
        logits = self.gate(x)
        with torch.no_grad():
            route_in = logits.detach().float().cpu().contiguous()
            k, ids, w = self.router.route(route_in, layer=self.layer)
        ids, w = ids.to(x.device), w.to(device=x.device, dtype=x.dtype)
        self.last_k = k
        out = torch.zeros_like(x)
        if len(self.experts) != logits.shape[-1]:
            raise ValueError("the gate scores %d experts, the block has %d" % (logits.shape[-1], len(self.experts)))
        for e in torch.unique(ids[ids >= 0]).tolist():
            rows, slots = torch.nonzero(ids == e, as_tuple=True)
            y = self.experts[e](x[rows]) * w[rows, slots].unsqueeze(-1)
            out.index_add_(0, rows, y)
        return out.reshape(shape), logits
