#!/usr/bin/env python3
"""Quality of every weight type on the trained demo models (issue 13).

    python3 tools/quant_quality.py [--types q8_0,...] [--lengths 4k] [--depths 3] [--seeds 2]
                                   [--bytes 4096] [--threads 2] [--out docs/quant-quality.md] [MODEL.gguf ...]

For each model (default: models/*.gguf, f32 files) and each type, rwkvx-convert
quantises the f32 file; rwkvx-logits --all evaluates a long text (a passkey
prompt of --bytes bytes: the task line, filler, the key, filler, the question)
with the f32 and the quantised model, and the script reports the max |diff|
of the logits over every position and the mean KL divergence
KL(f32 || quantised) of the next-byte distributions; rwkvx-passkey runs the
passkey grid given by --lengths/--depths/--seeds on the quantised model.

When the library cannot load a type yet, the quantised file is dequantised
by rwkvx-convert (QUANTISED.gguf -> f32: bit-identical to ggml's to_float,
tools/quant_rms.py checks it) and that f32 file is evaluated: the same
weights, summed in another order.  The table marks such rows "deq".
Writes a Markdown table to --out and prints it.  Standard library only.
"""

import argparse
import array
import glob
import math
import os
import subprocess
import sys
import tempfile
import time

TYPES = ["f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q5_k", "q5_1", "q5_0", "q4_k_m", "q4_k", "q4_1", "q4_0",
         "iq4_nl", "iq4_xs", "q3_k", "q2_k"]
CONVERT = os.environ.get("RWKVX_CONVERT", "build/rwkvx-convert")
FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."


def passkey_text(n_bytes, key=52071):
    """A passkey-protocol prompt of about n_bytes bytes, key at 40%."""
    head = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
            "I will quiz you about the important information there.")
    needle = "The pass key is %d. Remember it. %d is the pass key." % (key, key)
    tail = "What is the pass key? The pass key is %d." % key
    room = max(0, n_bytes - len(head) - len(needle) - len(tail) - 4)
    filler = " ".join([FILLER] * (room // len(FILLER) + 2))
    n1 = int(room * 0.4)
    return "\n".join([head, filler[:n1], needle, filler[:room - n1], tail]).encode()


def run(cmd, check=True):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        sys.exit("quant_quality: %s failed: %s" % (" ".join(cmd), r.stderr.decode().strip()))
    return r


def logits(model, tokens_file, out, threads):
    r = run(["build/rwkvx-logits", model, "--tokens-file", tokens_file, "--out", out, "--all", "--threads",
             str(threads)], check=False)
    return r.returncode == 0


def compare(ref_path, q_path, n_vocab):
    ref, q = array.array("f"), array.array("f")
    ref.frombytes(open(ref_path, "rb").read())
    q.frombytes(open(q_path, "rb").read())
    max_diff = max(abs(a - b) for a, b in zip(ref, q))
    kl_sum, n_pos = 0.0, len(ref) // n_vocab
    for p in range(n_pos):
        a, b = ref[p * n_vocab:(p + 1) * n_vocab], q[p * n_vocab:(p + 1) * n_vocab]
        ma, mb = max(a), max(b)
        la = math.log(sum(math.exp(x - ma) for x in a)) + ma
        lb = math.log(sum(math.exp(x - mb) for x in b)) + mb
        kl_sum += sum(math.exp(x - la) * ((x - la) - (y - lb)) for x, y in zip(a, b))
    return max_diff, kl_sum / n_pos


def passkey(model, a):
    r = run(["build/rwkvx-passkey", model, "--lengths", a.lengths, "--depths", str(a.depths), "--seeds",
             str(a.seeds), "--threads", str(a.threads), "--quiet"])
    for line in r.stdout.decode().splitlines():
        if line.startswith("overall accuracy:"):
            return line.split(":")[1].split("%")[0].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--lengths", default="4k")
    ap.add_argument("--depths", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--bytes", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-passkey", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("models", nargs="*", default=sorted(glob.glob("models/*.gguf")))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="quant_quality.")
    tokens = os.path.join(tmp, "tokens.txt")
    with open(tokens, "w") as f:
        f.write("\n".join(str(b) for b in passkey_text(a.bytes)) + "\n")
    rows = ["| model | type | bytes | max \\|diff\\| | mean KL | passkey % | evaluated |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for model in a.models:
        name = os.path.basename(model)
        ref = os.path.join(tmp, "ref.f32")
        logits(model, tokens, ref, a.threads) or sys.exit("quant_quality: cannot evaluate " + model)
        n_pos = sum(1 for _ in open(tokens))
        n_vocab = os.path.getsize(ref) // 4 // n_pos
        base = passkey(model, a) if not a.no_passkey else "-"
        rows.append("| %s | f32 | %d | 0 | 0 | %s | library |" % (name, os.path.getsize(model), base))
        print(rows[-1])
        sys.stdout.flush()
        for t in a.types.split(","):
            t0 = time.time()
            qf = os.path.join(tmp, "q.gguf")
            run([CONVERT, model, qf, "--type", t])
            evaluated, target = "library", qf
            out = os.path.join(tmp, "q.f32")
            if not logits(qf, tokens, out, a.threads):
                target = os.path.join(tmp, "deq.gguf")
                run([CONVERT, qf, target, "--type", "f32"])
                evaluated = "deq"
                logits(target, tokens, out, a.threads) or sys.exit("quant_quality: cannot evaluate " + target)
            max_diff, kl = compare(ref, out, n_vocab)
            acc = passkey(target, a) if not a.no_passkey else "-"
            rows.append("| %s | %s | %d | %.3g | %.3g | %s | %s |" % (name, t, os.path.getsize(qf), max_diff, kl,
                                                                   acc, evaluated))
            print(rows[-1] + "  (%.0f s)" % (time.time() - t0))
            sys.stdout.flush()
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
