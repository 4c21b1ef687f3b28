#!/usr/bin/env python3
"""rwkv.cpp's prefill and decode speed on one of its model files, for
tools/side_by_side.sh (standard library only: ctypes).

    python3 side_by_side_rwkvcpp.py LIBRWKV.so MODEL.bin THREADS PROMPT GEN [CHUNK]
    python3 side_by_side_rwkvcpp.py LIBRWKV.so --info

LIBRWKV.so is a librwkv.so the user built from their own rwkv.cpp checkout
(nothing of rwkv.cpp is in this repository); this only calls its public C API
(rwkv.h). It does what rwkvx-bench does: a warm-up that builds the sequence
graphs, a prefill of PROMPT pseudo-random tokens from a fresh state with
rwkv_eval_sequence_in_chunks (CHUNK tokens per graph, default 64; logits of
the last token), then GEN single-token rwkv_eval calls, each computing the
logits. Prints one JSON line: prefill_tok_s, decode_tok_s, decode_ms_per_tok.
"""
import ctypes
import json
import sys
import time

F = ctypes.POINTER(ctypes.c_float)


def library(path):
    lib = ctypes.CDLL(path)
    lib.rwkv_init_from_file.argtypes = [ctypes.c_char_p, ctypes.c_uint32, ctypes.c_uint32]
    lib.rwkv_init_from_file.restype = ctypes.c_void_p
    lib.rwkv_eval.argtypes = [ctypes.c_void_p, ctypes.c_uint32, F, F, F]
    lib.rwkv_eval.restype = ctypes.c_bool
    lib.rwkv_eval_sequence_in_chunks.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t,
                                                 ctypes.c_size_t, F, F, F]
    lib.rwkv_eval_sequence_in_chunks.restype = ctypes.c_bool
    for name in ("rwkv_get_state_len", "rwkv_get_logits_len", "rwkv_get_n_vocab"):
        getattr(lib, name).argtypes = [ctypes.c_void_p]
        getattr(lib, name).restype = ctypes.c_size_t
    lib.rwkv_free.argtypes = [ctypes.c_void_p]
    lib.rwkv_get_system_info_string.restype = ctypes.c_char_p
    return lib


def main():
    if len(sys.argv) == 3 and sys.argv[2] == "--info":
        print(library(sys.argv[1]).rwkv_get_system_info_string().decode())
        return 0
    if len(sys.argv) < 6:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    lib = library(sys.argv[1])
    model, threads, P, G = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    chunk = int(sys.argv[6]) if len(sys.argv) > 6 else 64
    ctx = lib.rwkv_init_from_file(model.encode(), threads, 0)
    if not ctx:
        print(f"rwkv_init_from_file failed on {model}", file=sys.stderr)
        return 1
    state = (ctypes.c_float * lib.rwkv_get_state_len(ctx))()
    logits = (ctypes.c_float * lib.rwkv_get_logits_len(ctx))()
    V = lib.rwkv_get_n_vocab(ctx)
    seed, ids = 1, []
    for _ in range(max(P, G)):
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
        ids.append((seed >> 8) % V)
    tokens = (ctypes.c_uint32 * len(ids))(*ids)

    # warm-up: the graphs of a full chunk and of the prompt's last, shorter one
    warm = P if P <= chunk else chunk + P % chunk
    ok = lib.rwkv_eval_sequence_in_chunks(ctx, tokens, warm, chunk, None, state, logits)
    t0 = time.perf_counter()
    ok = ok and lib.rwkv_eval_sequence_in_chunks(ctx, tokens, P, chunk, None, state, logits)  # fresh state
    prefill = time.perf_counter() - t0
    ok = ok and lib.rwkv_eval(ctx, ids[0], state, state, logits)  # warm-up of the one-token graph, untimed
    t0 = time.perf_counter()
    for t in ids[:G]:
        ok = ok and lib.rwkv_eval(ctx, t, state, state, logits)
    decode = time.perf_counter() - t0
    lib.rwkv_free(ctx)
    if not ok:
        print(f"rwkv_eval failed on {model}", file=sys.stderr)
        return 1
    print(json.dumps({"engine": "rwkv.cpp", "model": model, "threads": threads, "prompt": P, "gen": G, "chunk": chunk,
                      "prefill_tok_s": round(P / prefill, 2), "decode_tok_s": round(G / decode, 2),
                      "decode_ms_per_tok": round(1e3 * decode / G, 4)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
