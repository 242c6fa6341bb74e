"""The binding decides exactly as the C CLI: `adaptive-k route --out X.npy` and route() on
the same logits give bit-identical K, ids, weights and entropies, under every policy kind,
per-layer configs, renormalisation and float16 input; the example prints the CLI's summary."""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import adaptive_k as ak

from util import MODEL, ROOT, SAMPLE, run_cli

CASES = [  # (CLI flags, the same router in Python)
    ([], lambda: ak.AdaptiveKRouter()),
    (["--k", "2"], lambda: ak.AdaptiveKRouter(policy=ak.Policy.fixed(2))),
    (["--top-p", "0.7", "--k-max", "6"], lambda: ak.AdaptiveKRouter(policy=ak.Policy.top_p(0.7, k_max=6))),
    (["--ratio", "0.3", "--renormalize"], lambda: ak.AdaptiveKRouter(policy=ak.Policy.ratio(0.3), renormalize=True)),
    (["--k-values", "1,3,6", "--thresholds", "0.4,0.7", "--threshold-unit", "normalized"],
     lambda: ak.AdaptiveKRouter((1, 3, 6), (0.4, 0.7), unit="normalized")),
    (["--router-config", os.path.join(ROOT, "models", "olmoe-sotu-best-avgk3.json")],
     lambda: ak.AdaptiveKRouter.load(os.path.join(ROOT, "models", "olmoe-sotu-best-avgk3.json"))),
    (["--router-config", os.path.join(ROOT, "models", "olmoe-sotu-entropy-avgk3.json")],
     lambda: ak.AdaptiveKRouter.load(os.path.join(ROOT, "models", "olmoe-sotu-entropy-avgk3.json"))),
]


def cli_decisions(logits_path, flags, d):
    out = os.path.join(d, "dec.npy")
    run_cli("route", logits_path, "--out", out, "--quiet", *flags)
    return [np.load(os.path.join(d, "dec.%s.npy" % s)) for s in ("k", "ids", "weights", "entropy")]


class CliAgreementTest(unittest.TestCase):
    def check_same(self, logits, logits_path, flags, make_router):
        with tempfile.TemporaryDirectory() as d:
            want = cli_decisions(logits_path, flags, d)
        got = make_router().route(logits, return_entropy=True)
        for name, w, g in zip(("k", "ids", "weights", "entropy"), want, got):
            self.assertEqual(w.shape, g.shape, (flags, name))
            self.assertEqual(w.tobytes(), g.tobytes(), "%s differ for flags %s" % (name, flags))

    def test_every_policy_bit_identical(self):
        x = np.load(SAMPLE)
        for flags, make in CASES:
            self.check_same(x, SAMPLE, flags, make)

    def test_float16_input(self):
        rng = np.random.default_rng(3)
        x = (rng.standard_normal((2, 700, 64)) * 1.5).astype(np.float16)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f16.npy")
            np.save(path, x)
            for flags, make in CASES[:5]:
                self.check_same(x, path, flags, make)

    def test_example_prints_the_cli_summary(self):
        cli = run_cli("route", SAMPLE, "--k-native", "4")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        example = os.path.join(ROOT, "python", "examples", "route_gguf.py")
        got = subprocess.run([sys.executable, example, MODEL, SAMPLE], check=True, capture_output=True,
                             text=True, env=env).stdout
        table = cli[cli.index("\n  layer"):]
        self.assertIn("routers   6 x [16, 256] float32", got)
        self.assertEqual(got[got.index("\n  layer"):], table)
        self.assertIn("K=4     2647", table)  # the summary is real, not empty


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


class GGUFReaderTest(unittest.TestCase):
    def test_reads_the_shipped_model(self):
        from adaptive_k.gguf import GGUFFile
        g = GGUFFile(MODEL)
        self.assertEqual((g.arch_value("expert_count"), g.arch_value("expert_used_count")), (16, 4))
        w = g.tensor("blk.0.ffn_gate_inp.weight")
        self.assertEqual(w.shape, (16, 256))
        self.assertTrue(np.isfinite(w).all() and np.abs(w).sum() > 0)
        self.assertEqual(g.tensor("token_embd.weight").dtype, np.float16)

    def test_malformed_files(self):
        from adaptive_k.gguf import GGUFFile
        with open(MODEL, "rb") as f:
            data = f.read()
        with tempfile.TemporaryDirectory() as d:
            for name, blob, msg in (("magic", b"GGUX" + data[4:], "bad magic"),
                                    ("version", data[:4] + b"\x09\0\0\0" + data[8:], "version 9"),
                                    ("truncated", data[:5000], "truncated")):
                p = os.path.join(d, name)
                write(p, blob)
                with self.assertRaisesRegex(ak.FormatError, msg):
                    GGUFFile(p)
            p = os.path.join(d, "short")
            write(p, data[:200000])
            with self.assertRaisesRegex(ak.FormatError, "past the end"):
                GGUFFile(p).tensor("output.weight")


if __name__ == "__main__":
    unittest.main()
