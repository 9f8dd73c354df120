#!/usr/bin/python3
"""Write a random-weight LLaVA-1.5 model of a real shape, for benchmarks.

The same weights are written twice, so that other engines can be timed on identical weights.
glimpse loads the llava-hf folder: config.json, sharded safetensors, and the tokenizer, chat
template and preprocessor files of the tiny-llava fixture. Other engines load the GGUF pair.
Its text model follows llama.cpp's convert_hf_to_gguf.py (Q and K rows permuted for interleaved
RoPE), and its mmproj file follows the legacy LLaVA CLIP converter, like the fixture's GGUF files.

Speed does not depend on weight values. The values are normal with standard deviation 0.02
(norm weights 1), seeded per tensor name, so every run writes the same files.

Usage (Debian's /usr/bin/python3, which has NumPy):

    /usr/bin/python3 tools/make_bench_model.py --shape 7b --out /data/bench-7b
    /usr/bin/python3 tools/make_bench_model.py --shape 1.1b --dtype bf16 --out /data/bench-1.1b-bf16

Shapes (disk space for the hf folder and the GGUF pair together):
    7b     LLaVA-1.5-7B: LLaMA hidden 4096, 32 layers, 32 heads, 32 KV heads, MLP 11008;
           CLIP ViT-L/14 at 336; projector 1024 -> 4096 -> 4096. About 28 GB (14 GB each).
    1.1b   TinyLlama-1.1B's language model: hidden 2048, 22 layers, 32 heads, 4 KV heads,
           MLP 5632; the same vision tower; projector 1024 -> 2048 -> 2048. About 5.6 GB
           (2.8 GB each).
    tiny   the tiny-llava fixture's shape, for tests (about 18 MB).
All use the vocabulary of 32064 rows and a context of 4096 positions.

Output: OUT/hf/ and OUT/gguf/bench-<shape>-{text,mmproj}-<dtype>.gguf. --fixture names the
tiny-llava fixture folder whose tokenizer files and GGUF vocabulary are copied (default:
../shared/fixtures/tiny-llava beside the repository).
"""

import argparse
import json
import os
import shutil
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_io  # noqa: E402

try:
    import numpy as np
except ModuleNotFoundError:
    sys.exit(f"{sys.executable} has no numpy; run this script with /usr/bin/python3 (Debian's python3-numpy)")

SHAPES = {
    "7b": dict(hidden=4096, layers=32, heads=32, kv_heads=32, mlp=11008,
               v_hidden=1024, v_layers=24, v_heads=16, v_mlp=4096, v_projection=768),
    "1.1b": dict(hidden=2048, layers=22, heads=32, kv_heads=4, mlp=5632,
                 v_hidden=1024, v_layers=24, v_heads=16, v_mlp=4096, v_projection=768),
    "tiny": dict(hidden=64, layers=2, heads=4, kv_heads=2, mlp=192,
                 v_hidden=64, v_layers=3, v_heads=4, v_mlp=160, v_projection=32),
}
VOCAB = 32064
CONTEXT = 4096
IMAGE_SIZE = 336
PATCH = 14
SHARD_BYTES = 4 << 30
HF_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
            "preprocessor_config.json", "chat_template.json"]
GGML_BF16 = 30


def values(name, shape, seed, dtype):
    """Returns the tensor `name` as stored: float16 values, or bfloat16 bit patterns (uint16)."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name.endswith(("norm.weight", "layer_norm1.weight", "layer_norm2.weight")):
        data = np.ones(shape, dtype=np.float32)
    else:
        data = rng.standard_normal(shape, dtype=np.float32)
        data *= np.float32(0.02)
    if dtype == "f16":
        return data.astype(np.float16)
    bits = data.view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even


def as_f32(stored, dtype):
    if dtype == "f16":
        return stored.astype(np.float32)
    return (stored.astype(np.uint32) << 16).view(np.float32)


def hf_tensors(s):
    """Returns (name, shape) of every llava-hf tensor, with transformers' pre-4.52 names."""
    h, hd = s["hidden"], s["hidden"] // s["heads"]
    out = [("language_model.model.embed_tokens.weight", (VOCAB, h))]

    for i in range(s["layers"]):
        p = f"language_model.model.layers.{i}."
        out += [(p + "input_layernorm.weight", (h,)),
                (p + "self_attn.q_proj.weight", (s["heads"] * hd, h)),
                (p + "self_attn.k_proj.weight", (s["kv_heads"] * hd, h)),
                (p + "self_attn.v_proj.weight", (s["kv_heads"] * hd, h)),
                (p + "self_attn.o_proj.weight", (h, s["heads"] * hd)),
                (p + "post_attention_layernorm.weight", (h,)),
                (p + "mlp.gate_proj.weight", (s["mlp"], h)),
                (p + "mlp.up_proj.weight", (s["mlp"], h)),
                (p + "mlp.down_proj.weight", (h, s["mlp"]))]
    out += [("language_model.model.norm.weight", (h,)), ("language_model.lm_head.weight", (VOCAB, h))]

    v = s["v_hidden"]
    n_pos = (IMAGE_SIZE // PATCH) ** 2 + 1
    p = "vision_tower.vision_model."
    out += [(p + "embeddings.class_embedding", (v,)),
            (p + "embeddings.patch_embedding.weight", (v, 3, PATCH, PATCH)),
            (p + "embeddings.position_embedding.weight", (n_pos, v)),
            (p + "pre_layrnorm.weight", (v,)), (p + "pre_layrnorm.bias", (v,))]
    for i in range(s["v_layers"]):
        q = f"{p}encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            out += [(q + f"self_attn.{proj}.weight", (v, v)), (q + f"self_attn.{proj}.bias", (v,))]
        out += [(q + "layer_norm1.weight", (v,)), (q + "layer_norm1.bias", (v,)),
                (q + "mlp.fc1.weight", (s["v_mlp"], v)), (q + "mlp.fc1.bias", (s["v_mlp"],)),
                (q + "mlp.fc2.weight", (v, s["v_mlp"])), (q + "mlp.fc2.bias", (v,)),
                (q + "layer_norm2.weight", (v,)), (q + "layer_norm2.bias", (v,))]
    out += [(p + "post_layernorm.weight", (v,)), (p + "post_layernorm.bias", (v,)),
            ("multi_modal_projector.linear_1.weight", (h, v)), ("multi_modal_projector.linear_1.bias", (h,)),
            ("multi_modal_projector.linear_2.weight", (h, h)), ("multi_modal_projector.linear_2.bias", (h,))]
    return out


def config_json(s, dtype):
    torch_dtype = {"f16": "float16", "bf16": "bfloat16"}[dtype]
    return {
        "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 32000,
        "model_type": "llava", "pad_token_id": 32001, "projector_hidden_act": "gelu",
        "text_config": {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": s["hidden"],
            "intermediate_size": s["mlp"], "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"],
            "num_key_value_heads": s["kv_heads"], "head_dim": s["hidden"] // s["heads"], "hidden_act": "silu",
            "max_position_embeddings": CONTEXT, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": None,
            "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": False, "vocab_size": VOCAB,
            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": torch_dtype},
        "tie_word_embeddings": False, "torch_dtype": torch_dtype,
        "vision_config": {
            "model_type": "clip_vision_model", "hidden_size": s["v_hidden"], "intermediate_size": s["v_mlp"],
            "num_hidden_layers": s["v_layers"], "num_attention_heads": s["v_heads"], "num_channels": 3,
            "image_size": IMAGE_SIZE, "patch_size": PATCH, "projection_dim": s["v_projection"],
            "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05, "attention_dropout": 0.0},
        "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
        "multimodal_projector_bias": True, "image_seq_length": (IMAGE_SIZE // PATCH) ** 2, "vocab_size": VOCAB,
        "transformers_version": "4.45.0"}


def write_hf(out, s, dtype, seed):
    tensors = hf_tensors(s)
    st_dtype = {"f16": "F16", "bf16": "BF16"}[dtype]
    shards, current, size = [], [], 0
    for name, shape in tensors:
        n_bytes = 2 * int(np.prod(shape))
        if current and size + n_bytes > SHARD_BYTES:
            shards.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += n_bytes
    shards.append(current)
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        file_name = "model.safetensors" if len(shards) == 1 else f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name, shape in shard:
            n_bytes = 2 * int(np.prod(shape))
            header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + n_bytes]}
            offset += n_bytes
            weight_map[name] = file_name
        total += offset
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(os.path.join(out, file_name), "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text)
            for name, shape in shard:
                values(name, shape, seed, dtype).tofile(f)
        print(f"  wrote {file_name}", flush=True)
    if len(shards) > 1:
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(s, dtype), f, indent=2)


def permute_rows(w, n_head):
    """Reorders Q or K rows from Hugging Face's rotate-half RoPE layout to llama.cpp's interleaved one,
    as llama.cpp's convert_hf_to_gguf.py does."""
    rows, n_in = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, n_in).swapaxes(1, 2).reshape(rows, n_in)


def gguf_text_tensors(s):
    """Returns (gguf name, hf name, shape, kind) per tensor. kind is 'w' (stored in the model dtype),
    'n' (F32), or 'q' or 'k' (model dtype, rows permuted)."""
    h, hd = s["hidden"], s["hidden"] // s["heads"]
    out = [("token_embd.weight", "language_model.model.embed_tokens.weight", (VOCAB, h), "w")]
    for i in range(s["layers"]):
        p, q = f"blk.{i}.", f"language_model.model.layers.{i}."
        out += [(p + "attn_norm.weight", q + "input_layernorm.weight", (h,), "n"),
                (p + "attn_q.weight", q + "self_attn.q_proj.weight", (s["heads"] * hd, h), "q"),
                (p + "attn_k.weight", q + "self_attn.k_proj.weight", (s["kv_heads"] * hd, h), "k"),
                (p + "attn_v.weight", q + "self_attn.v_proj.weight", (s["kv_heads"] * hd, h), "w"),
                (p + "attn_output.weight", q + "self_attn.o_proj.weight", (h, s["heads"] * hd), "w"),
                (p + "ffn_norm.weight", q + "post_attention_layernorm.weight", (h,), "n"),
                (p + "ffn_gate.weight", q + "mlp.gate_proj.weight", (s["mlp"], h), "w"),
                (p + "ffn_up.weight", q + "mlp.up_proj.weight", (s["mlp"], h), "w"),
                (p + "ffn_down.weight", q + "mlp.down_proj.weight", (h, s["mlp"]), "w")]
    out += [("output_norm.weight", "language_model.model.norm.weight", (h,), "n"),
            ("output.weight", "language_model.lm_head.weight", (VOCAB, h), "w")]
    return out


def gguf_mmproj_tensors(s):
    v = s["v_hidden"]
    h = s["hidden"]
    n_pos = (IMAGE_SIZE // PATCH) ** 2 + 1
    p = "vision_tower.vision_model."
    out = [("mm.0.weight", "multi_modal_projector.linear_1.weight", (h, v), "w"),
           ("mm.0.bias", "multi_modal_projector.linear_1.bias", (h,), "n"),
           ("mm.2.weight", "multi_modal_projector.linear_2.weight", (h, h), "w"),
           ("mm.2.bias", "multi_modal_projector.linear_2.bias", (h,), "n"),
           ("v.class_embd", p + "embeddings.class_embedding", (v,), "n"),
           ("v.patch_embd.weight", p + "embeddings.patch_embedding.weight", (v, 3, PATCH, PATCH), "w"),
           ("v.position_embd.weight", p + "embeddings.position_embedding.weight", (n_pos, v), "w"),
           ("v.pre_ln.weight", p + "pre_layrnorm.weight", (v,), "n"),
           ("v.pre_ln.bias", p + "pre_layrnorm.bias", (v,), "n")]
    # vision_feature_layer -2: the last layer is not needed and not stored.
    for i in range(s["v_layers"] - 1):
        b, q = f"v.blk.{i}.", f"{p}encoder.layers.{i}."
        for g, proj in (("attn_k", "k_proj"), ("attn_v", "v_proj"), ("attn_q", "q_proj"), ("attn_out", "out_proj")):
            out += [(b + g + ".weight", q + f"self_attn.{proj}.weight", (v, v), "w"),
                    (b + g + ".bias", q + f"self_attn.{proj}.bias", (v,), "n")]
        out += [(b + "ln1.weight", q + "layer_norm1.weight", (v,), "n"),
                (b + "ln1.bias", q + "layer_norm1.bias", (v,), "n"),
                (b + "ffn_down.weight", q + "mlp.fc1.weight", (s["v_mlp"], v), "w"),
                (b + "ffn_down.bias", q + "mlp.fc1.bias", (s["v_mlp"],), "n"),
                (b + "ffn_up.weight", q + "mlp.fc2.weight", (v, s["v_mlp"]), "w"),
                (b + "ffn_up.bias", q + "mlp.fc2.bias", (v,), "n"),
                (b + "ln2.weight", q + "layer_norm2.weight", (v,), "n"),
                (b + "ln2.bias", q + "layer_norm2.bias", (v,), "n")]
    return out


def write_gguf(path, metadata, tensors, s, dtype, seed):
    ggml_dtype = {"f16": gguf_io.GGML_F16, "bf16": GGML_BF16}[dtype]
    gguf_io.GGML_TYPE_SIZE[GGML_BF16] = 2
    records = [(g, shape, gguf_io.GGML_F32 if kind == "n" else ggml_dtype) for g, _, shape, kind in tensors]
    writer = gguf_io.Writer(path, metadata, records)
    for g, hf_name, shape, kind in tensors:
        data = values(hf_name, shape, seed, dtype)
        if kind == "n":
            data = as_f32(data, dtype)
        elif kind in ("q", "k"):
            data = permute_rows(data, s["heads"] if kind == "q" else s["kv_heads"])
        writer.write_tensor(g, np.ascontiguousarray(data))
    writer.close()
    print(f"  wrote {os.path.basename(path)}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), required=True)
    parser.add_argument("--dtype", choices=["f16", "bf16"], default="f16")
    parser.add_argument("--out", required=True, help="output folder, outside the repository")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gguf", action="store_true", help="write only the llava-hf folder")
    parser.add_argument("--fixture", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                          "shared", "fixtures", "tiny-llava"))
    args = parser.parse_args()
    s = SHAPES[args.shape]
    fixture_hf = os.path.join(args.fixture, "f16", "hf")
    fixture_gguf = os.path.join(args.fixture, "f16", "gguf")
    if not os.path.isdir(fixture_hf):
        sys.exit(f"the tiny-llava fixture is not at {args.fixture}; pass --fixture with its folder")

    hf_dir = os.path.join(args.out, "hf")
    os.makedirs(hf_dir, exist_ok=True)
    for name in HF_FILES:
        shutil.copyfile(os.path.join(fixture_hf, name), os.path.join(hf_dir, name))
    print(f"writing {args.shape} {args.dtype} to {args.out}", flush=True)
    write_hf(hf_dir, s, args.dtype, args.seed)
    if args.no_gguf:
        return

    gguf_dir = os.path.join(args.out, "gguf")
    os.makedirs(gguf_dir, exist_ok=True)
    file_type = {"f16": 1, "bf16": 32}[args.dtype]  # LLAMA_FTYPE_MOSTLY_F16 / _BF16
    U32 = gguf_io.UINT32
    text_meta, _, _ = gguf_io.read_header(os.path.join(fixture_gguf, "tiny-llava-text-f16.gguf"))
    hd = s["hidden"] // s["heads"]
    text_meta.update({
        "general.name": (gguf_io.STRING, f"bench-{args.shape}"),
        "llama.block_count": (U32, s["layers"]), "llama.context_length": (U32, CONTEXT),
        "llama.embedding_length": (U32, s["hidden"]), "llama.feed_forward_length": (U32, s["mlp"]),
        "llama.attention.head_count": (U32, s["heads"]), "llama.attention.head_count_kv": (U32, s["kv_heads"]),
        "llama.rope.dimension_count": (U32, hd), "general.file_type": (U32, file_type)})
    write_gguf(os.path.join(gguf_dir, f"bench-{args.shape}-text-{args.dtype}.gguf"), text_meta,
               gguf_text_tensors(s), s, args.dtype, args.seed)

    mm_meta, _, _ = gguf_io.read_header(os.path.join(fixture_gguf, "tiny-llava-mmproj-f16.gguf"))
    mm_meta.update({
        "general.name": (gguf_io.STRING, f"bench-{args.shape}-mmproj"), "general.file_type": (U32, file_type),
        "clip.vision.embedding_length": (U32, s["v_hidden"]), "clip.vision.feed_forward_length": (U32, s["v_mlp"]),
        "clip.vision.projection_dim": (U32, s["v_projection"]), "clip.vision.attention.head_count": (U32, s["v_heads"]),
        "clip.vision.block_count": (U32, s["v_layers"] - 1),
        "clip.vision.feature_layer": (gguf_io.ARRAY, (gguf_io.INT32, [s["v_layers"] - 1]))})
    write_gguf(os.path.join(gguf_dir, f"bench-{args.shape}-mmproj-{args.dtype}.gguf"), mm_meta,
               gguf_mmproj_tensors(s), s, args.dtype, args.seed)


if __name__ == "__main__":
    main()
