"""policy.py - a routing policy as a Python value (adaptivek.h's ak_policy).

A Policy holds its parameters in Python; the C struct is built when an expert count is
known (top-p, ratio and threshold policies without k_max run up to all experts)."""
import ctypes

from . import _lib

UNITS = {"nats": 0, "bits": 1, "normalized": 2}
_UNIT_NAME = {v: k for k, v in UNITS.items()}
KINDS = ("fixed", "entropy", "top-p", "ratio", "threshold")


def _shortest_f32(x):
    """The shortest decimal that reads back as the same float32 (0.6, not 0.6000000238...)."""
    for digits in range(1, 10):
        v = float("%.*g" % (digits, x))
        if ctypes.c_float(v).value == x:
            return v
    return float(x)


def _unit_code(unit):
    if unit not in UNITS:
        raise ValueError("unit must be one of %s, got %r" % (", ".join(UNITS), unit))
    return UNITS[unit]


class Policy:
    """One layer's rule for K. Build with Policy.fixed / entropy / top_p / ratio / threshold."""

    __slots__ = ("kind", "k", "k_values", "thresholds", "unit", "p", "k_min", "k_max")

    def __init__(self, kind, k=None, k_values=(), thresholds=(), unit="nats", p=None, k_min=1, k_max=None):
        if kind not in KINDS:
            raise ValueError("policy kind must be one of %s, got %r" % (", ".join(KINDS), kind))
        _unit_code(unit)
        self.kind, self.k, self.unit, self.p = kind, k, unit, p
        self.k_values = tuple(int(v) for v in k_values)
        self.thresholds = tuple(float(v) for v in thresholds)
        self.k_min, self.k_max = k_min, k_max
        if kind == "entropy" and (len(self.k_values) > _lib.AK_MAX_LEVELS
                                  or len(self.thresholds) != max(len(self.k_values) - 1, 0)):
            raise ValueError("an entropy policy needs len(k_values) - 1 thresholds and at most %d levels "
                             "(got %d k values, %d thresholds)"
                             % (_lib.AK_MAX_LEVELS, len(self.k_values), len(self.thresholds)))

    @classmethod
    def fixed(cls, k):
        """Static top-k."""
        return cls("fixed", k=int(k))

    @classmethod
    def entropy(cls, k_values=(1, 2, 4), thresholds=(0.6, 1.2), unit="nats"):
        """The seeds' rule: H < thresholds[0] -> k_values[0]; thresholds[i-1] <= H < thresholds[i]
        -> k_values[i]; H >= the last threshold -> the last K. Unlike the seeds' SDK, k_values[0]
        is reachable."""
        return cls("entropy", k_values=k_values, thresholds=thresholds, unit=unit)

    @classmethod
    def top_p(cls, p, k_min=1, k_max=None):
        """The smallest prefix of the sorted probabilities whose sum reaches p."""
        return cls("top-p", p=float(p), k_min=k_min, k_max=k_max)

    @classmethod
    def ratio(cls, r, k_min=1, k_max=None):
        """Keep rank i if p_i >= r * p_max."""
        return cls("ratio", p=float(r), k_min=k_min, k_max=k_max)

    @classmethod
    def threshold(cls, p_min, k_min=1, k_max=None):
        """Keep rank i if p_i >= p_min."""
        return cls("threshold", p=float(p_min), k_min=k_min, k_max=k_max)

    # ---------------------------------------------------------------- C conversion

    def to_c(self, n_experts):
        """The ak_policy for n_experts experts, validated (ConfigError when it does not fit)."""
        lib = _lib.lib
        k_max = self.k_max if self.k_max is not None else n_experts
        if self.kind == "fixed":
            c = lib.ak_policy_fixed(self.k)
        elif self.kind == "entropy":
            n = len(self.k_values)
            kv = (ctypes.c_int * max(n, 1))(*self.k_values)
            th = (ctypes.c_float * max(n - 1, 1))(*self.thresholds)
            c = lib.ak_policy_entropy(n, kv, th, _unit_code(self.unit))
        else:
            make = {"top-p": lib.ak_policy_top_p, "ratio": lib.ak_policy_ratio,
                    "threshold": lib.ak_policy_threshold}[self.kind]
            c = make(self.p, int(self.k_min), int(k_max))
        err = _lib.Error()
        _lib.check(lib.ak_policy_validate(ctypes.byref(c), int(n_experts), ctypes.byref(err)), err)
        return c

    @classmethod
    def from_c(cls, c, n_experts=None):
        """The Policy of an ak_policy (k_max equal to n_experts is kept as None: 'all experts')."""
        kind = _lib.lib.ak_policy_kind_name(c.kind).decode()
        if kind == "fixed":
            return cls.fixed(c.k)
        if kind == "entropy":
            n = c.n_levels
            thresholds = [_shortest_f32(t) for t in c.thresholds[:n - 1]]
            return cls.entropy(list(c.k_values[:n]), thresholds, _UNIT_NAME[c.unit])
        k_max = None if c.k_max == n_experts else c.k_max
        p = {"top-p": c.top_p, "ratio": c.ratio, "threshold": c.p_min}[kind]
        return cls(kind, p=_shortest_f32(p), k_min=c.k_min, k_max=k_max)

    def max_k(self, n_experts):
        """The largest K the policy can choose with n_experts experts (the id/weight slots)."""
        c = self.to_c(n_experts)
        return _lib.lib.ak_policy_max_k(ctypes.byref(c), int(n_experts))

    def describe(self, n_experts):
        """The library's one-line description, e.g. 'entropy k={1,2,4} h={0.6,1.2} nats'."""
        c = self.to_c(n_experts)
        buf = ctypes.create_string_buffer(256)
        _lib.lib.ak_policy_describe(ctypes.byref(c), buf, len(buf))
        return buf.value.decode()

    # ---------------------------------------------------------------- value semantics

    def _key(self):
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other):
        return isinstance(other, Policy) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        if self.kind == "fixed":
            return "Policy.fixed(%d)" % self.k
        if self.kind == "entropy":
            return "Policy.entropy(k_values=%r, thresholds=%r, unit=%r)" % (
                list(self.k_values), [round(t, 6) for t in self.thresholds], self.unit)
        return "Policy.%s(%g, k_min=%r, k_max=%r)" % (self.kind.replace("-", "_"), self.p, self.k_min, self.k_max)
