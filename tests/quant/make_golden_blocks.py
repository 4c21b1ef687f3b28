#!/usr/bin/env python3
"""Golden blocks of ggml's weight types, made by ggml itself.

For every type rwkvx reads as blocks, quantizes rows with ggml's
ggml_quantize_chunk (random rows of several shapes and adversarial ones: zero,
all equal, tiny values whose scales are f16 subnormals, huge values), adds
blocks edited by hand (f16 scales set to zero, -0, subnormals, the largest
f16, infinities and NaNs; blocks of random bytes, which are valid blocks too)
and dequantizes them all with ggml's reference to_float (dequantize_row_*).
tests/internals/quant.h checks that rwkvx gives the same f32 values, bit for bit.

    python3 tests/quant/make_golden_blocks.py LIBGGML_BASE.so [OUTDIR]

LIBGGML_BASE.so is ggml's base library, e.g. from the npm package
node-llama-cpp (node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/
libggml-base.so). OUTDIR (default: this script's directory) gets one file per
type, TYPE.blocks:
    8 bytes  "RWKVXQB1"
    u32      ggml type number, values per block, bytes per block, block count
    blocks   count x bytes per block
    f32      count x values per block: ggml's dequantized values
Standard library only; the output depends only on the seed and ggml.
"""
import ctypes
import os
import random
import struct
import sys

# name, ggml type number, values per block, bytes per block, offsets of f16 scales
TYPES = [
    ("q4_0", 2, 32, 18, [0]),
    ("q4_1", 3, 32, 20, [0, 2]),
    ("q5_0", 6, 32, 22, [0]),
    ("q5_1", 7, 32, 24, [0, 2]),
    ("q8_0", 8, 32, 34, [0]),
    ("q2_k", 10, 256, 84, [80, 82]),
    ("q3_k", 11, 256, 110, [108]),
    ("q4_k", 12, 256, 144, [0, 2]),
    ("q5_k", 13, 256, 176, [0, 2]),
    ("q6_k", 14, 256, 210, [208]),
    ("iq4_nl", 20, 32, 18, [0]),
    ("iq4_xs", 23, 256, 136, [0]),
]

# f16 scale values for the hand-edited blocks: 0, -0, smallest and largest
# subnormal, 1, largest finite, -largest, +inf, -inf, quiet and signalling NaN
SCALES = [0x0000, 0x8000, 0x0001, 0x03FF, 0x3C00, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01]


class TypeTraits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


def load_ggml(path):
    lib = ctypes.CDLL(path)
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    return lib


def source_rows(rng, qk):
    """Rows of 2 blocks' worth of values each, float32-representable."""
    n = 2 * qk
    rows = []
    for sigma in (1.0, 0.02, 300.0):
        rows.append([rng.gauss(0, sigma) for _ in range(n)])
    rows.append([rng.uniform(-1, 1) for _ in range(n)])
    rows.append([rng.uniform(0.5, 2.0) for _ in range(n)])          # all positive
    rows.append([rng.uniform(-2.0, -0.5) for _ in range(n)])        # all negative
    out = [0.0] * n                                                  # outliers
    for i in range(n):
        out[i] = rng.gauss(0, 0.01) if rng.random() > 0.02 else rng.gauss(0, 10)
    rows.append(out)
    rows.append([0.0] * n)                                           # zero blocks
    rows.append([0.75] * n)                                          # all equal (min == max)
    rows.append([-3.5] * n)
    rows.append([rng.gauss(0, 1e-6) for _ in range(n)])             # subnormal f16 scales
    rows.append([rng.gauss(0, 1e-9) for _ in range(n)])             # scales that underflow
    rows.append([rng.gauss(0, 2e5) for _ in range(n)])              # huge: scales near or past the f16 range
    rows.append([rng.choice((-1.0, 1.0)) * 6.0e4 for _ in range(n)])
    return rows


def quantize(lib, ggml_type, rows, n_per_row, block_bytes, qk):
    flat = [v for r in rows for v in r]
    src = (ctypes.c_float * len(flat))(*flat)
    n_blocks = len(flat) // qk
    dst = (ctypes.c_uint8 * (n_blocks * block_bytes))()
    size = lib.ggml_quantize_chunk(ggml_type, src, dst, 0, len(rows), n_per_row, None)
    assert size == n_blocks * block_bytes, (size, n_blocks * block_bytes)
    return bytes(dst)


def dequantize(lib, ggml_type, data, n_values):
    traits = lib.ggml_get_type_traits(ggml_type).contents
    to_float = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)(traits.to_float)
    src = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
    out = (ctypes.c_float * n_values)()
    to_float(src, out, n_values)
    return bytes(out)


def edited_blocks(rng, base, block_bytes, scale_offsets):
    """Copies of quantized blocks with their f16 scales replaced, and random bytes."""
    blocks = [base[i:i + block_bytes] for i in range(0, len(base), block_bytes)]
    out = []
    for k, h in enumerate(SCALES):
        b = bytearray(blocks[k % 4])                   # blocks of the first (random) row
        which = k % (len(scale_offsets) + 1)           # one scale, or all of them
        for j, off in enumerate(scale_offsets):
            if which == len(scale_offsets) or which == j:
                b[off:off + 2] = struct.pack("<H", h)
        out.append(bytes(b))
    for _ in range(6):
        out.append(bytes(rng.getrandbits(8) for _ in range(block_bytes)))
    return b"".join(out)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    lib = load_ggml(sys.argv[1])
    outdir = sys.argv[2] if len(sys.argv) == 3 else os.path.dirname(os.path.abspath(__file__))
    for name, ggml_type, qk, block_bytes, scale_offsets in TYPES:
        traits = lib.ggml_get_type_traits(ggml_type).contents
        assert traits.blck_size == qk and traits.type_size == block_bytes, name
        assert traits.type_name.decode().lower() == name, (traits.type_name, name)
        rng = random.Random(ggml_type * 1000 + 7)
        rows = source_rows(rng, qk)
        data = quantize(lib, ggml_type, rows, 2 * qk, block_bytes, qk)
        data += edited_blocks(rng, data, block_bytes, scale_offsets)
        n_blocks = len(data) // block_bytes
        values = dequantize(lib, ggml_type, data, n_blocks * qk)
        path = os.path.join(outdir, name + ".blocks")
        with open(path, "wb") as f:
            f.write(b"RWKVXQB1" + struct.pack("<4I", ggml_type, qk, block_bytes, n_blocks))
            f.write(data)
            f.write(values)
        print("%-7s %3d blocks -> %s" % (name, n_blocks, path))


if __name__ == "__main__":
    main()
