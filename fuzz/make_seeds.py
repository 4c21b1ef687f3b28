#!/usr/bin/env python3
"""Writes the seed corpora of the converter and tokenizer fuzz targets
(fuzz/corpus/{pth,safetensors,vocab,tokenize}).  Python 3 standard library
only; run from the repository root:

    python3 fuzz/make_seeds.py

Seeds are small valid inputs in every style the readers know (so mutations
start deep inside the parsers) plus the small hostile inputs of
tests/data/bad/.  The valid checkpoints are the tiny C = 64 model of
make_bad.py with narrower LoRA ranks and F = 32, so each stays under 100 KB.
The GGUF and state corpora are made by fuzz/make_seed_model.py (PyTorch).
"""

import os
import random
import shutil
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "data", "bad"))
import make_bad as mb  # noqa: E402

CORPUS = os.path.join(ROOT, "fuzz", "corpus")
BAD = os.path.join(ROOT, "tests", "data", "bad")

# Narrower than make_bad's defaults: the seeds stay small.
mb.F, mb.DW, mb.DA, mb.DV, mb.DG = 32, 8, 8, 8, 8


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pth_model(model, dtype_of, protocol4=False, zip64=False, align=0, prefix="tiny"):
    """A whole state dict as a .pth: protocol 2 (dict + SETITEMS, as
    torch.save writes) or protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL,
    _rebuild_parameter, an OrderedDict, a storage shared by two views)."""
    rng = random.Random(11)
    storages, items = [], []
    for i, name in enumerate(sorted(model)):
        dt = dtype_of(name)
        n = mb.numel(model[name])
        storages.append((str(i), mb.encode(mb.values(model[name], rng), dt)))
        items.append((name, mb.p_tensor(str(i), dt, n, 0, model[name])))
    if not protocol4:
        return mb.pth(prefix, mb.p_state_dict(items), storages, zip64=zip64, align=align)
    body = bytearray(b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94(")
    for name, t in items:
        body += (mb.p_str(name) + b"\x8c\x0ctorch._utils\x8c\x12_rebuild_parameter\x93(" + t
                 + b"\x89" + mb.GLOBAL_ODICT + b")Rt" + b"R" + b"\x94")
    body += b"u."
    framed = b"\x80\x04\x95" + struct.pack("<Q", len(body)) + bytes(body)
    return mb.pth(prefix, framed, storages, zip64=zip64, align=align)


def checkpoints():
    plain = mb.tiny_model(1, 0, prefix="")          # RWKV-7 names, one block
    hybrid = mb.tiny_model(1, 1)                     # RWKV-X: rwkv.* and moba.0.*
    mixed = ["bf16", "f16", "f32"]

    def by_rank(name):
        return mixed[len(name) % 3]
    write("pth", "rwkv7-1block-bf16.pth", pth_model(plain, lambda n: "bf16"))
    write("pth", "rwkvx-1+1-p4-zip64.pth", pth_model(hybrid, by_rank, protocol4=True, zip64=True, align=64))
    for name in sorted(os.listdir(BAD)):
        if name.endswith(".pth") and os.path.getsize(os.path.join(BAD, name)) < 4096:
            shutil.copy(os.path.join(BAD, name), os.path.join(CORPUS, "pth", name))

    st = {"F32": "F32", "F16": "F16", "BF16": "BF16"}
    write("safetensors", "rwkv7-1block-bf16.safetensors", mb.safetensors(plain))
    write("safetensors", "rwkvx-1+1-mixed.safetensors",
          mb.safetensors(hybrid, dtype_of=lambda n: list(st)[len(n) % 3]))
    # JSON escapes (\u, surrogate pairs, \n) in a name and in the metadata
    esc = mb.safetensors({"emb.w\u00e9ight\n\U0001f600": [2, 2]},
                         header_patch=lambda h: h["__metadata__"].update({"f\u00f6rmat": "pt \U0001f600 \\ \t"}))
    write("safetensors", "json-escapes.safetensors", esc)
    for name in sorted(os.listdir(BAD)):
        if name.startswith("st-"):
            shutil.copy(os.path.join(BAD, name), os.path.join(CORPUS, "safetensors", name))


def vocabularies():
    """Slices of the World vocabulary, renumbered 1, 2, 3, ...: plain words,
    then the lines with escapes, bytes literals and double quotes."""
    with open(os.path.join(ROOT, "tests", "fixtures", "rwkv_vocab_v20230424.txt"), "rb") as f:
        lines = f.read().split(b"\n")

    def literal(line):
        return line[line.index(b" ") + 1:line.rindex(b" ")], line[line.rindex(b" ") + 1:]

    def renumber(picked):
        out = []
        for i, line in enumerate(picked, 1):
            lit, length = literal(line)
            out.append(b"%d %s %s" % (i, lit, length))
        return b"\n".join(out) + b"\n"
    body = [ln for ln in lines if ln]
    write("vocab", "world-first-200.txt", renumber(body[:200]))
    special = [ln for ln in body if b"\\x" in ln][:60] + [ln for ln in body if b"\\u" in ln][:20]
    special += [ln for ln in body if literal(ln)[0].startswith(b"b'")][:60]
    special += [ln for ln in body if literal(ln)[0].startswith(b'"')][:20]
    special += [ln for ln in body if b"\\\\" in ln or b"\\t" in ln or b"\\n" in ln or b"\\r" in ln][:20]
    write("vocab", "world-escapes.txt", renumber(special))
    write("vocab", "world-longest.txt", renumber(sorted(body, key=len)[-40:]))
    write("vocab", "octal-and-crlf.txt", b"1 '\\0' 1\r\n2 '\\101\\x42' 2\r\n3 b'\\777' 3\r\n4 '' 0\r\n")
    for name in sorted(os.listdir(BAD)):
        if name.startswith("vocab-"):
            shutil.copy(os.path.join(BAD, name), os.path.join(CORPUS, "vocab", name))


def texts():
    write("tokenize", "english.txt", b"The pass key is 71432. Remember it. 71432 is the pass key.\n\n")
    write("tokenize", "chat.txt", b"User: hi\n\nAssistant: Hello! How can I help you today?\n\n")
    write("tokenize", "utf8.txt", "你好，世界 😀 Привет — naïve café\t\r\n".encode())
    write("tokenize", "invalid-utf8.txt", b"ok \xff\xfe \xc3 \xe4\xbd \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf end")
    write("tokenize", "code.txt", b"int main(void) {\n    return 0;\n}\n")
    write("tokenize", "spaces.txt", b" " * 40 + b"\n" * 10 + b"\t" * 5)
    write("tokenize", "bytes.bin", bytes(range(256)))


def main():
    checkpoints()
    vocabularies()
    texts()
    total = {}
    for t in ("pth", "safetensors", "vocab", "tokenize"):
        d = os.path.join(CORPUS, t)
        total[t] = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    print("seed corpora:", ", ".join("%s %d KB" % (t, n // 1024) for t, n in total.items()))


if __name__ == "__main__":
    main()
