#!/usr/bin/env python3
"""Quantizes a llama.cpp-layout GGUF with llama.cpp's own quantizer:
llama_model_quantize() of the libllama that node-llama-cpp ships (it ships no
llama-quantize program), called through ctypes (make interop).

    python3 quantize.py LIBLLAMA.so IN.gguf OUT.gguf FTYPE

FTYPE is llama.cpp's llama_ftype number (7 = Q8_0, 1 = F16, 32 = BF16).
"""
import ctypes
import sys


class Params(ctypes.Structure):
    # llama_model_quantize_params starts with int32 nthread, int32 ftype; the
    # rest (64 bytes in this release) stays as llama.cpp's defaults. The
    # buffer is larger than the struct, which is returned through memory.
    _fields_ = [("nthread", ctypes.c_int32), ("ftype", ctypes.c_int32), ("rest", ctypes.c_char * 248)]


def main(lib_path, src, dst, ftype):
    lib = ctypes.CDLL(lib_path)
    lib.llama_backend_init.restype = None
    lib.llama_model_quantize_default_params.restype = Params
    lib.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
    lib.llama_model_quantize.restype = ctypes.c_uint32
    lib.llama_backend_init()
    params = lib.llama_model_quantize_default_params()
    params.nthread = 1
    params.ftype = ftype
    if lib.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(params)) != 0:
        sys.exit(f"quantize.py: llama_model_quantize failed on {src}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: quantize.py LIBLLAMA.so IN.gguf OUT.gguf FTYPE")
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
