"""PyTorch: tensors in and out (zero-copy), the vLLM routing function's contract, and the
adaptive MoE block against a plain PyTorch OLMoE sparse MoE block written here."""
import unittest

import numpy as np
import torch

import adaptive_k as ak
from adaptive_k.moe import AdaptiveMoEBlock
from adaptive_k.vllm import expert_counts, make_routing_function


class OlmoeMLP(torch.nn.Module):
    """One OLMoE expert: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.up_proj = torch.nn.Linear(hidden, inter, bias=False)
        self.down_proj = torch.nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x))


class OlmoeSparseMoeBlock(torch.nn.Module):
    """The reference: softmax over all experts, top-k, weights not renormalised (OLMoE's
    norm_topk_prob=False), every token through its k experts one by one."""

    def __init__(self, hidden=32, inter=16, n_experts=16, top_k=4):
        super().__init__()
        self.top_k = top_k
        self.gate = torch.nn.Linear(hidden, n_experts, bias=False)
        self.experts = torch.nn.ModuleList(OlmoeMLP(hidden, inter) for _ in range(n_experts))

    def forward(self, x):
        logits = self.gate(x)
        p = torch.softmax(logits.float(), dim=-1)
        w, ids = torch.topk(p, self.top_k, dim=-1)
        out = torch.zeros_like(x)
        for t in range(x.shape[0]):
            for j in range(self.top_k):
                out[t] += w[t, j] * self.experts[int(ids[t, j])](x[t:t + 1])[0]
        return out, logits


def dense_reference(block, x, ids, w):
    """sum over the chosen (id, weight) pairs, computed token by token."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for e, wt in zip(ids[t].tolist(), w[t].tolist()):
            if e >= 0:
                out[t] += wt * block.experts[e](x[t:t + 1])[0]
    return out


class TorchTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.ref = OlmoeSparseMoeBlock()
        self.x = torch.randn(64, 32)

    def test_tensors_in_tensors_out(self):
        z = torch.randn(10, 16)
        k, ids, w = ak.AdaptiveKRouter().route(z)
        self.assertTrue(all(isinstance(t, torch.Tensor) for t in (k, ids, w)))
        self.assertEqual((ids.dtype, w.dtype), (torch.int32, torch.float32))
        k2, ids2, w2 = ak.AdaptiveKRouter().route(z.numpy())
        self.assertTrue(torch.equal(ids, torch.from_numpy(ids2)) and torch.equal(w, torch.from_numpy(w2)))
        k16 = ak.AdaptiveKRouter().route(z.half())[0]
        self.assertTrue(torch.equal(k16, ak.AdaptiveKRouter().route(z.half().float())[0]))

    def test_bad_tensors(self):
        r = ak.AdaptiveKRouter()
        with self.assertRaisesRegex(TypeError, "got torch.bfloat16"):
            r.route(torch.zeros(2, 8, dtype=torch.bfloat16))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "contiguous"):
            r.route(torch.zeros(8, 4).t())
        z = torch.zeros(3, 8)
        z[2, 5] = float("nan")
        with self.assertRaisesRegex(ak.NonFiniteLogitsError, "token 2, expert 5 is NaN"):
            r.route(z)
        r.route(torch.zeros(2, 8, requires_grad=True))  # detached, not refused

    def test_fixed_k_block_equals_the_olmoe_reference(self):
        router = ak.AdaptiveKRouter(policy=ak.Policy.fixed(4), n_experts=16)
        block = AdaptiveMoEBlock.from_module(self.ref, router)
        with torch.no_grad():
            want, want_logits = self.ref(self.x)
            got, logits = block(self.x)
        self.assertTrue(torch.equal(logits, want_logits))
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        self.assertTrue((block.last_k == 4).all())

    def test_adaptive_block_runs_only_the_chosen_experts(self):
        router = ak.AdaptiveKRouter(n_experts=16)
        with torch.no_grad():  # calibrated on other (validation) tokens of the same gate
            router.calibrate(self.ref.gate(torch.randn(4096, 32)), target_avg_k=2.0)
        block = AdaptiveMoEBlock.from_module(self.ref, router)
        calls = []
        hooks = [e.register_forward_hook(lambda m, i, o, n=n: calls.append((n, i[0].shape[0])))
                 for n, e in enumerate(self.ref.experts)]
        with torch.no_grad():
            got, logits = block(self.x)
        for h in hooks:
            h.remove()
        k, ids, w = router.route(logits)
        with torch.no_grad():
            want = dense_reference(self.ref, self.x, ids, w)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
        self.assertTrue(torch.equal(block.last_k, k))
        self.assertEqual(sum(n for _, n in calls), int(k.sum()))  # expert-token pairs run = sum of K
        self.assertLessEqual(len(calls), 16)  # each expert at most once per forward
        self.assertLess(float(k.float().mean()), 4.0)

    def test_block_keeps_batch_shape(self):
        router = ak.AdaptiveKRouter(policy=ak.Policy.fixed(4), n_experts=16)
        block = AdaptiveMoEBlock.from_module(self.ref, router)
        with torch.no_grad():
            got, _ = block(self.x.reshape(4, 16, 32))
            flat, _ = block(self.x)
        self.assertEqual(got.shape, (4, 16, 32))
        torch.testing.assert_close(got.reshape(64, 32), flat)

    def test_vllm_routing_function(self):
        router = ak.AdaptiveKRouter(n_experts=16)
        fn = make_routing_function(router)
        logits = torch.randn(50, 16) * 3
        weights, ids = fn(hidden_states=self.x[:50], gating_output=logits, topk=8, renormalize=True)
        self.assertEqual((weights.shape, ids.shape), ((50, 8), (50, 8)))
        self.assertEqual((weights.dtype, ids.dtype), (torch.float32, torch.int32))
        k = (ids >= 0).sum(dim=1)
        self.assertTrue(set(k.tolist()) <= {1, 2, 4})
        for t in range(50):
            kt = int(k[t])
            self.assertTrue((ids[t, kt:] == -1).all() and (weights[t, kt:] == 0).all())
            self.assertAlmostEqual(float(weights[t, :kt].sum()), 1.0, places=5)  # vLLM's renormalize
        k_ref, ids_ref, w_ref = ak.AdaptiveKRouter(n_experts=16, renormalize=True).route(logits)
        self.assertTrue(torch.equal(ids[:, :4], ids_ref) and torch.equal(weights[:, :4], w_ref))
        bf16 = fn(None, logits.bfloat16(), 4, False)[1]
        self.assertEqual(bf16.shape, (50, 4))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "2 slots per token, but the policy can choose up to 4"):
            fn(None, logits, 2, False)
        self.assertEqual(int(expert_counts(ids, 16).sum()), int(k.sum()))


if __name__ == "__main__":
    unittest.main()
