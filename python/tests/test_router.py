"""AdaptiveKRouter, Policy and RouterConfig on NumPy arrays: decisions, the seeds' defects
fixed, calibration, configs, and every bad input raising a clear exception."""
import os
import tempfile
import unittest

import numpy as np

import adaptive_k as ak
from adaptive_k.arrays import as_logits

from util import ROOT, SAMPLE


def logits_from_probs(p):
    return np.log(np.asarray(p, np.float32))


class RouteTest(unittest.TestCase):
    def test_seeds_rule_on_known_entropies(self):
        # H = 0.1677 (K=1), 0.8711 (K=2), 1.2799 (K=4) nats; the SDK never chose k_values[0]
        z = logits_from_probs([[0.97, 0.01, 0.01, 0.01], [0.05, 0.2, 0.7, 0.05], [0.1, 0.4, 0.2, 0.3]])
        k, ids, w, h = ak.AdaptiveKRouter().route(z, return_entropy=True)
        self.assertEqual(k.tolist(), [1, 2, 4])
        self.assertEqual(ids.tolist(), [[0, -1, -1, -1], [2, 1, -1, -1], [1, 3, 2, 0]])
        np.testing.assert_allclose(w[1], [0.7, 0.2, 0, 0], rtol=1e-6)
        self.assertEqual(w[0, 1:].tolist(), [0, 0, 0])
        np.testing.assert_allclose(h, [0.16770, 0.87113, 1.27985], atol=1e-4)
        self.assertEqual((k.dtype, ids.dtype, w.dtype), (np.int32, np.int32, np.float32))

    def test_renormalize_and_other_policies(self):
        z = logits_from_probs([[0.05, 0.2, 0.7, 0.05]])
        k, ids, w = ak.AdaptiveKRouter(renormalize=True).route(z)
        np.testing.assert_allclose(w[0, :2], [0.7 / 0.9, 0.2 / 0.9], rtol=1e-6)
        cases = [(ak.Policy.fixed(3), 3), (ak.Policy.top_p(0.85), 2), (ak.Policy.ratio(0.25), 2),
                 (ak.Policy.threshold(0.1), 2), (ak.Policy.top_p(0.5, k_min=3), 3)]
        for policy, want in cases:
            k, ids, w = ak.AdaptiveKRouter(policy=policy).route(z)
            self.assertEqual(int(k[0]), want, policy)
            self.assertEqual(ids.shape[1], policy.max_k(4))

    def test_float16_decides_as_float32(self):
        rng = np.random.default_rng(1)
        z16 = (rng.standard_normal((300, 64)) * 2).astype(np.float16)
        r = ak.AdaptiveKRouter(policy=ak.Policy.top_p(0.6))
        a, b = r.route(z16, return_entropy=True), r.route(z16.astype(np.float32), return_entropy=True)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)

    def test_layers_use_their_policies(self):
        c = ak.RouterConfig(16, 4, policy=ak.Policy.fixed(4),
                            layers=[ak.Policy.fixed(1), ak.Policy.fixed(2), ak.Policy.top_p(0.5)])
        x = np.load(SAMPLE)[:3]
        k, ids, w = ak.AdaptiveKRouter(config=c).route(x)
        self.assertEqual(k.shape, (3, 512))
        self.assertEqual(ids.shape, (3, 512, 16))  # top-p can choose all 16
        self.assertTrue((k[0] == 1).all() and (k[1] == 2).all())
        k1, _, _ = ak.AdaptiveKRouter(config=c).route(x[1], layer=1)
        np.testing.assert_array_equal(k1, k[1])

    def test_input_is_used_in_place(self):
        x = np.zeros((4, 8), np.float32)
        a, torch_in = as_logits(x)
        self.assertTrue(np.shares_memory(a, x) and not torch_in)


class CalibrateTest(unittest.TestCase):
    def setUp(self):
        self.x = np.load(SAMPLE)

    def test_global_target_is_reached_and_routed(self):
        r = ak.AdaptiveKRouter()
        got = r.calibrate(self.x, target_avg_k=2.0)
        self.assertAlmostEqual(got, 2.0, delta=0.01)
        self.assertAlmostEqual(float(r.route(self.x)[0].mean()), got, places=9)
        self.assertEqual(r.config.layers, [])  # one parameter: one policy for every layer
        self.assertEqual(r.policy().k_values, (1, 2, 4))

    def test_per_layer(self):
        r = ak.AdaptiveKRouter(policy=ak.Policy.ratio(0.5))
        got = r.calibrate(self.x, target_avg_k=2.5, per_layer=True)
        self.assertEqual(len(r.config.layers), 6)
        k = r.route(self.x)[0]
        for layer in range(6):
            self.assertAlmostEqual(float(k[layer].mean()), 2.5, delta=0.05)
        self.assertAlmostEqual(float(k.mean()), got, places=9)

    def test_two_dimensional(self):
        r = ak.AdaptiveKRouter(policy=ak.Policy.top_p(0.5))
        got = r.calibrate(self.x[0], 3.0)
        self.assertAlmostEqual(float(r.route(self.x[0])[0].mean()), got, places=9)

    def test_unreachable_target_and_fixed(self):
        with self.assertRaisesRegex(ak.ConfigError, "reach"):
            ak.AdaptiveKRouter().calibrate(self.x, 7.0)
        with self.assertRaises(ak.ConfigError):
            ak.AdaptiveKRouter(policy=ak.Policy.fixed(2)).calibrate(self.x, 2.0)
        with self.assertRaisesRegex(ak.InvalidArgumentError, "per_layer"):
            ak.AdaptiveKRouter().calibrate(self.x[0], 2.0, per_layer=True)


class ConfigTest(unittest.TestCase):
    def test_presets(self):
        self.assertIn("olmoe-1b-7b", ak.presets())
        c = ak.RouterConfig.preset("mixtral-8x7b")
        self.assertEqual((c.n_experts, c.k_native, c.renormalize), (8, 2, True))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "unknown preset .no-such"):
            ak.RouterConfig.preset("no-such")

    def test_json_round_trip_and_files(self):
        path = os.path.join(ROOT, "models", "olmoe-sotu-best-avgk3.json")
        c = ak.RouterConfig.load(path)
        self.assertEqual(len(c.layers), 6)
        self.assertEqual(ak.RouterConfig.from_json(c.to_json()), c)
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "c.json")
            r = ak.AdaptiveKRouter(config=c)
            r.save(out)
            self.assertEqual(ak.AdaptiveKRouter.load(out).config, c)
        e = ak.RouterConfig(64, 8, policy=ak.Policy.entropy((1, 2, 4, 8), (0.2, 0.5, 0.8), unit="normalized"))
        self.assertEqual(ak.RouterConfig.from_json(e.to_json()).policy, e.policy)

    def test_bad_configs(self):
        with self.assertRaisesRegex(ak.JSONConfigError, "JSON|position|line"):
            ak.RouterConfig.from_json('{"n_experts": 8,')
        with self.assertRaises(ak.FileError):
            ak.RouterConfig.load("/nonexistent/c.json")
        with self.assertRaisesRegex(ak.ConfigError, "k=9"):
            ak.RouterConfig(8, 2, policy=ak.Policy.fixed(9))
        with self.assertRaisesRegex(ValueError, "thresholds"):
            ak.Policy.entropy((1, 2, 4), (0.5,))
        with self.assertRaisesRegex(ValueError, "unit"):
            ak.Policy.entropy(unit="furlongs")
        with self.assertRaisesRegex(ak.ConfigError, "ascending"):
            ak.AdaptiveKRouter(k_values=(2, 1), h_thresholds=(0.5,), n_experts=8)


class BadInputTest(unittest.TestCase):
    def setUp(self):
        self.r = ak.AdaptiveKRouter()

    def test_dtype(self):
        for dt in (np.float64, np.int32, np.int8):
            with self.assertRaisesRegex(TypeError, "float32 or float16, got"):
                self.r.route(np.zeros((2, 8), dt))
        with self.assertRaisesRegex(TypeError, "numpy.ndarray or a torch.Tensor"):
            self.r.route([[0.0] * 8])

    def test_shape_and_layout(self):
        with self.assertRaisesRegex(ak.InvalidArgumentError, r"shape \[tokens, experts\]"):
            self.r.route(np.zeros(8, np.float32))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "1..1024"):
            self.r.route(np.zeros((2, 2000), np.float32))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "tokens"):
            self.r.route(np.zeros((0, 8), np.float32))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "contiguous"):
            self.r.route(np.zeros((8, 16), np.float32)[:, ::2])
        self.r.route(np.zeros((2, 8), np.float32))
        with self.assertRaisesRegex(ak.InvalidArgumentError, "8 experts, the logits have 9"):
            self.r.route(np.zeros((2, 9), np.float32))

    def test_nonfinite(self):
        z = np.zeros((5, 8), np.float32)
        z[3, 6] = np.nan
        with self.assertRaisesRegex(ak.NonFiniteLogitsError, "token 3, expert 6 is NaN"):
            self.r.route(z)
        z[3, 6] = -np.inf
        with self.assertRaisesRegex(ak.NonFiniteLogitsError, "is Inf"):
            self.r.route(z.astype(np.float16))
        x = np.zeros((2, 4, 8), np.float32)
        x[1, 2, 0] = np.inf
        with self.assertRaisesRegex(ak.NonFiniteLogitsError, "layer 1: .*token 2, expert 0"):
            self.r.route(x)


if __name__ == "__main__":
    unittest.main()
