"""_lib.py - the ctypes view of libadaptivek.so.0: where the library is found, the C structs
of include/adaptivek.h mirrored field by field, the prototypes, and one error convention
(every ak_status other than AK_OK becomes a Python exception carrying the C message)."""
import ctypes
import ctypes.util
import os

AK_MAX_EXPERTS = 1024
AK_MAX_LEVELS = 16
AK_ENTROPY_BINS = 32

# ak_status, in the header's order
AK_OK, AK_ERR_INVALID_ARG, AK_ERR_NONFINITE, AK_ERR_CONFIG, AK_ERR_JSON, AK_ERR_IO, AK_ERR_NOMEM, \
    AK_ERR_FORMAT = range(8)


class AdaptiveKError(Exception):
    """An error reported by libadaptivek: .status is the ak_status name (e.g. 'AK_ERR_CONFIG')."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status

    def __str__(self):
        return self.args[0]


class InvalidArgumentError(AdaptiveKError, ValueError):
    """A bad argument: wrong dtype, shape or layout, too few slots, zero tokens..."""


class NonFiniteLogitsError(AdaptiveKError, ValueError):
    """NaN or Inf in the router logits (the message names the token and expert)."""


class ConfigError(AdaptiveKError, ValueError):
    """An invalid policy or router config, or a calibration target out of reach."""


class JSONConfigError(AdaptiveKError, ValueError):
    """Malformed router-config JSON (the message gives the position)."""


class FileError(AdaptiveKError, OSError):
    """A file could not be read or written."""


class OutOfMemoryError(AdaptiveKError, MemoryError):
    pass


class FormatError(AdaptiveKError, ValueError):
    """A malformed or unsupported file."""


_EXCEPTION = {AK_ERR_INVALID_ARG: InvalidArgumentError, AK_ERR_NONFINITE: NonFiniteLogitsError,
              AK_ERR_CONFIG: ConfigError, AK_ERR_JSON: JSONConfigError, AK_ERR_IO: FileError,
              AK_ERR_NOMEM: OutOfMemoryError, AK_ERR_FORMAT: FormatError}
_STATUS_NAME = {AK_ERR_INVALID_ARG: "AK_ERR_INVALID_ARG", AK_ERR_NONFINITE: "AK_ERR_NONFINITE",
                AK_ERR_CONFIG: "AK_ERR_CONFIG", AK_ERR_JSON: "AK_ERR_JSON", AK_ERR_IO: "AK_ERR_IO",
                AK_ERR_NOMEM: "AK_ERR_NOMEM", AK_ERR_FORMAT: "AK_ERR_FORMAT"}


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("msg", ctypes.c_char * 512)]


class Policy(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int), ("k", ctypes.c_int), ("n_levels", ctypes.c_int),
                ("k_values", ctypes.c_int * AK_MAX_LEVELS), ("thresholds", ctypes.c_float * (AK_MAX_LEVELS - 1)),
                ("unit", ctypes.c_int), ("top_p", ctypes.c_float), ("ratio", ctypes.c_float),
                ("p_min", ctypes.c_float), ("k_min", ctypes.c_int), ("k_max", ctypes.c_int)]


class RouteOut(ctypes.Structure):
    _fields_ = [("n_tokens", ctypes.c_int), ("slots", ctypes.c_int), ("k", ctypes.c_void_p),
                ("ids", ctypes.c_void_p), ("weights", ctypes.c_void_p), ("entropy", ctypes.c_void_p)]


class RouterConfig(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 64), ("provenance", ctypes.c_char * 256), ("n_experts", ctypes.c_int),
                ("k_native", ctypes.c_int), ("renormalize", ctypes.c_int), ("n_layers", ctypes.c_int),
                ("default_policy", Policy), ("layers", ctypes.POINTER(Policy))]


class LayerStats(ctypes.Structure):
    _fields_ = [("n_experts", ctypes.c_int), ("k_native", ctypes.c_int), ("n_tokens", ctypes.c_uint64),
                ("k_sum", ctypes.c_uint64), ("k_hist", ctypes.c_uint64 * (AK_MAX_EXPERTS + 1)),
                ("n_entropy", ctypes.c_uint64), ("entropy_sum", ctypes.c_double),
                ("entropy_hist", ctypes.c_uint64 * AK_ENTROPY_BINS)]


def _candidates():
    env = os.environ.get("ADAPTIVEK_LIB")
    if env:
        return [env]  # an explicit choice is the only one tried
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "libadaptivek.so.0"),  # copied in by setup.py
            os.path.join(here, "..", "..", "build", "src", "router", "libadaptivek.so.0"),  # source tree
            ctypes.util.find_library("adaptivek") or "libadaptivek.so.0"]  # cmake --install


def _load():
    tried = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("adaptive_k: libadaptivek.so.0 not found; build it with cmake (target adaptivek_shared) "
                      "or set ADAPTIVEK_LIB to its path. Tried: " + "; ".join(tried))


lib = _load()
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.argtypes = [ctypes.c_void_p]
_libc.free.restype = None

_P = ctypes.POINTER
_int, _float, _double, _vp, _str = ctypes.c_int, ctypes.c_float, ctypes.c_double, ctypes.c_void_p, ctypes.c_char_p
_PROTOTYPES = {
    "ak_status_str": (_str, [_int]),
    "ak_policy_fixed": (Policy, [_int]),
    "ak_policy_entropy": (Policy, [_int, _P(_int), _P(_float), _int]),
    "ak_policy_entropy_default": (Policy, []),
    "ak_policy_top_p": (Policy, [_float, _int, _int]),
    "ak_policy_ratio": (Policy, [_float, _int, _int]),
    "ak_policy_threshold": (Policy, [_float, _int, _int]),
    "ak_policy_validate": (_int, [_P(Policy), _int, _P(Error)]),
    "ak_policy_max_k": (_int, [_P(Policy), _int]),
    "ak_policy_min_k": (_int, [_P(Policy)]),
    "ak_policy_kind_name": (_str, [_int]),
    "ak_policy_describe": (None, [_P(Policy), _str, ctypes.c_size_t]),
    "ak_entropy_to_unit": (_float, [_float, _int, _int]),
    "ak_entropy_from_unit": (_float, [_float, _int, _int]),
    "ak_route": (_int, [_P(Policy), _vp, _int, _int, _int, _P(RouteOut), _P(Error)]),
    "ak_route_f16": (_int, [_P(Policy), _vp, _int, _int, _int, _P(RouteOut), _P(Error)]),
    "ak_config_validate": (_int, [_P(RouterConfig), _P(Error)]),
    "ak_config_free": (None, [_P(RouterConfig)]),
    "ak_config_from_json": (_int, [_str, ctypes.c_size_t, _P(RouterConfig), _P(Error)]),
    "ak_config_to_json": (_int, [_P(RouterConfig), _P(_vp), _P(Error)]),
    "ak_config_max_k": (_int, [_P(RouterConfig)]),
    "ak_preset_count": (_int, []),
    "ak_preset_name": (_str, [_int]),
    "ak_preset_get": (_int, [_str, _P(RouterConfig), _P(Error)]),
    "ak_calibrate_policy": (_int, [_P(Policy), _vp, _int, _int, _double, _P(_double), _P(Error)]),
    "ak_calibrate_config": (_int, [_P(RouterConfig), _vp, _int, _int, _double, _int, _P(_double), _P(Error)]),
    "ak_stats_init": (None, [_P(LayerStats), _int, _int]),
    "ak_stats_add": (None, [_P(LayerStats), _P(RouteOut)]),
    "ak_stats_avg_k": (_double, [_P(LayerStats)]),
}
for _name, (_res, _args) in _PROTOTYPES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def check(status, err):
    """Raises the exception for a failed call (status != AK_OK) with the library's message."""
    if status == AK_OK:
        return
    exc = _EXCEPTION.get(status, AdaptiveKError)
    msg = err.msg.decode("utf-8", "replace") or lib.ak_status_str(status).decode()
    name = _STATUS_NAME.get(status, "AK_ERR_%d" % status)
    raise exc(name, msg)


def take_c_string(ptr):
    """Copies a malloc'd C string and frees it."""
    try:
        return ctypes.string_at(ptr).decode("utf-8")
    finally:
        _libc.free(ptr)
