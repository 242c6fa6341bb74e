"""router.py - AdaptiveKRouter: the seeds' SDK surface over libadaptivek.

    router = AdaptiveKRouter(k_values=[1, 2, 4], h_thresholds=[0.6, 1.2])
    router.calibrate(validation_router_logits, target_avg_k=2.0)
    k, expert_ids, weights = router.route(router_logits)

Differences from the seeds' SDK, on purpose: route() takes router logits (the gate's
output), not hidden states; k_values[0] is chosen when H < h_thresholds[0] (the SDK never
chose it); calibration fits thresholds to the router's own entropies on the data given,
never to random numbers; every policy of the library is available (Policy), per-layer
policies come from a RouterConfig."""
import ctypes

import numpy as np

from . import _lib
from .arrays import as_logits, as_output
from .config import RouterConfig
from .policy import Policy


class AdaptiveKRouter:
    def __init__(self, k_values=(1, 2, 4), h_thresholds=(0.6, 1.2), unit="nats", *, policy=None, n_experts=None,
                 k_native=0, renormalize=False, config=None):
        """The entropy policy (k_values, h_thresholds, unit), or any Policy; n_experts may be left
        to the first logits routed. config= (a RouterConfig) replaces all the other arguments."""
        if config is not None:
            self._config = config
            self._pending = None
            return
        self._pending = dict(policy=policy if policy is not None else Policy.entropy(k_values, h_thresholds, unit),
                             k_native=k_native, renormalize=renormalize)
        self._config = None
        if n_experts is not None:
            self._bind(n_experts)

    @classmethod
    def from_preset(cls, name, policy=None):
        c = RouterConfig.preset(name)
        if policy is not None:
            c.policy = policy
            c.validate()
        return cls(config=c)

    @classmethod
    def load(cls, path):
        """A router from a router-config JSON file (docs/router-config.md)."""
        return cls(config=RouterConfig.load(path))

    def _bind(self, n_experts):
        if self._config is None:
            self._config = RouterConfig(int(n_experts), **self._pending)
        elif self._config.n_experts != n_experts:
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "the router has %d experts, the logits have %d" % (
                    self._config.n_experts, n_experts))
        return self._config

    @property
    def config(self):
        """The RouterConfig (None until the expert count is known)."""
        return self._config

    def policy(self, layer=None):
        return self._config.layer_policy(layer) if self._config else self._pending["policy"]

    def save(self, path):
        if self._config is None:
            raise ValueError("the router's expert count is not known yet: route or calibrate first")
        self._config.save(path)

    # ---------------------------------------------------------------- routing

    def route(self, router_logits, layer=None, return_entropy=False):
        """Routes [tokens, experts] logits with the policy of `layer` (default: the config's
        default policy), or [layers, tokens, experts] with each layer's policy.
        Returns (k, expert_ids, weights[, entropy]): k int32 [..., tokens]; expert_ids int32 and
        weights float32 [..., tokens, slots] in descending probability, unused slots -1 and 0;
        entropy float32 nats. slots = the largest K the policies can choose."""
        a, torch_in = as_logits(router_logits, ndims=(2, 3))
        config = self._bind(a.shape[-1])
        if a.ndim == 3 and layer is not None:
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "layer= is for [tokens, experts] logits; [layers, tokens, experts] "
                "logits use each layer's policy")
        if a.ndim == 2:
            policies = [config.layer_policy(layer)]
        else:
            policies = [config.layer_policy(i) for i in range(a.shape[0])]
        slots = max(p.max_k(config.n_experts) for p in policies)
        outs = self._route_policies(a.reshape((-1,) + a.shape[-2:]), policies, slots, config.renormalize)
        outs = [o.reshape(a.shape[:-1] + o.shape[2:]) for o in outs]
        if not return_entropy:
            outs = outs[:3]
        return tuple(as_output(o, torch_in) for o in outs)

    def route_into(self, logits, slots, renormalize, layer=None):
        """(k, ids, weights) with exactly `slots` columns for [tokens, experts] NumPy logits (the
        engines' interface: vLLM passes its top-k and normalisation)."""
        config = self._bind(logits.shape[-1])
        policy = config.layer_policy(layer)
        need = policy.max_k(config.n_experts)
        if slots < need:
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "%d slots per token, but the policy can choose up to %d experts (%s)" % (
                    slots, need, policy.describe(config.n_experts)))
        k, ids, w, _ = self._route_policies(logits[None], [policy], slots, renormalize)
        return k[0], ids[0], w[0]

    @staticmethod
    def _route_policies(a, policies, slots, renormalize):
        """a: [layers, tokens, experts], one policy per layer; the library writes straight into
        the result arrays."""
        n_layers, n_tokens, n_experts = a.shape
        k = np.empty((n_layers, n_tokens), np.int32)
        ids = np.empty((n_layers, n_tokens, slots), np.int32)
        w = np.empty((n_layers, n_tokens, slots), np.float32)
        h = np.empty((n_layers, n_tokens), np.float32)
        fn = _lib.lib.ak_route_f16 if a.dtype == np.float16 else _lib.lib.ak_route
        err = _lib.Error()
        for i, policy in enumerate(policies):
            c = policy.to_c(n_experts)
            out = _lib.RouteOut(n_tokens, slots, k[i].ctypes.data, ids[i].ctypes.data, w[i].ctypes.data,
                                h[i].ctypes.data)
            status = fn(ctypes.byref(c), a[i].ctypes.data, n_tokens, n_experts, int(renormalize),
                        ctypes.byref(out), ctypes.byref(err))
            if status and n_layers > 1:
                err.msg = ("layer %d: " % i).encode() + err.msg[:480]
            _lib.check(status, err)
        return k, ids, w, h

    # ---------------------------------------------------------------- calibration

    def calibrate(self, router_logits, target_avg_k, per_layer=False):
        """Fits the policy on validation logits so the average K hits target_avg_k; returns
        the average K reached on them. [tokens, experts]: one policy for every layer (per-layer
        policies are dropped); [layers, tokens, experts]: one parameter for all layers, or one
        per layer with per_layer=True (the config then holds a policy per layer).
        Entropy policies scale their thresholds (shape kept), top-p and ratio fit p or r."""
        a, _ = as_logits(router_logits, ndims=(2, 3))
        if a.dtype != np.float32:
            a = a.astype(np.float32)  # calibration is not a hot path
        config = self._bind(a.shape[-1])
        achieved, err = ctypes.c_double(), _lib.Error()
        if a.ndim == 2:
            if per_layer:
                raise _lib.InvalidArgumentError(
                    "AK_ERR_INVALID_ARG", "per_layer=True needs [layers, tokens, experts] logits")
            c = config.policy.to_c(config.n_experts)
            status = _lib.lib.ak_calibrate_policy(ctypes.byref(c), a.ctypes.data, a.shape[0], a.shape[1],
                                                  float(target_avg_k), ctypes.byref(achieved), ctypes.byref(err))
            _lib.check(status, err)
            config.policy = Policy.from_c(c, config.n_experts)
            config.layers = []
            return achieved.value
        n_layers = a.shape[0]
        if config.layers and len(config.layers) != n_layers:
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "the config has %d layer policies, the logits %d layers" % (
                    len(config.layers), n_layers))
        work = RouterConfig(config.n_experts, config.k_native, config.renormalize, config.policy,
                            config.layers or [config.policy] * n_layers, config.name, config.provenance)
        c, keep = work.to_c()
        status = _lib.lib.ak_calibrate_config(ctypes.byref(c), a.ctypes.data, n_layers, a.shape[1],
                                              float(target_avg_k), int(per_layer), ctypes.byref(achieved),
                                              ctypes.byref(err))
        _lib.check(status, err)
        calibrated = RouterConfig.from_c(c)
        del keep
        if all(p == calibrated.layers[0] for p in calibrated.layers):
            config.policy, config.layers = calibrated.layers[0], []  # one policy for every layer
        else:
            config.policy, config.layers = calibrated.policy, calibrated.layers
        return achieved.value

    def __repr__(self):
        if self._config is None:
            return "AdaptiveKRouter(policy=%r, n_experts=None)" % self._pending["policy"]
        return "AdaptiveKRouter(config=%r)" % self._config
