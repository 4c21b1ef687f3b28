#!/usr/bin/env python3
"""Rewrites a GGUF v3 model with every tensor as F32 holding exactly the
values it stored (make interop, tests/interop/run.sh).

    python3 dequantize.py IN.gguf OUT.gguf [LIBGGML_BASE.so]
    python3 dequantize.py --is-f32 IN.gguf LIBGGML_BASE.so   (status 0: nothing to decode)

llama.cpp multiplies an F32 matrix by F32 activations, but a quantized or
16-bit matrix by activations rounded to a kind of its own (Q8_0 or Q8_K
blocks, F16, BF16): the F32 copy is the same model without that rounding,
which is what the interop test measures llama.cpp's rounding with.
F16, BF16 and Q8_0 are decoded here (standard library only); with
LIBGGML_BASE.so (node-llama-cpp ships ggml's) every type is decoded by
ggml's own dequantizer (its type traits' to_float), through ctypes.
"""
import ctypes
import struct
import sys

F32, F16, Q8_0, BF16 = 0, 1, 8, 30
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        value = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return value[0] if len(value) == 1 else value

    def skip_value(self, kind):
        if kind == STRING:
            length = self.take("Q")
            self.pos += length
        elif kind == ARRAY:
            elem, count = self.take("I"), self.take("Q")
            for _ in range(count):
                self.skip_value(elem)
        else:
            self.pos += struct.calcsize("<" + SCALAR[kind])


class Ggml:
    """ggml's type sizes and dequantizers (struct ggml_type_traits)."""

    TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64)

    class Traits(ctypes.Structure):
        _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                    ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                    ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p), ("from_float_ref", ctypes.c_void_p)]

    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.ggml_get_type_traits.restype = ctypes.POINTER(self.Traits)
        self.lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        self.lib.ggml_blck_size.restype = ctypes.c_int64
        self.lib.ggml_type_size.restype = ctypes.c_size_t

    def traits(self, kind):
        t = self.lib.ggml_get_type_traits(kind).contents
        # the struct's layout is checked against ggml's own accessors
        if t.blck_size != self.lib.ggml_blck_size(kind) or t.type_size != self.lib.ggml_type_size(kind):
            sys.exit("dequantize.py: this libggml-base's ggml_type_traits has another layout")
        return t

    def nbytes(self, kind, n):
        t = self.traits(kind)
        return n // t.blck_size * t.type_size

    def to_f32(self, kind, raw, n):
        t = self.traits(kind)
        if not t.to_float:
            sys.exit(f"dequantize.py: ggml has no dequantizer for type {kind}")
        out = (ctypes.c_float * n)()
        src = ctypes.create_string_buffer(bytes(raw), len(raw))
        self.TO_FLOAT(t.to_float)(ctypes.cast(src, ctypes.c_void_p), out, n)
        return bytes(out)


GGML = None  # a Ggml, when main() is given libggml-base


def f32_values(kind, raw, n):
    """The n values a tensor of `kind` stores, as F32 bytes."""
    if GGML and kind != F32:
        return GGML.to_f32(kind, raw, n)
    if kind == F32:
        return raw
    if kind == F16:
        return struct.pack(f"<{n}f", *struct.unpack(f"<{n}e", raw))
    if kind == BF16:
        halves = struct.unpack(f"<{n}H", raw)
        return struct.pack(f"<{n}I", *(h << 16 for h in halves))
    if kind == Q8_0:  # blocks of 32: an f16 scale, then 32 int8
        out = []
        for b in range(n // 32):
            d = struct.unpack_from("<e", raw, 34 * b)[0]
            out.extend(d * q for q in struct.unpack_from("<32b", raw, 34 * b + 2))
        return struct.pack(f"<{n}f", *out)
    sys.exit(f"dequantize.py: tensor type {kind} is not F32, F16, BF16 or Q8_0")


def tensor_bytes(kind, n):
    if GGML:
        return GGML.nbytes(kind, n)
    if kind not in (F32, F16, BF16, Q8_0):
        sys.exit(f"dequantize.py: tensor type {kind} is not F32, F16, BF16 or Q8_0 (give LIBGGML_BASE.so)")
    return {F32: 4 * n, F16: 2 * n, BF16: 2 * n, Q8_0: 34 * (n // 32)}[kind]


def parse_gguf(path):
    """(key/value bytes, alignment, [(name, ne, type, raw bytes)]) of a GGUF v3 file."""
    data = open(path, "rb").read()
    r = Reader(data)
    magic, version, n_tensors, n_kv = r.take("4s"), r.take("I"), r.take("Q"), r.take("Q")
    if magic != b"GGUF" or version != 3:
        sys.exit(f"{sys.argv[0]}: {path} is not a GGUF v3 file")
    kv_start, alignment = r.pos, 32
    for _ in range(n_kv):
        key = r.take(str(r.take("Q")) + "s")
        kind = r.take("I")
        if key == b"general.alignment":
            alignment = struct.unpack_from("<I", data, r.pos)[0]
        r.skip_value(kind)
    kv_blob = data[kv_start:r.pos]
    infos = []
    for _ in range(n_tensors):
        name = r.take(str(r.take("Q")) + "s")
        ne = [r.take("Q") for _ in range(r.take("I"))]
        kind, offset = r.take("I"), r.take("Q")
        infos.append((name, ne, kind, offset))
    data_start = (r.pos + alignment - 1) // alignment * alignment
    tensors = []
    for name, ne, kind, offset in infos:
        n = 1
        for d in ne:
            n *= d
        start = data_start + offset
        tensors.append((name, ne, kind, data[start:start + tensor_bytes(kind, n)]))
    return kv_blob, n_kv, alignment, tensors


def read_gguf(path):
    return parse_gguf(path)[3]


def write_gguf(dst, kv_blob, n_kv, alignment, tensors):
    """A GGUF v3 file of these key/values and (name, ne, type, raw bytes) tensors."""
    head, body, at = bytearray(), bytearray(), 0
    for name, ne, kind, raw in tensors:
        head += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(ne))
        head += struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", kind, at)
        body += raw + bytes(-len(raw) % alignment)
        at += len(raw) + (-len(raw) % alignment)
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), n_kv)) + kv_blob + head
    out += bytes(-len(out) % alignment)
    with open(dst, "wb") as f:
        f.write(out + body)


def main(src, dst):
    kv_blob, n_kv, alignment, tensors = parse_gguf(src)
    decoded = []
    for name, ne, kind, raw in tensors:
        n = 1
        for d in ne:
            n *= d
        decoded.append((name, ne, F32, f32_values(kind, raw, n)))
    write_gguf(dst, kv_blob, n_kv, alignment, decoded)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--is-f32":
        GGML = Ggml(sys.argv[3])
        sys.exit(0 if all(kind == F32 for _, _, kind, _ in read_gguf(sys.argv[2])) else 1)
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: dequantize.py IN.gguf OUT.gguf [LIBGGML_BASE.so]")
    if len(sys.argv) == 4:
        GGML = Ggml(sys.argv[3])
    main(sys.argv[1], sys.argv[2])
