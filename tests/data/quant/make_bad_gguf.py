#!/usr/bin/env python3
"""Writes the hostile and odd GGUF inputs of tests/test_quant_convert.sh.

    python3 tests/data/quant/make_bad_gguf.py      (from the repository root)

Each file is a small GGUF v3 file with one thing wrong; expect.txt lists each
file with the word rwkvx-convert's one-line refusal must contain.  The odd-*
files are valid: odd values (NaN, huge) that some types cannot store.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def s(x):
    b = x.encode() if isinstance(x, str) else x
    return struct.pack("<Q", len(b)) + b


def kv_str(key, value):
    return s(key) + struct.pack("<I", 8) + s(value)


def kv_u32(key, value):
    return s(key) + struct.pack("<II", 4, value)


def info(name, ne, type_id, offset):
    return s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne) + \
        struct.pack("<IQ", type_id, offset)


def gguf(kvs, infos, data, version=3, n_tensors=None, n_kv=None, align=32):
    head = b"GGUF" + struct.pack("<IQQ", version, len(infos) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs) + b"".join(infos)
    head += b"\0" * ((-len(head)) % align)
    return head + data


KV = [kv_str("general.architecture", "test"), kv_u32("general.alignment", 32)]
F32 = struct.pack("<64f", *[0.01 * (i - 32) for i in range(64)])
GOOD = gguf(KV, [info("t.weight", [32, 2], 0, 0)], F32)

FILES = {
    # file: (bytes, word in the message)
    "bad-version1.gguf": (gguf(KV, [info("t.weight", [32, 2], 0, 0)], F32, version=1), "version"),
    "bad-truncated-header.gguf": (GOOD[:20], "truncated"),
    "bad-truncated-kv.gguf": (GOOD[:40], "truncated"),
    "bad-truncated-info.gguf": (GOOD[:len(GOOD) - len(F32) - 40], "truncated"),
    "bad-truncated-data.gguf": (GOOD[:-8], "past the end"),
    "bad-no-tensors.gguf": (gguf(KV, [], b""), "tensor count"),
    "bad-tensor-count.gguf": (gguf(KV, [info("t.weight", [32, 2], 0, 0)], F32, n_tensors=1 << 40), "tensor count"),
    "bad-kv-count.gguf": (gguf(KV, [info("t.weight", [32, 2], 0, 0)], F32, n_kv=1 << 40), "key/value count"),
    "bad-key-length.gguf": (gguf([struct.pack("<Q", 1 << 62) + b"general"], [], b"", n_tensors=1, n_kv=1), "key of"),
    "bad-value-type.gguf": (gguf([s("x.y") + struct.pack("<II", 99, 0)] + KV, [info("t.weight", [32, 2], 0, 0)], F32),
                            "unknown value type"),
    "bad-nested-array.gguf": (gguf([s("x.y") + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 4, 0)] + KV,
                                   [info("t.weight", [32, 2], 0, 0)], F32), "array of arrays"),
    "bad-array-length.gguf": (gguf([s("x.y") + struct.pack("<IIQ", 9, 4, 1 << 61)] + KV,
                                   [info("t.weight", [32, 2], 0, 0)], F32), "runs past the end"),
    "bad-string-array.gguf": (gguf([s("x.y") + struct.pack("<IIQ", 9, 8, 1 << 60)], [], b"", n_tensors=1),
                              "truncated"),
    "bad-string-length.gguf": (gguf([s("x.y") + struct.pack("<IQ", 8, 1 << 62)], [], b"", n_tensors=1),
                               "truncated"),
    "bad-alignment.gguf": (gguf([kv_u32("general.alignment", 48)], [info("t.weight", [32, 2], 0, 0)], F32),
                           "power of two"),
    "bad-alignment-type.gguf": (gguf([kv_str("general.alignment", "32")], [info("t.weight", [32, 2], 0, 0)], F32),
                                "not a u32"),
    "bad-tensor-type.gguf": (gguf(KV, [info("t.weight", [32, 2], 99, 0)], F32), "cannot read"),
    "bad-rows.gguf": (gguf(KV, [info("t.weight", [48, 1], 8, 0)], F32), "not a multiple"),
    "bad-dims.gguf": (gguf(KV, [info("t.weight", [32, 2, 1, 1, 1], 0, 0)], F32), "dimensions"),
    "bad-zero-dim.gguf": (gguf(KV, [info("t.weight", [32, 0], 0, 0)], F32), "dimension"),
    "bad-elements.gguf": (gguf(KV, [info("t.weight", [1 << 40, 1 << 40, 1 << 40], 0, 0)], F32), "overflows"),
    "bad-bytes-overflow.gguf": (gguf(KV, [info("t.weight", [1 << 32, 1 << 31], 0, 0)], F32), "overflows"),
    "bad-offset-misaligned.gguf": (gguf(KV, [info("t.weight", [32, 1], 0, 4)], F32), "alignment"),
    "bad-offset-past-end.gguf": (gguf(KV, [info("t.weight", [32, 2], 0, 1 << 20)], F32), "past the end"),
    "bad-offset-overflow.gguf": (gguf(KV, [info("t.weight", [32, 2], 0, (1 << 64) - 32)], F32), "past the end"),
    "bad-duplicate-name.gguf": (gguf(KV, [info("t.weight", [32, 1], 0, 0), info("t.weight", [32, 1], 0, 128)],
                                     F32), "twice"),
    "bad-long-name.gguf": (gguf(KV, [info("t" * 100, [32, 2], 0, 0)], F32), "tensor name"),
    "bad-name-nul.gguf": (gguf(KV, [info(b"t\0x.weight", [32, 2], 0, 0)], F32), "NUL"),
    # valid files with values some types cannot store
    # (rows of 256, so that every type applies)
    "odd-nan-inf.gguf": (gguf(KV, [info("t.weight", [256, 1], 0, 0)],
                              struct.pack("<256f", *([float("nan"), float("inf")] + [0.5] * 254))), ""),
    "odd-huge.gguf": (gguf(KV, [info("t.weight", [256, 1], 0, 0)], struct.pack("<256f", *([1e30] + [1.0] * 255))),
                      ""),
}


def main():
    lines = ["# file<TAB>word the one-line refusal must contain (odd-*: valid files, see the test)"]
    for name, (data, word) in FILES.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        lines.append("%s\t%s" % (name, word))
    with open(os.path.join(HERE, "expect.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
