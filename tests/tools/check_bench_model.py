#!/usr/bin/python3
"""Checks tools/make_bench_model.py against the tiny-llava fixture, which llama.cpp's converters
wrote: at the fixture's own shape, the generated GGUF pair must have the fixture's metadata keys
and values (bar general.name) and its tensor names, shapes, types and offsets, in the same order;
and the GGUF tensors must hold the same numbers as the generated safetensors, with Q and K rows
permuted as llama.cpp expects.

Usage: check_bench_model.py FIXTURE_DIR WORK_DIR
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(HERE, "..", "..", "tools")
sys.path.insert(0, TOOLS)
import gguf_io  # noqa: E402

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = {"F16": np.float16, "BF16": np.uint16}[info["dtype"]]
        out[name] = data[base + start:base + end].view(dtype).reshape(info["shape"])
    return out


def read_gguf_tensor(path, records, data_offset, name):
    for tname, dims, ggml_type, offset in records:
        if tname == name:
            dtype = {0: np.float32, 1: np.float16, 30: np.uint16}[ggml_type]
            count = int(np.prod(dims))
            raw = np.fromfile(path, dtype=dtype, count=count, offset=data_offset + offset)
            return raw.reshape(list(reversed(dims)))
    raise KeyError(name)


def main():
    fixture, work = sys.argv[1], sys.argv[2]
    if not os.path.isdir(os.path.join(fixture, "f16", "gguf")):
        sys.exit(f"the tiny-llava fixture is missing at {fixture}; CI places ../shared/fixtures beside the repository")
    for dtype in ("f16", "bf16"):
        out = os.path.join(work, dtype)
        subprocess.run([sys.executable, os.path.join(TOOLS, "make_bench_model.py"), "--shape", "tiny",
                        "--dtype", dtype, "--out", out, "--fixture", fixture], check=True, stdout=subprocess.DEVNULL)
        weights = read_safetensors(os.path.join(out, "hf", "model.safetensors"))
        for part in ("text", "mmproj"):
            expected_meta, expected_tensors, _ = gguf_io.read_header(
                os.path.join(fixture, "f16", "gguf", f"tiny-llava-{part}-f16.gguf"))
            path = os.path.join(out, "gguf", f"bench-tiny-{part}-{dtype}.gguf")
            meta, tensors, data_offset = gguf_io.read_header(path)
            check(list(meta) == list(expected_meta), f"{path}: metadata keys differ from the fixture's")
            for key, value in expected_meta.items():
                if key in ("general.name",) or (dtype == "bf16" and key == "general.file_type"):
                    continue
                check(meta.get(key) == value, f"{path}: {key} is {str(meta.get(key))[:60]}, fixture {str(value)[:60]}")
            bf16 = dtype == "bf16"
            for got, want in zip(tensors, expected_tensors):
                want_type = 30 if bf16 and want[2] == 1 else want[2]
                check(got[:2] == want[:2] and got[2] == want_type, f"{path}: tensor {got[:3]}, fixture {want[:3]}")
                if not bf16:
                    check(got[3] == want[3], f"{path}: {got[0]} at offset {got[3]}, fixture {want[3]}")
            check(len(tensors) == len(expected_tensors), f"{path}: {len(tensors)} tensors, fixture {len(expected_tensors)}")
            if part == "text":
                pairs = [("blk.1.attn_q.weight", "language_model.model.layers.1.self_attn.q_proj.weight", 4),
                         ("blk.0.attn_k.weight", "language_model.model.layers.0.self_attn.k_proj.weight", 2),
                         ("blk.1.ffn_down.weight", "language_model.model.layers.1.mlp.down_proj.weight", 0),
                         ("output_norm.weight", "language_model.model.norm.weight", 0)]
            else:
                pairs = [("v.blk.1.ffn_down.weight", "vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight", 0),
                         ("v.patch_embd.weight", "vision_tower.vision_model.embeddings.patch_embedding.weight", 0),
                         ("mm.2.bias", "multi_modal_projector.linear_2.bias", 0)]
            for gguf_name, hf_name, n_head in pairs:
                got = read_gguf_tensor(path, tensors, data_offset, gguf_name)
                want = np.asarray(weights[hf_name])
                if got.dtype == np.float32:  # 1-D tensors are stored as F32
                    want = want.astype(np.float32) if not bf16 else (want.astype(np.uint32) << 16).view(np.float32)
                if n_head:
                    rows, cols = got.shape
                    got = got.reshape(n_head, rows // n_head // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols)
                check(got.shape == want.shape and np.array_equal(got.view(np.uint8), want.view(np.uint8)),
                      f"{path}: {gguf_name} does not hold the values of {hf_name}")
                check(np.count_nonzero(got) > 0, f"{path}: {gguf_name} is all zeros")
        config = json.load(open(os.path.join(out, "hf", "config.json")))
        check(config["text_config"]["torch_dtype"] == {"f16": "float16", "bf16": "bfloat16"}[dtype],
              f"{out}: torch_dtype {config['text_config']['torch_dtype']}")
    if failures:
        sys.exit(f"{len(failures)} checks failed")
    print("the generated tiny models match the fixture's GGUF layout and hold the same weights in both formats")


if __name__ == "__main__":
    main()
