"""Reads and writes GGUF files (version 3, little-endian), the container of llama.cpp models.

Only what the benchmark model generator needs: the key-value metadata of every GGUF value type,
and tensor records for F32, F16 and BF16 data. The file starts with the magic "GGUF", a uint32
version, a uint64 tensor count and a uint64 key-value count. The key-value pairs follow, then
the tensor records (name, dimension count, dimensions innermost first, ggml type, offset into
the data section). After padding to the alignment (general.alignment, default 32) comes the
data section, where each tensor's data is aligned the same way.
"""
import struct

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32

# GGUF value types.
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = range(13)
_SCALAR_FORMATS = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
                   FLOAT32: "<f", BOOL: "<?", UINT64: "<Q", INT64: "<q", FLOAT64: "<d"}

# ggml tensor types written here, with their element sizes.
GGML_F32, GGML_F16 = 0, 1
GGML_TYPE_SIZE = {GGML_F32: 4, GGML_F16: 2}


class GgufError(Exception):
    pass


class _Reader:
    def __init__(self, f, path):
        self.f = f
        self.path = path

    def take(self, fmt):
        size = struct.calcsize(fmt)
        data = self.f.read(size)
        if len(data) != size:
            raise GgufError(f"{self.path}: the file ends inside its header")
        return struct.unpack(fmt, data)[0]

    def string(self):
        n = self.take("<Q")
        if n > 1 << 30:
            raise GgufError(f"{self.path}: a string of {n} bytes; the file is corrupt")
        data = self.f.read(n)
        if len(data) != n:
            raise GgufError(f"{self.path}: the file ends inside a string")
        return data.decode("utf-8")

    def value(self, kind):
        if kind == STRING:
            return self.string()
        if kind == ARRAY:
            item_kind = self.take("<I")
            n = self.take("<Q")
            return (item_kind, [self.value(item_kind) for _ in range(n)])
        if kind not in _SCALAR_FORMATS:
            raise GgufError(f"{self.path}: unknown GGUF value type {kind}")
        return self.take(_SCALAR_FORMATS[kind])


def read_header(path):
    """Returns (metadata, tensors, data_offset). metadata maps each key to (type, value), where an
    array's value is (item type, list). tensors is a list of (name, dims, ggml type, offset)."""
    with open(path, "rb") as f:
        r = _Reader(f, path)
        if f.read(4) != GGUF_MAGIC:
            raise GgufError(f"{path}: not a GGUF file (no GGUF magic)")
        version = r.take("<I")
        if version != 3:
            raise GgufError(f"{path}: GGUF version {version}; only version 3 is read")
        n_tensors = r.take("<Q")
        n_kv = r.take("<Q")
        metadata = {}
        for _ in range(n_kv):
            key = r.string()
            kind = r.take("<I")
            metadata[key] = (kind, r.value(kind))
        tensors = []
        for _ in range(n_tensors):
            name = r.string()
            n_dims = r.take("<I")
            dims = [r.take("<Q") for _ in range(n_dims)]
            tensors.append((name, dims, r.take("<I"), r.take("<Q")))
        alignment = metadata.get("general.alignment", (UINT32, DEFAULT_ALIGNMENT))[1]
        data_offset = -(-f.tell() // alignment) * alignment
    return metadata, tensors, data_offset


def _encode_value(kind, value):
    if kind == STRING:
        data = value.encode("utf-8")
        return struct.pack("<Q", len(data)) + data
    if kind == ARRAY:
        item_kind, items = value
        return struct.pack("<IQ", item_kind, len(items)) + b"".join(_encode_value(item_kind, v) for v in items)
    return struct.pack(_SCALAR_FORMATS[kind], value)


class Writer:
    """A GGUF file being written. The tensor records are declared up front, and the data is then
    streamed tensor by tensor in the declared order, so a 14 GB model never sits in memory."""

    def __init__(self, path, metadata, tensors):
        """metadata: key -> (type, value). tensors: list of (name, shape outermost first, ggml type)."""
        self.alignment = metadata.get("general.alignment", (UINT32, DEFAULT_ALIGNMENT))[1]
        self.f = open(path, "wb")
        header = bytearray(GGUF_MAGIC)
        header += struct.pack("<IQQ", 3, len(tensors), len(metadata))
        for key, (kind, value) in metadata.items():
            header += _encode_value(STRING, key) + struct.pack("<I", kind) + _encode_value(kind, value)
        self.expected = []
        offset = 0
        for name, shape, ggml_type in tensors:
            dims = list(reversed(shape))
            header += _encode_value(STRING, name) + struct.pack("<I", len(dims))
            header += b"".join(struct.pack("<Q", d) for d in dims)
            header += struct.pack("<IQ", ggml_type, offset)
            n_bytes = GGML_TYPE_SIZE[ggml_type]
            for d in shape:
                n_bytes *= d
            self.expected.append((name, n_bytes))
            offset = self._aligned(offset + n_bytes)
        header += b"\0" * (self._aligned(len(header)) - len(header))
        self.f.write(header)
        self.next = 0

    def _aligned(self, n):
        return -(-n // self.alignment) * self.alignment

    def write_tensor(self, name, data):
        """data: a contiguous numpy array of the declared shape and type."""
        expected_name, n_bytes = self.expected[self.next]
        if name != expected_name or data.nbytes != n_bytes:
            raise GgufError(f"tensor {name} ({data.nbytes} bytes) written where {expected_name} "
                            f"({n_bytes} bytes) was declared")
        data.tofile(self.f)
        self.f.write(b"\0" * (self._aligned(n_bytes) - n_bytes))
        self.next += 1

    def close(self):
        if self.next != len(self.expected):
            raise GgufError(f"{len(self.expected) - self.next} declared tensors were not written")
        self.f.close()
