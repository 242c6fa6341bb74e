"""gguf.py - a small GGUF reader for NumPy: the key/values and the F32/F16/BF16 tensors of a
file (memory-mapped, no copy), enough to read a model's router weights (blk.N.ffn_gate_inp)
and its expert counts. Quantised tensors are listed but not decoded here (the engine
reads them). Malformed files raise FormatError naming what is wrong."""
import struct

import numpy as np

from ._lib import FormatError

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_TENSOR_DTYPES = {0: np.float32, 1: np.float16, 30: None}  # 30: bfloat16, widened on read
_TYPE_NAMES = {0: "f32", 1: "f16", 2: "q4_0", 3: "q4_1", 6: "q5_0", 7: "q5_1", 8: "q8_0", 10: "q2_k", 11: "q3_k",
               12: "q4_k", 13: "q5_k", 14: "q6_k", 23: "iq4_xs", 30: "bf16", 39: "mxfp4"}


class _Cursor:
    def __init__(self, buf, path):
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise FormatError("AK_ERR_FORMAT", "%s: truncated at byte %d (needs %d more)" % (self.path, self.pos, n))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        n = self.unpack("<Q")
        return bytes(self.take(n)).decode("utf-8", "replace")

    def value(self, vtype, depth=0):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY and depth == 0:
            etype, n = self.unpack("<I"), self.unpack("<Q")
            if n > len(self.buf):
                raise FormatError("AK_ERR_FORMAT", "%s: an array of %d values is longer than the file" % (self.path, n))
            if etype in _SCALARS:
                fmt = _SCALARS[etype]
                return np.frombuffer(self.take(n * struct.calcsize(fmt)), dtype=np.dtype(fmt)).copy()
            return [self.value(etype, depth + 1) for _ in range(n)]
        raise FormatError("AK_ERR_FORMAT", "%s: unknown value type %d at byte %d" % (self.path, vtype, self.pos))


class GGUFFile:
    """.metadata: dict key -> value; .tensors: dict name -> (type name, shape, offset);
    .tensor(name): a NumPy array, shape in row-major order ([n_experts, n_embd] for a router)."""

    def __init__(self, path):
        self.path = path
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        cur = _Cursor(memoryview(self._map), path)
        if bytes(cur.take(4)) != b"GGUF":
            raise FormatError("AK_ERR_FORMAT", "%s: not a GGUF file (bad magic)" % path)
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise FormatError("AK_ERR_FORMAT", "%s: GGUF version %d (this reader knows 2 and 3)" % (path, version))
        n_tensors, n_kv = cur.unpack("<Q"), cur.unpack("<Q")
        self.metadata = {}
        for _ in range(n_kv):
            key = cur.string()
            self.metadata[key] = cur.value(cur.unpack("<I"))
        self.tensors = {}
        for _ in range(n_tensors):
            name = cur.string()
            n_dims = cur.unpack("<I")
            if n_dims > 4:
                raise FormatError("AK_ERR_FORMAT", "%s: tensor %s has %d dimensions" % (path, name, n_dims))
            dims = [cur.unpack("<Q") for _ in range(n_dims)]
            ttype, offset = cur.unpack("<I"), cur.unpack("<Q")
            self.tensors[name] = (_TYPE_NAMES.get(ttype, "type%d" % ttype), tuple(reversed(dims)), offset, ttype)
        align = int(self.metadata.get("general.alignment", 32))
        self._data = (cur.pos + align - 1) // align * align

    def tensor(self, name):
        if name not in self.tensors:
            raise KeyError("%s: no tensor %r" % (self.path, name))
        tname, shape, offset, ttype = self.tensors[name]
        if ttype not in _TENSOR_DTYPES:
            raise FormatError("AK_ERR_FORMAT", "%s: tensor %s is %s; this reader decodes f32, f16 and bf16" % (
                self.path, name, tname))
        count = int(np.prod(shape))
        itemsize = 4 if ttype == 0 else 2
        start = self._data + offset
        if start + count * itemsize > len(self._map):
            raise FormatError("AK_ERR_FORMAT", "%s: tensor %s runs past the end of the file" % (self.path, name))
        raw = self._map[start:start + count * itemsize]
        if ttype == 30:
            return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).reshape(shape)
        return raw.view(_TENSOR_DTYPES[ttype]).reshape(shape)

    def arch_value(self, key, default=None):
        """general.architecture's key, e.g. arch_value('expert_count') -> olmoe.expert_count."""
        arch = self.metadata.get("general.architecture", "")
        return self.metadata.get("%s.%s" % (arch, key), default)
