#!/usr/bin/env python3
"""Cuts the quantization fixture in tests/data/quant-llama-cpp out of GGUF files that llama.cpp
wrote: the first rows of some tensors of an F16 text model, and the same rows of the Q8_0, Q4_0,
Q4_K and Q6_K files that llama.cpp's quantizer made from it (`llama_model_quantize` with `pure`).

Usage: extract_quant_fixture.py F16.gguf Q8_0.gguf Q4_0.gguf Q4_K.gguf Q6_K.gguf OUT_DIR [--rows N]
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io  # noqa: E402

TENSORS = ["blk.0.ffn_up.weight", "blk.0.attn_v.weight", "output.weight"]
# ggml type -> (block elements, block bytes): F16, Q8_0, Q4_0, Q4_K, Q6_K
TYPE_BYTES = {1: (1, 2), 8: (32, 34), 2: (32, 18), 12: (256, 144), 14: (256, 210)}


def read_rows(path, name, rows):
    _, tensors, data_offset = gguf_io.read_header(path)
    for tensor_name, dims, kind, offset in tensors:
        if tensor_name != name:
            continue
        block, block_bytes = TYPE_BYTES[kind]
        row_bytes = dims[0] // block * block_bytes
        with open(path, "rb") as f:
            f.seek(data_offset + offset)
            return dims[0], kind, f.read(row_bytes * rows)
    raise SystemExit(f"{path}: no tensor {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("f16")
    parser.add_argument("q8_0")
    parser.add_argument("q4_0")
    parser.add_argument("q4_k")
    parser.add_argument("q6_k")
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=16)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for name in TENSORS:
        entry = {"tensor": name, "rows": args.rows}
        for label, path, want in (("f16", args.f16, 1), ("q8_0", args.q8_0, 8), ("q4_0", args.q4_0, 2),
                                  ("q4_k", args.q4_k, 12), ("q6_k", args.q6_k, 14)):
            width, kind, data = read_rows(path, name, args.rows)
            if kind != want:
                raise SystemExit(f"{path}: {name} has ggml type {kind}, expected {want}")
            file_name = f"{name}.{label}.bin"
            with open(os.path.join(args.out, file_name), "wb") as f:
                f.write(data)
            entry["width"] = width
            entry[label] = file_name
        manifest.append(entry)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
