"""config.py - a model's router config (adaptivek.h's ak_router_config): expert count, native
top-k, weight normalisation, a default policy and optional per-layer policies. JSON in and
out goes through the library, so files are exactly those `adaptive-k` reads and writes
(docs/router-config.md)."""
import ctypes

from . import _lib
from .policy import Policy


class RouterConfig:
    """n_experts, k_native (the model's top-k; 0: the largest K the policies can choose),
    renormalize, policy (the default), layers (per-layer policies or [])."""

    def __init__(self, n_experts, k_native=0, renormalize=False, policy=None, layers=(), name="", provenance=""):
        if not isinstance(n_experts, int) or not 1 <= n_experts <= _lib.AK_MAX_EXPERTS:
            raise ValueError("n_experts must be an int in 1..%d, got %r" % (_lib.AK_MAX_EXPERTS, n_experts))
        self.n_experts = n_experts
        self.k_native = int(k_native)
        self.renormalize = bool(renormalize)
        self.policy = policy if policy is not None else Policy.entropy()
        self.layers = list(layers)
        self.name, self.provenance = name, provenance
        if self.k_native == 0:  # as the CLI: the largest K the policies can choose is the baseline
            self.k_native = self.max_k()
        self.validate()

    def layer_policy(self, layer=None):
        """The policy of a layer: its own when the config has per-layer policies, else the default."""
        if layer is None or not self.layers:
            return self.policy
        if not 0 <= layer < len(self.layers):
            raise IndexError("layer %d out of range: the config has %d layers" % (layer, len(self.layers)))
        return self.layers[layer]

    def max_k(self):
        """The largest K any policy of the config can choose (id/weight slots per token)."""
        return max(p.max_k(self.n_experts) for p in [self.policy] + self.layers)

    def validate(self):
        c, keep = self.to_c()
        err = _lib.Error()
        _lib.check(_lib.lib.ak_config_validate(ctypes.byref(c), ctypes.byref(err)), err)
        del keep

    # ---------------------------------------------------------------- C conversion

    def to_c(self):
        """(ak_router_config, keepalive): the struct points into the keepalive array."""
        c = _lib.RouterConfig()
        c.name = self.name.encode()[:63]
        c.provenance = self.provenance.encode()[:255]
        c.n_experts, c.k_native, c.renormalize = self.n_experts, self.k_native, int(self.renormalize)
        c.default_policy = self.policy.to_c(self.n_experts)
        c.n_layers = len(self.layers)
        keep = (_lib.Policy * max(len(self.layers), 1))(*[p.to_c(self.n_experts) for p in self.layers])
        c.layers = ctypes.cast(keep, ctypes.POINTER(_lib.Policy)) if self.layers else None
        return c, keep

    @classmethod
    def from_c(cls, c):
        n = c.n_experts
        layers = [Policy.from_c(c.layers[i], n) for i in range(c.n_layers)] if c.n_layers else []
        return cls(n, c.k_native, bool(c.renormalize), Policy.from_c(c.default_policy, n), layers,
                   c.name.decode(), c.provenance.decode())

    @classmethod
    def _from_library(cls, fill):
        """Runs fill(config_ptr, err_ptr) -> status, copies the result and frees the C copy."""
        c, err = _lib.RouterConfig(), _lib.Error()
        status = fill(ctypes.byref(c), ctypes.byref(err))
        try:
            _lib.check(status, err)
            return cls.from_c(c)
        finally:
            _lib.lib.ak_config_free(ctypes.byref(c))

    # ---------------------------------------------------------------- JSON and presets

    @classmethod
    def from_json(cls, text):
        data = text.encode() if isinstance(text, str) else bytes(text)
        return cls._from_library(lambda c, e: _lib.lib.ak_config_from_json(data, len(data), c, e))

    @classmethod
    def load(cls, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise _lib.FileError("AK_ERR_IO", "%s: %s" % (path, e.strerror)) from e
        try:
            return cls.from_json(data)
        except _lib.AdaptiveKError as e:
            raise type(e)(e.status, "%s: %s" % (path, e)) from None

    @classmethod
    def preset(cls, name):
        """A built-in config (see presets()): the model's expert count, top-k and normalisation."""
        return cls._from_library(lambda c, e: _lib.lib.ak_preset_get(name.encode(), c, e))

    def to_json(self):
        c, keep = self.to_c()
        out, err = ctypes.c_void_p(), _lib.Error()
        _lib.check(_lib.lib.ak_config_to_json(ctypes.byref(c), ctypes.byref(out), ctypes.byref(err)), err)
        del keep
        return _lib.take_c_string(out.value)

    def save(self, path):
        text = self.to_json()
        with open(path, "w") as f:
            f.write(text)

    def __eq__(self, other):
        return isinstance(other, RouterConfig) and vars(self) == vars(other)

    def __repr__(self):
        return "RouterConfig(n_experts=%d, k_native=%d, renormalize=%r, policy=%r, layers=%d, name=%r)" % (
            self.n_experts, self.k_native, self.renormalize, self.policy, len(self.layers), self.name)


def presets():
    """Names of the built-in configs."""
    lib = _lib.lib
    return [lib.ak_preset_name(i).decode() for i in range(lib.ak_preset_count())]
