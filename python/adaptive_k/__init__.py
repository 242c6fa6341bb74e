"""adaptive_k - adaptive top-k routing for Mixture-of-Experts models, from NumPy and PyTorch.

A thin ctypes binding to libadaptivek (the C library of the adaptive-k project): the same
decisions as the `adaptive-k` command on the same logits. See docs/python.md."""
from ._lib import (AdaptiveKError, ConfigError, FileError, FormatError, InvalidArgumentError, JSONConfigError,
                   NonFiniteLogitsError, OutOfMemoryError)
from .config import RouterConfig, presets
from .policy import Policy
from .router import AdaptiveKRouter
from .summary import format_route_summary

__version__ = "0.1.0"
__all__ = ["AdaptiveKRouter", "Policy", "RouterConfig", "presets", "format_route_summary", "AdaptiveKError",
           "ConfigError", "FileError", "FormatError", "InvalidArgumentError", "JSONConfigError",
           "NonFiniteLogitsError", "OutOfMemoryError"]
