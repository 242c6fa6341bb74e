"""Paths the tests share: the source tree, the adaptive-k CLI (ADAPTIVEK_CLI, set by CTest)."""
import os
import subprocess

ROOT = os.environ.get("ADAPTIVEK_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("ADAPTIVEK_CLI") or os.path.join(ROOT, "build", "tools", "adaptive-k")
SAMPLE = os.path.join(ROOT, "data", "sample_router_logits.npy")
MODEL = os.path.join(ROOT, "models", "olmoe-sotu-f16.gguf")


def run_cli(*args):
    if not os.path.exists(CLI):
        raise AssertionError("the adaptive-k CLI is not at %s (set ADAPTIVEK_CLI)" % CLI)
    return subprocess.run([CLI, *args], check=True, capture_output=True, text=True).stdout
