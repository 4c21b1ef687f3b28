#!/usr/bin/env python3
"""Our quantiser against ggml's, tensor by tensor (issue 13).

    python3 tools/quant_rms.py [--lib LIBGGML_BASE.so] [--convert build/rwkvx-convert]
                               [--types q4_0,...] [--bound 1.01] [MODEL.gguf ...]

For every type and every matrix of every input (f32 GGUF files: the demo
models by default, plus a synthetic file of random and adversarial rows this
script writes), rwkvx-convert quantises the file; ggml's reference quantiser
(ggml_quantize_chunk without importance matrix, from libggml-base.so, e.g. the
one node-llama-cpp ships) quantises the same f32 rows into the same type.
Both results are dequantised by ggml's own to_float, and the round-trip RMS
errors against the f32 values are compared: ours must be <= BOUND x ggml's
for every tensor.  It also checks that our dequantisation (rwkvx-convert
QUANTISED.gguf OUT.gguf --type f32) is bit-identical to ggml's to_float, and
counts the tensors whose quantised bytes are identical to ggml's.

Prints one line per type (worst ratio and its tensor, bytes identical) and
exits 1 when a bound is broken.  Needs only the Python standard library.

    python3 tools/quant_rms.py --make-golden tests/data/quant

writes the fixtures of tests/test_quant_convert.sh instead: synthetic.gguf (a
small f32 file of random and adversarial rows of 256) and golden.txt, per type
the size and SHA-256 of ggml's quantised tensor data (the data section of the
file rwkvx-convert writes, tensors padded to 32 bytes) and of ggml's
dequantisation of it (the data section of the f32 file it dequantises to).
"""

import argparse
import array
import ctypes
import glob
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q2_k": 10, "q3_k": 11,
         "q4_k": 12, "q5_k": 13, "q6_k": 14, "iq4_nl": 20, "iq4_xs": 23, "bf16": 30}
QUANT_TYPES = ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs"]
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 20: (32, 18),
         23: (256, 136)}
NAME = {v: k for k, v in TYPES.items()}


class Traits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class Ggml:
    def __init__(self, path):
        self.path = path
        self.lib = ctypes.CDLL(path)
        self.lib.ggml_get_type_traits.restype = ctypes.POINTER(Traits)
        self.lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        self.lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        self.lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                 ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        for t in QUANT_TYPES:  # the traits must describe the layout we expect
            tr = self.lib.ggml_get_type_traits(TYPES[t]).contents
            if (tr.blck_size, tr.type_size) != BLOCK[TYPES[t]] or tr.type_name.decode().lower() != t:
                sys.exit("quant_rms: %s's traits for %s differ: %s %d %d" % (path, t, tr.type_name, tr.blck_size,
                                                                            tr.type_size))

    def quantize(self, type_id, values, n_per_row):
        block, size = BLOCK[type_id]
        src = (ctypes.c_float * len(values)).from_buffer_copy(values)
        dst = ctypes.create_string_buffer(len(values) // block * size)
        self.lib.ggml_quantize_chunk(type_id, src, dst, 0, len(values) // n_per_row, n_per_row, None)
        return dst.raw

    def dequantize(self, type_id, data, n):
        fn = TO_FLOAT(self.lib.ggml_get_type_traits(type_id).contents.to_float)
        src = ctypes.create_string_buffer(bytes(data), len(data))
        dst = (ctypes.c_float * n)()
        fn(src, dst, n)
        return array.array("f", bytes(dst))


# --- a minimal GGUF reader and f32 writer ---

def read_gguf(path):
    """Returns {name: (ne, type, bytes)} in file order (a dict keeps it)."""
    data = open(path, "rb").read()
    pos = 8
    n_tensors, n_kv = struct.unpack_from("<QQ", data, pos)
    pos += 16
    size = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    alignment = 32

    def skip(t, pos):
        if t == 8:
            (n,) = struct.unpack_from("<Q", data, pos)
            return pos + 8 + n
        if t == 9:
            et, count = struct.unpack_from("<IQ", data, pos)
            pos += 12
            if et == 8:
                for _ in range(count):
                    pos = skip(8, pos)
                return pos
            return pos + count * size[et]
        return pos + size[t]

    for _ in range(n_kv):
        (n,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        (t,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if key == "general.alignment":
            (alignment,) = struct.unpack_from("<I", data, pos)
        pos = skip(t, pos)
    infos = []
    for _ in range(n_tensors):
        (n,) = struct.unpack_from("<Q", data, pos)
        name = data[pos + 8:pos + 8 + n].decode()
        pos += 8 + n
        (nd,) = struct.unpack_from("<I", data, pos)
        ne = struct.unpack_from("<%dQ" % nd, data, pos + 4)
        pos += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", data, pos)
        pos += 12
        infos.append((name, ne, t, off))
    start = (pos + alignment - 1) // alignment * alignment
    out = {}
    for name, ne, t, off in infos:
        n = math.prod(ne)
        block, bsize = BLOCK[t]
        out[name] = (ne, t, data[start + off:start + off + n // block * bsize])
    return out


def write_f32_gguf(path, tensors):
    """tensors: [(name, ne0, ne1, array('f'))]: a GGUF v3 file of f32 matrices."""
    def s(x):
        b = x.encode()
        return struct.pack("<Q", len(b)) + b
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), 2)
    head += s("general.architecture") + struct.pack("<I", 8) + s("test")
    head += s("general.alignment") + struct.pack("<II", 4, 32)
    off = 0
    for name, ne0, ne1, _ in tensors:
        head += s(name) + struct.pack("<IQQIQ", 2, ne0, ne1, 0, off)
        off += (ne0 * ne1 * 4 + 31) // 32 * 32
    head += b"\0" * ((-len(head)) % 32)
    with open(path, "wb") as f:
        f.write(head)
        for _, ne0, ne1, v in tensors:
            b = v.tobytes()
            f.write(b + b"\0" * ((-len(b)) % 32))


def synthetic_rows(seed=13, scale=1):
    """Rows of 256 (every type's block divides them) that stress the quantisers;
    scale divides the row counts (the committed test fixture is small)."""
    rnd = random.Random(seed)
    rows = {
        "gaussian": [[rnd.gauss(0, 0.02) for _ in range(256)] for _ in range(64)],
        "uniform": [[rnd.uniform(-1, 1) for _ in range(256)] for _ in range(32)],
        "heavy_tail": [[rnd.gauss(0, 1) ** 3 for _ in range(256)] for _ in range(32)],
        "positive": [[abs(rnd.gauss(0, 1)) + 0.5 for _ in range(256)] for _ in range(16)],
        "negative": [[-abs(rnd.gauss(0, 1)) - 0.5 for _ in range(256)] for _ in range(16)],
        "outlier": [[rnd.gauss(0, 0.01) if i != (r * 37) % 256 else 300.0 * (-1) ** r for i in range(256)]
                    for r in range(16)],
        "all_zero": [[0.0] * 256 for _ in range(4)],
        "all_equal": [[0.75] * 256 for _ in range(2)] + [[-3.0] * 256 for _ in range(2)],
        "two_values": [[(1.0 if rnd.random() < 0.5 else -0.25) for _ in range(256)] for _ in range(4)],
        "sparse": [[(rnd.gauss(0, 1) if rnd.random() < 0.05 else 0.0) for _ in range(256)] for _ in range(8)],
        "tiny": [[rnd.gauss(0, 1e-6) for _ in range(256)] for _ in range(4)],
        "subnormal_scale": [[rnd.gauss(0, 1e-9) for _ in range(256)] for _ in range(4)],
        "huge": [[rnd.gauss(0, 3000.0) for _ in range(256)] for _ in range(4)],
        "mixed_groups": [[rnd.gauss(0, 10.0 ** ((i // 16) % 4 - 2)) for i in range(256)] for _ in range(8)],
    }
    out = []
    for name, rs in rows.items():
        rs = rs[:max(1, len(rs) // scale)]
        v = array.array("f", [x for r in rs for x in r])
        out.append(("synthetic." + name + ".weight", 256, len(rs), v))
    return out


def rms(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)) / len(a)) if len(a) else 0.0


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("quant_rms: %s failed: %s" % (" ".join(cmd), r.stderr.decode().strip()))


def padded(blob):
    return blob + b"\0" * ((-len(blob)) % 32)


def make_golden(ggml, outdir, types):
    """The fixtures of tests/test_quant_convert.sh (see the module note)."""
    import hashlib
    os.makedirs(outdir, exist_ok=True)
    tensors = synthetic_rows(scale=8)
    write_f32_gguf(os.path.join(outdir, "synthetic.gguf"), tensors)
    lines = ["# type  data_bytes  sha256(ggml quantised data)  f32_bytes  sha256(ggml dequantised data)",
             "# made by tools/quant_rms.py --make-golden from synthetic.gguf with %s" % ggml.path.split("node_modules/")[-1]]
    for t in types:
        q = d = b""
        for _, ne0, ne1, v in tensors:
            blob = ggml.quantize(TYPES[t], v, ne0)
            q += padded(blob)
            d += padded(ggml.dequantize(TYPES[t], blob, ne0 * ne1).tobytes())
        lines.append("%s %d %s %d %s" % (t, len(q), hashlib.sha256(q).hexdigest(), len(d),
                                         hashlib.sha256(d).hexdigest()))
    with open(os.path.join(outdir, "golden.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    libs = sorted(glob.glob("/work/npm-llama/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so"))
    ap.add_argument("--lib", default=os.environ.get("GGML_BASE_LIB", libs[0] if libs else None))
    ap.add_argument("--convert", default="build/rwkvx-convert")
    ap.add_argument("--types", default=",".join(QUANT_TYPES))
    ap.add_argument("--bound", type=float, default=1.01)
    ap.add_argument("--make-golden", metavar="DIR")
    ap.add_argument("models", nargs="*", default=sorted(glob.glob("models/*.gguf")))
    a = ap.parse_args()
    if not a.lib or not os.path.exists(a.lib):
        sys.exit("quant_rms: libggml-base.so not found (--lib or GGML_BASE_LIB)")
    ggml = Ggml(a.lib)
    if a.make_golden:
        make_golden(ggml, a.make_golden, a.types.split(","))
        return
    tmp = tempfile.mkdtemp(prefix="quant_rms.")
    synth = os.path.join(tmp, "synthetic.gguf")
    write_f32_gguf(synth, synthetic_rows())
    inputs = a.models + [synth]
    sources = {path: read_gguf(path) for path in inputs}
    failed = 0
    print("%-7s %9s %9s %-9s %s" % ("type", "tensors", "identical", "worst", "worst tensor (ours / ggml RMS)"))
    for tname in a.types.split(","):
        want = TYPES[tname]
        worst, worst_at, n, same, deq_bad = 0.0, "", 0, 0, 0
        for path in inputs:
            out = os.path.join(tmp, "q.gguf")
            deq = os.path.join(tmp, "deq.gguf")
            run([a.convert, path, out, "--type", tname])
            run([a.convert, out, deq, "--type", "f32"])
            ours, back = read_gguf(out), read_gguf(deq)
            for name, (ne, t, data) in ours.items():
                src_ne, src_t, src = sources[path][name]
                if t in (0, 1, 30) or src_t != 0:
                    continue  # not quantised (vectors, fallbacks to f16)
                x = array.array("f", src)
                n_elems = len(x)
                ref = ggml.quantize(t, x, ne[0])
                ours_f = ggml.dequantize(t, data, n_elems)
                ref_f = ggml.dequantize(t, ref, n_elems)
                if ours_f.tobytes() != back[name][2]:
                    deq_bad += 1
                e_ours, e_ref = rms(ours_f, x), rms(ref_f, x)
                ratio = e_ours / e_ref if e_ref > 0 else (1.0 if e_ours == 0 else float("inf"))
                n += 1
                same += data == ref
                if ratio > worst:
                    worst, worst_at = ratio, "%s:%s (%s) %.4g / %.4g" % (os.path.basename(path), name, NAME[t],
                                                                         e_ours, e_ref)
        ok = worst <= a.bound and deq_bad == 0 and n > 0
        failed += not ok
        print("%-7s %9d %9d %-9.6f %s%s" % (tname, n, same, worst, worst_at,
                                            "" if deq_bad == 0 else "  DEQUANTISATION DIFFERS in %d" % deq_bad))
        sys.stdout.flush()
    print("%s: every tensor's RMS error <= %.2f x ggml's and dequantisation bit-identical" %
          ("PASS" if not failed else "FAIL", a.bound))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
