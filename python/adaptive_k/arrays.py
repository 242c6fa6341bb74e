"""arrays.py - router logits in, decisions out, for NumPy arrays and PyTorch CPU tensors.

Inputs are used in place (no copy) when they are C-contiguous float32 or float16; anything
else is refused with a message saying how to convert, rather than silently copied, so the
cost of a call is what it looks like. Outputs are NumPy arrays, or torch tensors sharing
their memory when the input was a tensor."""
import numpy as np

from . import _lib

_DTYPES = (np.dtype(np.float32), np.dtype(np.float16))


def _is_torch(x):
    return type(x).__module__.startswith("torch") and hasattr(x, "detach") and hasattr(x, "numpy")


def as_logits(x, ndims=(2,), name="router_logits"):
    """(array, is_torch): a NumPy view of x after the checks."""
    torch_in = _is_torch(x)
    if torch_in:
        if x.device.type != "cpu":
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "%s is on %s; libadaptivek routes on the CPU: pass %s.cpu()" % (
                    name, x.device, name))
        dtype = str(x.dtype).replace("torch.", "")
        if dtype not in ("float32", "float16"):
            raise TypeError("%s must be float32 or float16, got torch.%s: convert with %s.float()" % (
                name, dtype, name))
        if not x.is_contiguous():
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "%s is not contiguous: pass %s.contiguous()" % (name, name))
        a = x.detach().numpy()
    elif isinstance(x, np.ndarray):
        a = x
        if a.dtype not in _DTYPES:
            raise TypeError("%s must be float32 or float16, got %s: convert with %s.astype(numpy.float32)" % (
                name, a.dtype, name))
        if not a.flags.c_contiguous:
            raise _lib.InvalidArgumentError(
                "AK_ERR_INVALID_ARG", "%s is not C-contiguous: pass numpy.ascontiguousarray(%s)" % (name, name))
    else:
        raise TypeError("%s must be a numpy.ndarray or a torch.Tensor, got %s" % (name, type(x).__name__))
    if a.ndim not in ndims:
        want = " or ".join({2: "[tokens, experts]", 3: "[layers, tokens, experts]"}[d] for d in ndims)
        raise _lib.InvalidArgumentError(
            "AK_ERR_INVALID_ARG", "%s must have shape %s, got %s" % (name, want, tuple(a.shape)))
    if a.shape[-1] < 1 or a.shape[-1] > _lib.AK_MAX_EXPERTS:
        raise _lib.InvalidArgumentError(
            "AK_ERR_INVALID_ARG", "%s has %d experts; libadaptivek takes 1..%d" % (
                name, a.shape[-1], _lib.AK_MAX_EXPERTS))
    if a.size == 0 or a.shape[-2] >= 2 ** 31:
        raise _lib.InvalidArgumentError(
            "AK_ERR_INVALID_ARG", "%s has %d tokens; need 1 .. 2^31-1" % (name, a.shape[-2]))
    return a, torch_in


def as_output(a, torch_out):
    if not torch_out:
        return a
    import torch
    return torch.from_numpy(a)
