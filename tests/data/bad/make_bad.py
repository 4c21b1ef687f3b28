#!/usr/bin/env python3
"""Writes the hostile and edge-case inputs that tests/test_convert.sh feeds to
rwkvx-convert.  Python 3 standard library only; no torch.  Run from anywhere:

    python3 tests/data/bad/make_bad.py

Every file is small.  Pickles are written opcode by opcode (never by
pickle.dumps) and ZIP archives by a little writer below, so that flags,
extra-field padding and ZIP64 records are exactly what each case needs.

Names say what a file holds; the test expects the converter to refuse every
file except those starting with "ok-", which must convert.  The word the error
message must contain is listed in EXPECT (written to expect.txt).
"""

import json
import os
import random
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------
# A ZIP writer: stored entries, optional 64-byte data alignment (as PyTorch
# 2.x pads), optional ZIP64 records, and knobs for the hostile cases.
# --------------------------------------------------------------------------


def zip_bytes(entries, align=0, zip64=False, method_of=None, flags_of=None):
    """entries: list of (name, data).  method_of / flags_of: name -> value to
    put in the headers (the data stays stored; the converter must refuse)."""
    out = bytearray()
    central = bytearray()
    for name, data in entries:
        nb = name.encode()
        method = (method_of or {}).get(name, 0)
        flags = (flags_of or {}).get(name, 0x0800)
        payload = zlib.compress(data)[2:-4] if method == 8 else data
        crc = zlib.crc32(data)
        offset = len(out)
        extra = b""
        if align:
            pad = (-(offset + 30 + len(nb) + 4)) % align
            extra = struct.pack("<HH", 0x1234, pad) + b"Z" * pad
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, 0, 0, crc,
                           len(payload), len(data), len(nb), len(extra))
        out += nb + extra + payload
        if zip64:
            cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(payload), offset)
            csize = usize = off32 = 0xFFFFFFFF
        else:
            cextra = b""
            csize, usize, off32 = len(payload), len(data), offset
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 20, flags, method, 0, 0,
                               crc, csize, usize, len(nb), len(cextra), 0, 0, 0, 0, off32)
        central += nb + cextra
    cd_off = len(out)
    out += central
    n = len(entries)
    if zip64:
        rec_off = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_off)
        out += struct.pack("<IIQI", 0x07064B50, 0, rec_off, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_off, 0)
    return bytes(out)


# --------------------------------------------------------------------------
# Pickle opcodes, written by hand (protocol 2, plus protocol-4 extras).
# --------------------------------------------------------------------------


def p_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    if -(1 << 31) <= v < (1 << 31):
        return b"J" + struct.pack("<i", v)
    return p_long1(v)


def p_long1(v):
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def p_tuple(items):
    return b"(" + b"".join(items) + b"t"


GLOBAL_REBUILD = b"ctorch._utils\n_rebuild_tensor_v2\n"
GLOBAL_ODICT = b"ccollections\nOrderedDict\n"
STORAGE = {"bf16": b"ctorch\nBFloat16Storage\n", "f16": b"ctorch\nHalfStorage\n",
           "f32": b"ctorch\nFloatStorage\n"}
ESIZE = {"bf16": 2, "f16": 2, "f32": 4}


def p_tensor(key, dtype, numel, offset, size, stride=None):
    """_rebuild_tensor_v2(('storage', T, key, 'cpu', numel), offset, size, stride, False, OrderedDict())."""
    if stride is None:
        stride, acc = [], 1
        for s in reversed(size):
            stride.insert(0, acc)
            acc *= s
    pid = p_tuple([p_str("storage"), STORAGE[dtype], p_str(key), p_str("cpu"), p_int(numel)]) + b"Q"
    args = p_tuple([pid, p_int(offset), p_tuple([p_int(s) for s in size]),
                    p_tuple([p_int(s) for s in stride]), b"\x89", GLOBAL_ODICT + b")R"])
    return GLOBAL_REBUILD + args + b"R"


def p_state_dict(items):
    """items: list of (name, tensor-opcodes)."""
    body = b"".join(p_str(name) + t for name, t in items)
    return b"\x80\x02}(" + body + b"u."


def pth(prefix, pickle_bytes, storages=(), **zip_kw):
    entries = [(prefix + "/data.pkl", pickle_bytes)]
    entries += [(prefix + "/data/" + k, v) for k, v in storages]
    entries.append((prefix + "/version", b"3\n"))
    return zip_bytes(entries, **zip_kw)


def bf16_bytes(values):
    return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)


def encode(values, dtype):
    if dtype == "bf16":
        return bf16_bytes(values)
    if dtype == "f16":
        return struct.pack("<%de" % len(values), *values)
    return struct.pack("<%df" % len(values), *values)


# --------------------------------------------------------------------------
# A tiny but complete RWKV-X model: C = 64 (one head), V = 4, F = 64,
# LoRA ranks 32/8/8/32, `n_rwkv` RWKV-7 blocks and `n_sparse` sparse blocks.
# --------------------------------------------------------------------------

C, V, F, DW, DA, DV, DG = 64, 4, 64, 32, 8, 8, 32


def tiny_model(n_rwkv=2, n_sparse=1, prefix="rwkv."):
    shapes = {"emb.weight": [V, C], "blocks.0.ln0.weight": [C], "blocks.0.ln0.bias": [C],
              "ln_out.weight": [C], "ln_out.bias": [C], "head.weight": [V, C]}
    for i in range(n_rwkv):
        b = "blocks.%d." % i
        for ln in ("ln1", "ln2", "att.ln_x"):
            shapes[b + ln + ".weight"] = [C]
            shapes[b + ln + ".bias"] = [C]
        for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"):
            shapes[b + "att." + x] = [1, 1, C]
        for n, d in (("w", DW), ("a", DA), ("g", DG)) + ((("v", DV),) if i else ()):
            shapes[b + "att.%s1" % n] = [C, d]
            shapes[b + "att.%s2" % n] = [d, C]
        if i:
            shapes[b + "att.v0"] = [1, 1, C]
        shapes[b + "att.r_k"] = [C // 64, 64]
        for m in ("receptance", "key", "value", "output"):
            shapes[b + "att.%s.weight" % m] = [C, C]
        shapes[b + "ffn.x_k"] = [1, 1, C]
        shapes[b + "ffn.key.weight"] = [F, C]
        shapes[b + "ffn.value.weight"] = [C, F]
    model = {prefix + k: v for k, v in shapes.items()}
    for j in range(n_sparse):
        b = "moba.%d." % j
        for ln in ("ln1", "ln2"):
            model[b + ln + ".weight"] = [C]
            model[b + ln + ".bias"] = [C]
        for m in ("receptance", "key", "value", "output"):
            model[b + "att.%s.weight" % m] = [C, C]
        model[b + "ffn.x_k"] = [1, 1, C]
        model[b + "ffn.key.weight"] = [F, C]
        model[b + "ffn.value.weight"] = [C, F]
    return model


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def values(shape, rng):
    # Few distinct values keep the committed files small once compressed.
    return [rng.randint(-16, 16) / 16 for _ in range(numel(shape))]


def safetensors(tensors, dtype_of=lambda name: "BF16", zeros=False, header_patch=None):
    """tensors: name -> shape.  Returns the file bytes."""
    rng = random.Random(7)
    header, blobs, off = {}, [], 0
    for name, shape in tensors.items():
        dt = dtype_of(name)
        vals = [0.0] * numel(shape) if zeros else values(shape, rng)
        data = encode(vals, {"BF16": "bf16", "F16": "f16", "F32": "f32"}[dt])
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    if header_patch:
        header_patch(header)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------

EXPECT = {}
FILES = {}


def case(name, data, word):
    FILES[name] = data
    EXPECT[name] = word


def one_tensor_pth(tensor_ops, storage_bytes, key="0", prefix="archive"):
    return pth(prefix, p_state_dict([("emb.weight", tensor_ops)]), [(key, storage_bytes)])


def pickle_cases():
    four = bf16_bytes([0.0] * 4)
    case("pkl-global-os-system.pth",
         pth("archive", b"\x80\x02cos\nsystem\n" + p_str("echo pwned") + b"\x85R."), "forbidden")
    # Protocol-4 style: SHORT_BINUNICODE + STACK_GLOBAL.
    stack_eval = (b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
                  + b"\x8c\x0c__import__()\x94\x85\x94R\x94.")
    case("pkl-global-builtins-eval.pth", pth("archive", stack_eval), "forbidden")
    case("pkl-global-posix-system.pth",
         pth("archive", b"\x80\x02cposix\nsystem\n" + p_str("true") + b"\x85R."), "forbidden")
    case("pkl-unknown-opcode.pth", pth("archive", b"\x80\x02}(S'x'\n" + b"u."), "opcode")
    case("pkl-reduce-storage-class.pth",
         pth("archive", b"\x80\x02" + STORAGE["f32"] + b")R."), "not allowed")
    case("pkl-build-on-global.pth",
         pth("archive", b"\x80\x02" + GLOBAL_REBUILD + b"}b."), "BUILD")
    case("pkl-persid-not-storage.pth",
         pth("archive", b"\x80\x02" + p_tuple([p_str("module"), p_str("x")]) + b"Q."), "persistent id")
    case("pkl-deep-marks.pth", pth("archive", b"\x80\x02" + b"(" * 100000 + b"."), "nested")
    case("pkl-memo-unset.pth", pth("archive", b"\x80\x02h\x05."), "memo")
    case("pkl-memo-huge.pth", pth("archive", b"\x80\x02}r\xff\xff\xff\x7f."), "memo")
    case("pkl-stack-underflow.pth", pth("archive", b"\x80\x02\x86."), "underflow")
    case("pkl-no-stop.pth", pth("archive", b"\x80\x02}(" + p_str("a")), "STOP")
    case("pkl-truncated-arg.pth", pth("archive", b"\x80\x02X\xff\xff\x00\x00abc"), "truncated")
    case("pkl-long-int.pth", pth("archive", b"\x80\x02\x8a\x09" + b"\x01" * 9 + b"."), "too large")
    case("pkl-not-a-dict.pth", pth("archive", b"\x80\x02]."), "state dict")
    case("pkl-value-not-tensor.pth",
         pth("archive", b"\x80\x02}(" + p_str("emb.weight") + p_int(3) + b"u."), "not a tensor")
    case("pkl-storage-offset.pth",
         one_tensor_pth(p_tensor("0", "bf16", 4, 1000000, [2, 2]), four), "storage")
    case("pkl-storage-numel.pth",
         one_tensor_pth(p_tensor("0", "bf16", 400, 0, [2, 2]), four), "storage")
    case("pkl-storage-missing.pth",
         one_tensor_pth(p_tensor("7", "bf16", 4, 0, [2, 2]), four), "entry")
    case("pkl-non-contiguous.pth",
         one_tensor_pth(p_tensor("0", "bf16", 4, 0, [2, 2], stride=[1, 2]), four), "contiguous")
    case("pkl-size-overflow.pth",
         one_tensor_pth(p_tensor("0", "bf16", 4, 0, [1 << 32, 1 << 32], stride=[1 << 32, 1]), four), "overflows")
    case("pkl-bare-legacy.pth", b"\x80\x02}q\x00.", "bare pickle")
    case("pkl-five-dims.pth",
         one_tensor_pth(p_tensor("0", "bf16", 4, 0, [1, 1, 1, 2, 2]), four), "dimensions")
    dup = p_state_dict([("emb.weight", p_tensor("0", "bf16", 4, 0, [2, 2])),
                        ("emb.weight", p_tensor("0", "bf16", 4, 0, [2, 2]))])
    case("pkl-duplicated-key.pth", pth("archive", dup, [("0", four)]), "duplicated")


def zip_cases():
    four = bf16_bytes([0.0] * 4)
    sd = p_state_dict([("emb.weight", p_tensor("0", "bf16", 4, 0, [2, 2]))])
    case("zip-deflate.pth", pth("archive", sd, [("0", four)], method_of={"archive/data.pkl": 8}),
         "compressed")
    case("zip-encrypted.pth", pth("archive", sd, [("0", four)], flags_of={"archive/data/0": 0x0801}),
         "encrypted")
    whole = pth("archive", sd, [("0", four)])
    case("zip-truncated.pth", whole[: len(whole) // 2], "truncated")
    # The central directory claims a local header past the end of the data.
    broken = bytearray(whole)
    cd = broken.rfind(b"PK\x01\x02")
    struct.pack_into("<I", broken, cd + 42, 0x7FFFFFF0)
    case("zip-bad-local-offset.pth", bytes(broken), "outside")
    # data.pkl's CRC in the central directory does not match its bytes
    bad_crc = bytearray(whole)
    cd = bad_crc.find(b"PK\x01\x02")
    struct.pack_into("<I", bad_crc, cd + 16, struct.unpack_from("<I", bad_crc, cd + 16)[0] ^ 1)
    case("zip-bad-crc.pth", bytes(bad_crc), "CRC")
    case("zip-no-data-pkl.pth", zip_bytes([("archive/other.pkl", sd)]), "data.pkl")
    case("zip-empty-file.pth", b"PK\x03\x04", "truncated")
    big_endian = zip_bytes([("archive/data.pkl", sd), ("archive/byteorder", b"big"),
                            ("archive/data/0", four)])
    case("zip-big-endian.pth", big_endian, "endian")


def safetensors_cases():
    tiny = {"emb.weight": [2, 2]}
    good = safetensors(tiny)
    past = struct.pack("<Q", 1 << 40) + good[8:]
    case("st-header-past-eof.safetensors", past, "header")

    def far(h):
        h["emb.weight"]["data_offsets"] = [0, 1 << 20]
    case("st-offsets-out-of-range.safetensors", safetensors(tiny, header_patch=far), "data_offsets")

    def mismatch(h):
        h["emb.weight"]["data_offsets"] = [0, 2]
    case("st-offsets-size-mismatch.safetensors", safetensors(tiny, header_patch=mismatch), "data_offsets")

    def i64(h):
        h["emb.weight"]["dtype"] = "I64"
    case("st-dtype-i64.safetensors", safetensors(tiny, header_patch=i64), "dtype")

    def overflow(h):
        h["emb.weight"]["shape"] = [1 << 32, 1 << 32]   # 2^64 elements: overflows size_t
    case("st-shape-overflow.safetensors", safetensors(tiny, header_patch=overflow), "overflows")
    bad_json = good[:8] + good[8:].replace(b'"shape"', b"'shape'", 1)
    case("st-bad-json.safetensors", bad_json, "safetensors header")


def layout_cases():
    base = tiny_model()
    m = dict(base)
    m["rwkv.blocks.1.att.extra"] = [C]
    case("layout-unknown-tensor.safetensors", safetensors(m, zeros=True), "unknown")
    m = dict(base)
    del m["rwkv.blocks.1.att.key.weight"]
    case("layout-missing-tensor.safetensors", safetensors(m, zeros=True), "missing")
    m = dict(base)
    m["rwkv.blocks.1.att.w1"] = [C, DW + 1]
    case("layout-bad-shape.safetensors", safetensors(m, zeros=True), "shape")
    case("layout-uneven-split.safetensors", safetensors(tiny_model(1, 2), zeros=True), "evenly")
    m = {k: [32 if s == C else s for s in v] for k, v in tiny_model(1, 0, prefix="").items()}
    m["blocks.0.att.r_k"] = [1, 32]
    case("layout-c-not-multiple-of-64.safetensors", safetensors(m, zeros=True), "multiple of")
    m = dict(base)
    m["emb.weight"] = [V, C]   # an unprefixed name in a prefixed checkpoint
    case("layout-mixed-prefix.safetensors", safetensors(m, zeros=True), "unknown")


def ok_cases():
    """Valid inputs written in styles the fixtures do not use."""
    rng = random.Random(3)
    model = tiny_model()
    # Protocol 4 with FRAME, MEMOIZE, SHORT_BINUNICODE, STACK_GLOBAL, LONG1,
    # _rebuild_parameter, a storage shared by two views, mixed storage types,
    # ZIP64 records and 64-byte aligned data.
    dtypes = ["bf16", "f16", "f32"]
    storages, items = [], []
    names = sorted(model)
    shared_a, shared_b = "rwkv.ln_out.weight", "rwkv.ln_out.bias"
    for i, name in enumerate(names):
        if name in (shared_a, shared_b):
            continue
        dt = dtypes[i % 3]
        n = numel(model[name])
        storages.append((str(i), encode(values(model[name], rng), dt)))
        items.append((name, dt, str(i), n, 0))
    shared = encode(values([2 * C], rng), "bf16")
    storages.append(("shared", shared))
    items.append((shared_a, "bf16", "shared", 2 * C, 0))
    items.append((shared_b, "bf16", "shared", 2 * C, C))

    body = bytearray(b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(")
    for name, dt, key, n, off in items:
        shape = model[name]
        t = p_tensor(key, dt, n, off, shape)
        t = t.replace(p_int(n), p_long1(n), 1)  # numel as LONG1
        # wrap in _rebuild_parameter(tensor, False, OrderedDict())
        body += p_str(name) + b"\x8c\x0ctorch._utils\x8c\x12_rebuild_parameter\x93" + b"(" + t
        body += b"\x89" + GLOBAL_ODICT + b")Rt" + b"R" + b"\x94"
    body += b"u."
    framed = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + bytes(body)
    FILES["ok-protocol4-zip64.pth"] = pth("tiny", framed, storages, align=64, zip64=True)
    EXPECT["ok-protocol4-zip64.pth"] = ""

    def mixed(name):
        return "F32" if len(model[name]) != 2 else ("F16" if "att" in name else "BF16")
    FILES["ok-mixed-dtypes.safetensors"] = safetensors(model, dtype_of=mixed)
    EXPECT["ok-mixed-dtypes.safetensors"] = ""

    # An odd header length: every tensor's data starts at an odd file offset
    # (nothing may assume alignment).  Zeros, so the file compresses.
    good = safetensors(model, dtype_of=mixed, zeros=True)
    n = struct.unpack("<Q", good[:8])[0]
    h = good[8:8 + n] + b" "
    FILES["ok-misaligned.safetensors"] = struct.pack("<Q", len(h)) + h + good[8 + n:]
    EXPECT["ok-misaligned.safetensors"] = ""


def nonfinite_cases():
    """Valid layouts whose weights are not all finite f16 values (all zeros
    but one F32 tensor, so the files compress well).  Not in expect.txt:
    tests/test_convert.sh checks them one by one (warn, or refuse for Q8_0)."""
    model = tiny_model(1, 0, prefix="")
    target = "blocks.0.att.key.weight"

    def patched(first_values):
        data = bytearray(safetensors(model, dtype_of=lambda n: "F32" if n == target else "BF16", zeros=True))
        n = struct.unpack("<Q", data[:8])[0]
        start = 8 + n + json.loads(data[8:8 + n])[target]["data_offsets"][0]
        for i, v in enumerate(first_values):
            struct.pack_into("<f", data, start + 4 * i, v)
        return bytes(data)
    FILES["warn-nan-inf.safetensors"] = patched([float("nan"), float("inf"), float("-inf")])
    FILES["warn-f16-overflow.safetensors"] = patched([1e6])     # inf in f16, fine in bf16 and Q8_0
    FILES["warn-q8_0-overflow.safetensors"] = patched([1e7])    # Q8_0's f16 block scale overflows


def vocab_cases():
    case("vocab-bad-length.txt", b"1 'a' 1\n2 'bc' 3\n3 b'\\xff' 1\n", "length")
    case("vocab-bad-id.txt", b"1 'a' 1\n3 'b' 1\n", "id")
    case("vocab-bad-literal.txt", b"1 'a' 1\n2 abc 3\n", "literal")
    case("vocab-bad-escape.txt", b"1 '\\x4' 1\n", "escape")


def main():
    pickle_cases()
    zip_cases()
    safetensors_cases()
    layout_cases()
    ok_cases()
    nonfinite_cases()
    vocab_cases()
    for name, data in FILES.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "expect.txt"), "w") as f:
        f.write("# file<TAB>word the error message must contain (empty: must convert)\n")
        for name in sorted(EXPECT):
            f.write("%s\t%s\n" % (name, EXPECT[name]))
    print("wrote %d files to %s" % (len(FILES), HERE))


if __name__ == "__main__":
    main()
