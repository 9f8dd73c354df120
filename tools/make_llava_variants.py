#!/usr/bin/python3
"""Write small random-weight LLaVA models with float64 reference outputs for engine tests.

Each variant is a llava-hf style model folder (config.json and safetensors weights) whose shapes,
storage type, tensor names or config defaults differ from the tiny-llava test fixture. Its
reference/ folder contains the outputs of an independent float64 NumPy implementation of
`LlavaForConditionalGeneration` as transformers 4.45 computes it: CLIP vision tower, projector,
image-token merge and LLaMA.

Usage (Debian's /usr/bin/python3, which has NumPy; nothing else beyond the standard library):

    /usr/bin/python3 tools/make_llava_variants.py --out DIR
    /usr/bin/python3 tools/make_llava_variants.py --self-check FIXTURE_DIR

`--out DIR` writes DIR/<variant>/ for every variant and DIR/variants.json. The output is the same,
byte for byte, on every run. `--self-check` runs this reference on the tiny-llava fixture (case
gradient_336/crop/q0) and compares it with the float64 results stored there; it exits with status 1
when a value is outside |x - ref| <= 1e-6 + 1e-6 * |ref|.

Layout of DIR/<variant>/reference/ (all files little-endian, row-major):
    case.json           input_ids (prompt followed by continuation ids), counts, shapes, file names
    pixels_<k>.f32      image k, already-normalized pixel values [3, S, S]
    image_features.f64  projector outputs of all images, concatenated [K * n_feat, text hidden]
    logits.f64          [T, vocab]; row t is the output after input_ids[0..t] (causal), which is
                        what a KV-cached engine produces when it feeds input_ids[t] at position t
    vision_hidden.f64   image 0's selected CLIP hidden state after the feature-select strategy
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time
from dataclasses import dataclass

try:
    import numpy as np
except ModuleNotFoundError:
    sys.exit(f"{sys.executable} has no numpy; run this script with /usr/bin/python3 (Debian's python3-numpy)")


# ----------------------------------------------------------------------------------------------
# safetensors files

STORAGE_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}
TORCH_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def round_to_storage(values, dtype):
    """Round float64 values to a safetensors dtype.

    Returns (raw, stored): raw is the array to write (BF16 as its uint16 bit patterns) and stored
    contains the same numbers as float64. The values pass through float32 first, so F16 and BF16 are
    rounded from the float32 value (round to nearest even both times).
    """
    f32 = np.asarray(values, dtype=np.float64).astype(np.float32)
    if dtype == "F32":
        raw = f32
    elif dtype == "F16":
        raw = f32.astype(np.float16)
    elif dtype == "BF16":
        raw = float32_to_bf16_bits(f32)
    else:
        raise ValueError(f"unsupported storage dtype {dtype!r}, expected one of {list(STORAGE_DTYPES)}")
    return raw, decode_storage(raw, dtype)


def float32_to_bf16_bits(f32):
    """Round float32 values to bfloat16 (nearest, ties to even) and return the uint16 bit patterns."""
    bits = f32.view(np.uint32).astype(np.uint64)
    rounding_bias = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding_bias) >> 16).astype(np.uint16)


def decode_storage(raw, dtype):
    """Convert a raw safetensors array (BF16 as uint16 bit patterns) to float64."""
    if dtype == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return raw.astype(np.float64)


def read_safetensors(path):
    """Read every tensor of a safetensors file as a float64 array, keyed by tensor name."""
    with open(path, "rb") as file:
        data = file.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    data_start = 8 + header_len

    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        if dtype not in STORAGE_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = math.prod(shape)
        if end - begin != count * STORAGE_DTYPES[dtype].itemsize:
            raise ValueError(f"{path}: tensor {name} has {end - begin} bytes, expected {shape} {dtype}")
        raw = np.frombuffer(data, STORAGE_DTYPES[dtype], count=count, offset=data_start + begin)
        tensors[name] = decode_storage(raw.reshape(shape), dtype)
    return tensors


def write_safetensors(path, tensors):
    """Write {name: (dtype, raw array)} as a safetensors file, tensors in name order.

    The header is padded with spaces to a multiple of 8 bytes, as the safetensors library does.
    """
    names = sorted(tensors)
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in names:
        dtype, raw = tensors[name]
        header[name] = {"dtype": dtype, "shape": list(raw.shape), "data_offsets": [offset, offset + raw.nbytes]}
        offset += raw.nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)

    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(header_bytes)))
        file.write(header_bytes)
        for name in names:
            dtype, raw = tensors[name]
            file.write(np.ascontiguousarray(raw, dtype=STORAGE_DTYPES[dtype]).tobytes())


def split_into_shards(tensors, n_shards):
    """Split {name: (dtype, raw)} into n_shards groups of consecutive names with similar byte sizes."""
    names = sorted(tensors)
    if len(names) < n_shards:
        raise ValueError(f"cannot split {len(names)} tensors into {n_shards} shards")
    total = sum(tensors[name][1].nbytes for name in names)
    shards = [{} for _ in range(n_shards)]
    written = 0
    for index, name in enumerate(names):
        shard = min(n_shards - 1, written * n_shards // total)
        # Leave at least one tensor for every later shard.
        shard = max(shard, n_shards - (len(names) - index))
        shards[shard][name] = tensors[name]
        written += tensors[name][1].nbytes
    if any(not shard for shard in shards):
        raise ValueError(f"sharding left an empty shard: sizes {[len(s) for s in shards]}")
    return shards


# ----------------------------------------------------------------------------------------------
# Tensor names

# Transformers 4.52 renamed the LLaVA checkpoint keys (its `_checkpoint_conversion_mapping`).
# Pairs of (name prefix before 4.52, prefix from 4.52 on).
NAME_PREFIXES_OLD_TO_NEW = [
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
]


def rename_prefix(name, pairs):
    for source, target in pairs:
        if name.startswith(source):
            return target + name[len(source):]
    raise ValueError(f"tensor name {name!r} does not start with any of {[source for source, _ in pairs]}")


def to_new_name(old_name):
    return rename_prefix(old_name, NAME_PREFIXES_OLD_TO_NEW)


def to_old_name(name):
    """Map a tensor name of either naming scheme to the scheme before transformers 4.52."""
    if any(name.startswith(old) for old, _ in NAME_PREFIXES_OLD_TO_NEW):
        return name
    return rename_prefix(name, [(new, old) for old, new in NAME_PREFIXES_OLD_TO_NEW])


def load_model_weights(model_dir):
    """Read a llava-hf folder's weights (one file or sharded) as float64, keyed by pre-4.52 names."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        files = sorted(set(read_json(index_path)["weight_map"].values()))
    else:
        files = ["model.safetensors"]

    weights = {}
    for file_name in files:
        for name, value in read_safetensors(os.path.join(model_dir, file_name)).items():
            old_name = to_old_name(name)
            if old_name in weights:
                raise ValueError(f"{model_dir}: tensor {old_name} is stored under both naming schemes; keep one")
            weights[old_name] = value
    return weights


# ----------------------------------------------------------------------------------------------
# Configuration, with the defaults of transformers 4.45 for the fields config.json leaves out

# CLIPVisionConfig.__init__ (used when vision_config is a dict without these keys).
CLIP_VISION_DEFAULTS = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}

# LlamaConfig.__init__. num_key_value_heads None means num_attention_heads, and head_dim None
# means hidden_size // num_attention_heads.
LLAMA_DEFAULTS = {
    "vocab_size": 32000,
    "hidden_size": 4096,
    "intermediate_size": 11008,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": None,
    "head_dim": None,
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": False,
}

# LlavaConfig.__init__. In 4.45 the forward pass expands single <image> tokens itself (the
# "legacy" path) when a row contains fewer than image_seq_length image tokens, so configs of
# already-expanded prompts must set image_seq_length <= the image tokens of the prompt.
LLAVA_DEFAULTS = {
    "image_token_index": 32000,
    "projector_hidden_act": "gelu",
    "vision_feature_layer": -2,
    "vision_feature_select_strategy": "default",
    "image_seq_length": 576,
}


@dataclass(frozen=True)
class VisionParams:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    image_size: int
    patch_size: int
    act: str
    eps: float

    @property
    def grid(self):
        """Patches per image side (the conv with stride patch_size drops any remainder)."""
        return self.image_size // self.patch_size


@dataclass(frozen=True)
class TextParams:
    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    rope_theta: float
    tie_embeddings: bool


@dataclass(frozen=True)
class LlavaParams:
    vision: VisionParams
    text: TextParams
    image_token_index: int
    projector_act: str
    feature_layer: int
    strategy: str
    image_seq_length: int

    @property
    def features_per_image(self):
        """Image feature rows per image: the patches, plus the CLS row for strategy "full"."""
        return self.vision.grid ** 2 + (1 if self.strategy == "full" else 0)


def resolve_config(config):
    """Apply transformers 4.45 defaults to a llava config.json dict; reject what the reference lacks."""
    if config.get("model_type") != "llava":
        raise ValueError(f"model_type is {config.get('model_type')!r}, expected 'llava'")
    if "vision_config" not in config or "text_config" not in config:
        # LlavaConfig's fallbacks for a missing sub-config are full-size models, not implemented here.
        raise ValueError("config.json must contain vision_config and text_config")
    vision = resolve_vision_config(config["vision_config"])
    text = resolve_text_config(config["text_config"])
    top = {**LLAVA_DEFAULTS, **config}

    if top["projector_hidden_act"] not in ACTIVATIONS:
        raise ValueError(f"unsupported projector_hidden_act {top['projector_hidden_act']!r}")
    if top["vision_feature_select_strategy"] not in ("default", "full"):
        raise ValueError(f"unsupported vision_feature_select_strategy {top['vision_feature_select_strategy']!r}")
    if not isinstance(top["vision_feature_layer"], int):
        raise ValueError(f"vision_feature_layer must be an int, got {top['vision_feature_layer']!r}")
    if not 0 <= top["image_token_index"] < text.vocab:
        raise ValueError(f"image_token_index {top['image_token_index']} is outside the vocabulary of {text.vocab}")
    if top.get("multimodal_projector_bias", True) is not True:
        raise ValueError("multimodal_projector_bias false is not supported (transformers 4.45 always has biases)")

    return LlavaParams(
        vision=vision,
        text=text,
        image_token_index=top["image_token_index"],
        projector_act=top["projector_hidden_act"],
        feature_layer=top["vision_feature_layer"],
        strategy=top["vision_feature_select_strategy"],
        image_seq_length=top["image_seq_length"],
    )


def resolve_vision_config(vision_config):
    model_type = vision_config.get("model_type", "clip_vision_model")
    if model_type != "clip_vision_model":
        raise ValueError(f"vision_config model_type {model_type!r} is not supported")
    fields = {**CLIP_VISION_DEFAULTS, **vision_config}
    if fields["num_channels"] != 3:
        raise ValueError(f"num_channels {fields['num_channels']} is not supported, expected 3")
    if fields["hidden_act"] not in ACTIVATIONS:
        raise ValueError(f"unsupported vision hidden_act {fields['hidden_act']!r}")
    return VisionParams(
        hidden=fields["hidden_size"],
        intermediate=fields["intermediate_size"],
        layers=fields["num_hidden_layers"],
        heads=fields["num_attention_heads"],
        image_size=fields["image_size"],
        patch_size=fields["patch_size"],
        act=fields["hidden_act"],
        eps=fields["layer_norm_eps"],
    )


def resolve_text_config(text_config):
    model_type = text_config.get("model_type", "llama")
    if model_type != "llama":
        raise ValueError(f"text_config model_type {model_type!r} is not supported")
    fields = {**LLAMA_DEFAULTS, **text_config}
    if fields["hidden_act"] != "silu":
        raise ValueError(f"unsupported text hidden_act {fields['hidden_act']!r}")
    if fields["rope_scaling"] is not None:
        raise ValueError(f"rope_scaling {fields['rope_scaling']!r} is not supported")
    if fields["attention_bias"] or fields["mlp_bias"]:
        raise ValueError("attention_bias and mlp_bias must be false")

    heads = fields["num_attention_heads"]
    kv_heads = fields["num_key_value_heads"] if fields["num_key_value_heads"] is not None else heads
    head_dim = fields["head_dim"] if fields["head_dim"] is not None else fields["hidden_size"] // heads
    if heads % kv_heads != 0 or head_dim % 2 != 0:
        raise ValueError(f"invalid attention shape: {heads} heads, {kv_heads} KV heads, head_dim {head_dim}")
    return TextParams(
        vocab=fields["vocab_size"],
        hidden=fields["hidden_size"],
        intermediate=fields["intermediate_size"],
        layers=fields["num_hidden_layers"],
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        eps=fields["rms_norm_eps"],
        rope_theta=float(fields["rope_theta"]),
        tie_embeddings=bool(fields["tie_word_embeddings"]),
    )


# ----------------------------------------------------------------------------------------------
# float64 reference of transformers 4.45 LlavaForConditionalGeneration

VISION_PREFIX = "vision_tower.vision_model."
TEXT_PREFIX = "language_model.model."
PROJECTOR_PREFIX = "multi_modal_projector."

erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def quick_gelu(x):
    return x / (1.0 + np.exp(-1.702 * x))


def silu(x):
    return x / (1.0 + np.exp(-x))


ACTIVATIONS = {"gelu": gelu_erf, "quick_gelu": quick_gelu}


def linear(x, weights, name, bias=True):
    """Apply torch.nn.Linear `name` (weight [out, in]) to the rows of x."""
    out = x @ weights[name + ".weight"].T
    if bias:
        out = out + weights[name + ".bias"]
    return out


def layer_norm(x, weights, name, eps):
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weights[name + ".weight"] + weights[name + ".bias"]


def rms_norm(x, weight, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * weight


def softmax(scores):
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def split_heads(x, n_heads):
    """[tokens, n_heads * head_dim] -> [n_heads, tokens, head_dim]."""
    tokens = x.shape[0]
    return x.reshape(tokens, n_heads, -1).transpose(1, 0, 2)


def merge_heads(x):
    """[n_heads, tokens, head_dim] -> [tokens, n_heads * head_dim]."""
    n_heads, tokens, head_dim = x.shape
    return x.transpose(1, 0, 2).reshape(tokens, n_heads * head_dim)


# --- CLIP vision tower

def clip_embeddings(weights, vision, pixels):
    """Embed one image [3, S, S] as [1 + grid^2, hidden]: CLS row, then patches row by row."""
    p, grid = vision.patch_size, vision.grid
    pixels = pixels[:, :grid * p, :grid * p]
    # [3, grid*p, grid*p] -> [3, grid, p, grid, p] -> [grid, grid, 3, p, p] -> [grid^2, 3*p*p]:
    # one row per patch, flattened like the conv weight [hidden, 3, p, p].
    patches = pixels.reshape(3, grid, p, grid, p).transpose(1, 3, 0, 2, 4).reshape(grid * grid, 3 * p * p)
    conv_weight = weights[VISION_PREFIX + "embeddings.patch_embedding.weight"].reshape(vision.hidden, -1)
    patch_embeds = patches @ conv_weight.T

    class_embedding = weights[VISION_PREFIX + "embeddings.class_embedding"]
    x = np.concatenate([class_embedding[None, :], patch_embeds], axis=0)
    position_embedding = weights[VISION_PREFIX + "embeddings.position_embedding.weight"]
    if position_embedding.shape[0] != x.shape[0]:
        raise ValueError(f"position_embedding has {position_embedding.shape[0]} rows, expected {x.shape[0]}")
    return x + position_embedding


def clip_attention(x, weights, prefix, heads):
    head_dim = x.shape[1] // heads
    q = split_heads(linear(x, weights, prefix + "q_proj") * head_dim ** -0.5, heads)
    k = split_heads(linear(x, weights, prefix + "k_proj"), heads)
    v = split_heads(linear(x, weights, prefix + "v_proj"), heads)
    probs = softmax(q @ k.transpose(0, 2, 1))
    return linear(merge_heads(probs @ v), weights, prefix + "out_proj")


def clip_encoder_layer(x, weights, vision, layer):
    prefix = f"{VISION_PREFIX}encoder.layers.{layer}."
    normed = layer_norm(x, weights, prefix + "layer_norm1", vision.eps)
    x = x + clip_attention(normed, weights, prefix + "self_attn.", vision.heads)
    normed = layer_norm(x, weights, prefix + "layer_norm2", vision.eps)
    hidden = ACTIVATIONS[vision.act](linear(normed, weights, prefix + "mlp.fc1"))
    return x + linear(hidden, weights, prefix + "mlp.fc2")


def clip_hidden_states(weights, vision, pixels):
    """Return CLIP's hidden_states for one image: [pre_layrnorm output, layer 1 output, ...]."""
    x = layer_norm(clip_embeddings(weights, vision, pixels), weights, VISION_PREFIX + "pre_layrnorm", vision.eps)
    states = [x]
    for layer in range(vision.layers):
        x = clip_encoder_layer(x, weights, vision, layer)
        states.append(x)
    return states


def select_vision_features(states, feature_layer, strategy):
    """Pick hidden_states[feature_layer] (Python indexing) and drop the CLS row for "default"."""
    if not -len(states) <= feature_layer < len(states):
        raise ValueError(f"vision_feature_layer {feature_layer} is out of range for {len(states)} hidden states")
    selected = states[feature_layer]
    return selected[1:] if strategy == "default" else selected


def project_image_features(weights, features, act):
    hidden = ACTIVATIONS[act](linear(features, weights, PROJECTOR_PREFIX + "linear_1"))
    return linear(hidden, weights, PROJECTOR_PREFIX + "linear_2")


# --- LLaMA

def rope_cos_sin(n_positions, head_dim, theta):
    """Rotate-half RoPE tables for positions 0..n_positions-1, each [n_positions, head_dim]."""
    inv_freq = theta ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    angles = np.arange(n_positions, dtype=np.float64)[:, None] * inv_freq[None, :]
    angles = np.concatenate([angles, angles], axis=1)
    return np.cos(angles), np.sin(angles)


def apply_rope(x, cos, sin):
    """x: [heads, tokens, head_dim]; rotate_half(x) = concat(-x[d/2:], x[:d/2])."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


def llama_attention(x, weights, prefix, text, cos, sin):
    tokens = x.shape[0]
    q = apply_rope(split_heads(linear(x, weights, prefix + "q_proj", bias=False), text.heads), cos, sin)
    k = apply_rope(split_heads(linear(x, weights, prefix + "k_proj", bias=False), text.kv_heads), cos, sin)
    v = split_heads(linear(x, weights, prefix + "v_proj", bias=False), text.kv_heads)
    # Grouped-query attention: query head h reads KV head h // group.
    group = text.heads // text.kv_heads
    k = np.repeat(k, group, axis=0)
    v = np.repeat(v, group, axis=0)

    scores = q @ k.transpose(0, 2, 1) / math.sqrt(text.head_dim)
    future = np.triu(np.ones((tokens, tokens), dtype=bool), k=1)
    scores[:, future] = -np.inf
    out = merge_heads(softmax(scores) @ v)
    return linear(out, weights, prefix + "o_proj", bias=False)


def llama_decoder_layer(x, weights, text, layer, cos, sin):
    prefix = f"{TEXT_PREFIX}layers.{layer}."
    normed = rms_norm(x, weights[prefix + "input_layernorm.weight"], text.eps)
    x = x + llama_attention(normed, weights, prefix + "self_attn.", text, cos, sin)
    normed = rms_norm(x, weights[prefix + "post_attention_layernorm.weight"], text.eps)
    gate = silu(linear(normed, weights, prefix + "mlp.gate_proj", bias=False))
    up = linear(normed, weights, prefix + "mlp.up_proj", bias=False)
    return x + linear(gate * up, weights, prefix + "mlp.down_proj", bias=False)


def output_embedding(weights, text):
    """Return the lm_head matrix [vocab, hidden], which is the input embedding matrix when tied."""
    if text.tie_embeddings:
        return weights[TEXT_PREFIX + "embed_tokens.weight"]
    if "language_model.lm_head.weight" not in weights:
        raise ValueError("tie_word_embeddings is false but the weights have no lm_head")
    return weights["language_model.lm_head.weight"]


def llama_logits(weights, text, embeds, last_only=False):
    """Run LLaMA causally over embeds [T, hidden] at positions 0..T-1; return logits [T, vocab].

    With last_only, return only the last row, [1, vocab].
    """
    cos, sin = rope_cos_sin(embeds.shape[0], text.head_dim, text.rope_theta)
    x = embeds
    for layer in range(text.layers):
        x = llama_decoder_layer(x, weights, text, layer, cos, sin)
    if last_only:
        x = x[-1:]
    x = rms_norm(x, weights[TEXT_PREFIX + "norm.weight"], text.eps)
    return x @ output_embedding(weights, text).T


# --- the whole model

@dataclass
class ReferenceOutputs:
    selected_vision: list  # per image, the selected CLIP hidden state [n_feat, vision hidden]
    image_features: np.ndarray  # [n_images * n_feat, text hidden]
    logits: np.ndarray  # [T, vocab], or [1, vocab] with last_only


def run_reference(weights, params, input_ids, images, last_only=False):
    """Compute LlavaForConditionalGeneration for one prompt whose image tokens are already expanded."""
    selected = []
    for pixels in images:
        states = clip_hidden_states(weights, params.vision, np.asarray(pixels, dtype=np.float64))
        selected.append(select_vision_features(states, params.feature_layer, params.strategy))
    features = np.concatenate([project_image_features(weights, s, params.projector_act) for s in selected])

    input_ids = np.asarray(input_ids)
    embeds = weights[TEXT_PREFIX + "embed_tokens.weight"][input_ids]
    image_positions = np.flatnonzero(input_ids == params.image_token_index)
    if len(image_positions) != len(features):
        raise ValueError(f"{len(image_positions)} image tokens but {len(features)} image feature rows")
    embeds[image_positions] = features

    logits = llama_logits(weights, params.text, embeds, last_only)
    return ReferenceOutputs(selected, features, logits)


# ----------------------------------------------------------------------------------------------
# Self-check against the tiny-llava fixture

SELF_CHECK_CASE = "gradient_336/crop/q0"
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
SELF_CHECK_ABS_TOL = 1e-6
SELF_CHECK_REL_TOL = 1e-6


def clip_pixel_values(u8_hwc):
    """Rescale and normalize a uint8 HWC image as CLIPImageProcessor does; return float32 CHW."""
    x = (u8_hwc * (1.0 / 255.0)).astype(np.float32)
    mean = np.array(CLIP_MEAN, dtype=np.float32)
    std = np.array(CLIP_STD, dtype=np.float32)
    return ((x - mean) / std).astype(np.float32).transpose(2, 0, 1)


class ErrorTable:
    """Largest errors per group of compared values, against |x - ref| <= abs_tol + rel_tol * |ref|."""

    def __init__(self):
        self.rows = {}

    def add(self, group, values, expected):
        values = np.asarray(values, dtype=np.float64).ravel()
        expected = np.asarray(expected, dtype=np.float64).ravel()
        error = np.abs(values - expected)
        ratio = error / (SELF_CHECK_ABS_TOL + SELF_CHECK_REL_TOL * np.abs(expected))
        old_error, old_ratio = self.rows.get(group, (0.0, 0.0))
        self.rows[group] = (max(old_error, float(error.max())), max(old_ratio, float(ratio.max())))

    def print_and_check(self):
        print(f"{'compared values':<42} {'max |x-ref|':>12} {'max err/tol':>12}")
        for group, (error, ratio) in self.rows.items():
            print(f"{group:<42} {error:12.3e} {ratio:12.3e}")
        return all(ratio <= 1.0 for _, ratio in self.rows.values())


def summary_stats(x):
    """[sum, l2, first 8 values] as in the fixture's reference.json."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return [x.sum(), np.sqrt((x * x).sum())] + list(x[:8])


def logsumexp(row):
    top = row.max()
    return top + math.log(np.exp(row - top).sum())


def top_k(row, k):
    """Return the k largest entries as [(id, value)], value descending, ties to the lower id."""
    order = np.lexsort((np.arange(len(row)), -row))[:k]
    return [(int(i), float(row[i])) for i in order]


def self_check(fixture_dir):
    """Compare this reference with the fixture's float64 results; return True when all match."""
    reference = read_json(os.path.join(fixture_dir, "reference.json"))
    case = next(c for c in reference["cases"] if c["id"] == SELF_CHECK_CASE)
    pixel_info = reference["pixel_inputs"]["gradient_336.crop"]
    model_dir = os.path.join(fixture_dir, "f32", "hf")
    params = resolve_config(read_json(os.path.join(model_dir, "config.json")))
    weights = load_model_weights(model_dir)

    height, width, channels = pixel_info["u8_shape_hwc"]
    u8 = np.fromfile(os.path.join(fixture_dir, pixel_info["u8_file"]), dtype=np.uint8)
    pixels = clip_pixel_values(u8.reshape(height, width, channels))
    pixel_sha256 = hashlib.sha256(np.ascontiguousarray(pixels, dtype="<f4").tobytes()).hexdigest()

    outputs = run_reference(weights, params, case["input_ids"], [pixels], last_only=True)
    expected_features = np.fromfile(os.path.join(fixture_dir, case["image_features"]["file"]), dtype="<f4")
    logits = outputs.logits[0]
    expected_logits = case["prompt_last_logits"]
    expected_top5 = case["steps"][0]["top5"]
    got_top5 = top_k(logits, 5)

    table = ErrorTable()
    table.add("pixel_values sum, first8", [pixels.astype(np.float64).sum()] + list(pixels.ravel()[:8]),
              [pixel_info["pixel_values_sum"]] + pixel_info["pixel_values_first8"])
    vision_stats = case["vision_feature_layer_output"]
    table.add("vision_feature_layer_output sum, l2, first8", summary_stats(outputs.selected_vision[0]),
              [vision_stats["sum"], vision_stats["l2"]] + vision_stats["first8"])
    table.add("image_features elements (f32 file)", outputs.image_features, expected_features)
    feature_stats = case["image_features"]
    table.add("image_features sum, l2, first8", summary_stats(outputs.image_features),
              [feature_stats["sum"], feature_stats["l2"]] + feature_stats["first8"])
    table.add("prompt_last_logits sum, l2, first8", summary_stats(logits),
              [expected_logits["sum"], expected_logits["l2"]] + expected_logits["first8"])
    table.add("prompt_last_logits logsumexp", logsumexp(logits), expected_logits["logsumexp"])
    table.add("steps[0].top5 logits", [value for _, value in got_top5], [value for _, value in expected_top5])

    print(f"self-check: {SELF_CHECK_CASE}, {len(case['input_ids'])} input ids, fixture {fixture_dir}")
    values_ok = table.print_and_check()
    ids_ok = [i for i, _ in got_top5] == [i for i, _ in expected_top5]
    sha_ok = pixel_sha256 == pixel_info["pixel_values_f32_sha256"]
    print(f"steps[0].top5 ids equal: {ids_ok} {[i for i, _ in got_top5]}")
    print(f"pixel_values float32 sha256 equal: {sha_ok}")
    return values_ok and ids_ok and sha_ok


# ----------------------------------------------------------------------------------------------
# Variants

@dataclass(frozen=True)
class Variant:
    name: str
    seed: int
    storage_dtype: str  # "F32", "F16" or "BF16"
    new_names: bool  # tensor names of transformers >= 4.52
    n_shards: int
    n_images: int
    config: dict
    notes: str


def full_config(vision, text, top, storage_dtype):
    """Build a llava-hf style config.json dict that writes out every field the variant sets."""
    torch_dtype = TORCH_DTYPE_NAMES[storage_dtype]
    text_config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        **text,
        "hidden_act": "silu",
        "max_position_embeddings": 4096,
        "rope_scaling": None,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": torch_dtype,
    }
    vision_config = {"model_type": "clip_vision_model", **vision, "num_channels": 3, "attention_dropout": 0.0}
    return {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "ignore_index": -100,
        **top,
        "pad_token_id": text["vocab_size"] - 1,
        "tie_word_embeddings": text["tie_word_embeddings"],
        "torch_dtype": torch_dtype,
        "text_config": text_config,
        "vision_config": vision_config,
        "vocab_size": text["vocab_size"],
        "transformers_version": "4.45.0",
    }


VARIANTS = [
    Variant(
        name="mha_full_newnames",
        seed=101,
        storage_dtype="F32",
        new_names=True,
        n_shards=1,
        n_images=1,
        config=full_config(
            vision={"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "image_size": 64, "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-6},
            text={"vocab_size": 320, "hidden_size": 32, "intermediate_size": 80, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 4, "rms_norm_eps": 1e-6,
                  "rope_theta": 500000.0, "tie_word_embeddings": True},
            top={"image_token_index": 318, "projector_hidden_act": "gelu", "vision_feature_layer": -1,
                 "vision_feature_select_strategy": "full", "image_seq_length": 17},
            storage_dtype="F32"),
        notes="Tensor names of transformers >= 4.52 (model.language_model.*, model.vision_tower.*, "
              "model.multi_modal_projector.*); tied embeddings, so no lm_head tensor; strategy full keeps "
              "the CLS row (17 rows per image); last CLIP layer; rope_theta 500000; layer_norm_eps 1e-6.",
    ),
    Variant(
        name="gqa4_sharded_f16",
        seed=202,
        storage_dtype="F16",
        new_names=False,
        n_shards=3,
        n_images=2,
        config=full_config(
            vision={"hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
                    "image_size": 56, "patch_size": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
            text={"vocab_size": 512, "hidden_size": 96, "intermediate_size": 100, "num_hidden_layers": 3,
                  "num_attention_heads": 8, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
                  "rope_theta": 10000.0, "tie_word_embeddings": False},
            top={"image_token_index": 510, "projector_hidden_act": "gelu", "vision_feature_layer": 2,
                 "vision_feature_select_strategy": "default", "image_seq_length": 49},
            storage_dtype="F16"),
        notes="F16 weights in 3 shards with model.safetensors.index.json; grouped-query attention with 4 "
              "query heads per KV head; vision_feature_layer 2 counts from the front (hidden_states[2], the "
              "output of layer 2 of 4); two images, separated by text ids.",
    ),
    Variant(
        name="mqa_headdim_bf16",
        seed=303,
        storage_dtype="BF16",
        new_names=False,
        n_shards=1,
        n_images=1,
        config=full_config(
            vision={"hidden_size": 24, "intermediate_size": 40, "num_hidden_layers": 3, "num_attention_heads": 3,
                    "image_size": 30, "patch_size": 6, "hidden_act": "gelu", "layer_norm_eps": 1e-5},
            text={"vocab_size": 400, "hidden_size": 48, "intermediate_size": 72, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16, "rms_norm_eps": 1e-5,
                  "rope_theta": 10000.0, "tie_word_embeddings": False},
            top={"image_token_index": 398, "projector_hidden_act": "gelu", "vision_feature_layer": -3,
                 "vision_feature_select_strategy": "default", "image_seq_length": 25},
            storage_dtype="BF16"),
        notes="BF16 weights; one KV head; explicit head_dim 16 differs from hidden/heads = 12, so q_proj is "
              "[64, 48] and o_proj [48, 64]; CLIP uses erf GELU; vision_feature_layer -3 is the output of "
              "layer 1 of 3.",
    ),
    Variant(
        name="wide256_f16",
        seed=505,
        storage_dtype="F16",
        new_names=False,
        n_shards=1,
        n_images=1,
        config=full_config(
            vision={"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 2,
                    "image_size": 48, "patch_size": 16, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5},
            text={"vocab_size": 384, "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
                  "rope_theta": 10000.0, "tie_word_embeddings": False},
            top={"image_token_index": 382, "projector_hidden_act": "gelu", "vision_feature_layer": -2,
                 "vision_feature_select_strategy": "default", "image_seq_length": 9},
            storage_dtype="F16"),
        notes="Every language-model linear weight has rows of 256 or 512 values, whole super-blocks of "
              "llama.cpp's Q4_K and Q6_K, so quantizing at load time converts all of them; the tests "
              "measure how far each block type moves the logits from this float64 reference.",
    ),
    Variant(
        name="sparse_defaults",
        seed=404,
        storage_dtype="F32",
        new_names=False,
        n_shards=1,
        n_images=1,
        config={
            "architectures": ["LlavaForConditionalGeneration"],
            "model_type": "llava",
            "image_seq_length": 4,
            "text_config": {"model_type": "llama", "vocab_size": 32064, "hidden_size": 16,
                            "intermediate_size": 24, "num_hidden_layers": 1, "num_attention_heads": 2},
            "vision_config": {"model_type": "clip_vision_model", "hidden_size": 16, "intermediate_size": 24,
                              "num_hidden_layers": 3, "num_attention_heads": 2, "image_size": 32,
                              "patch_size": 16},
            "transformers_version": "4.45.0",
        },
        notes="config.json leaves out every field whose transformers 4.45 default suits a small model: "
              "image_token_index 32000, projector_hidden_act gelu, vision_feature_layer -2, "
              "vision_feature_select_strategy default, CLIP hidden_act quick_gelu and layer_norm_eps 1e-5, "
              "LLaMA num_key_value_heads = num_attention_heads, rms_norm_eps 1e-6, rope_theta 10000, "
              "tie_word_embeddings false (text_config's value decides; the top-level field is absent too), "
              "no pad_token_id or torch_dtype. image_seq_length is set to 4 because 4.45 would otherwise "
              "treat a prompt with fewer than 576 image tokens as unexpanded.",
    ),
]


# --- random weights

def vision_weight_inits(vision):
    """(name, shape, init) for every CLIP tensor, in generation order."""
    h, p = vision.hidden, vision.patch_size
    inits = [
        (VISION_PREFIX + "embeddings.class_embedding", (h,), ("normal", 0.5)),
        (VISION_PREFIX + "embeddings.patch_embedding.weight", (h, 3, p, p), ("matrix", 0.5)),
        (VISION_PREFIX + "embeddings.position_embedding.weight", (vision.grid ** 2 + 1, h), ("normal", 0.5)),
        *layer_norm_inits(VISION_PREFIX + "pre_layrnorm", h),
    ]
    for layer in range(vision.layers):
        prefix = f"{VISION_PREFIX}encoder.layers.{layer}."
        # Larger q/k gains give attention patterns far from uniform.
        for proj, gain in (("q_proj", 1.0), ("k_proj", 1.0), ("v_proj", 0.5), ("out_proj", 0.5)):
            inits += linear_inits(prefix + "self_attn." + proj, h, h, gain)
        inits += layer_norm_inits(prefix + "layer_norm1", h)
        inits += linear_inits(prefix + "mlp.fc1", vision.intermediate, h, 1.0)
        inits += linear_inits(prefix + "mlp.fc2", h, vision.intermediate, 0.5)
        inits += layer_norm_inits(prefix + "layer_norm2", h)
    inits += layer_norm_inits(VISION_PREFIX + "post_layernorm", h)
    return inits


def projector_weight_inits(vision, text):
    return (linear_inits(PROJECTOR_PREFIX + "linear_1", text.hidden, vision.hidden, 1.0)
            + linear_inits(PROJECTOR_PREFIX + "linear_2", text.hidden, text.hidden, 1.0))


def text_weight_inits(text):
    h, q_width, kv_width = text.hidden, text.heads * text.head_dim, text.kv_heads * text.head_dim
    inits = [(TEXT_PREFIX + "embed_tokens.weight", (text.vocab, h), ("normal", 0.5))]
    for layer in range(text.layers):
        prefix = f"{TEXT_PREFIX}layers.{layer}."
        inits += [
            (prefix + "input_layernorm.weight", (h,), ("norm", 0.1)),
            (prefix + "self_attn.q_proj.weight", (q_width, h), ("matrix", 1.0)),
            (prefix + "self_attn.k_proj.weight", (kv_width, h), ("matrix", 1.0)),
            (prefix + "self_attn.v_proj.weight", (kv_width, h), ("matrix", 0.5)),
            (prefix + "self_attn.o_proj.weight", (h, q_width), ("matrix", 0.5)),
            (prefix + "post_attention_layernorm.weight", (h,), ("norm", 0.1)),
            (prefix + "mlp.gate_proj.weight", (text.intermediate, h), ("matrix", 1.0)),
            (prefix + "mlp.up_proj.weight", (text.intermediate, h), ("matrix", 1.0)),
            (prefix + "mlp.down_proj.weight", (h, text.intermediate), ("matrix", 0.5)),
        ]
    inits.append((TEXT_PREFIX + "norm.weight", (h,), ("norm", 0.1)))
    if not text.tie_embeddings:
        # Logits then spread over a few units (standard deviation about 2).
        inits.append(("language_model.lm_head.weight", (text.vocab, h), ("matrix", 2.0)))
    return inits


def linear_inits(name, n_out, n_in, gain):
    return [(name + ".weight", (n_out, n_in), ("matrix", gain)), (name + ".bias", (n_out,), ("normal", 0.05))]


def layer_norm_inits(name, width):
    return [(name + ".weight", (width,), ("norm", 0.1)), (name + ".bias", (width,), ("normal", 0.05))]


def init_tensor(rng, shape, init):
    """"matrix": normal * gain / sqrt(fan_in); "normal": normal * scale; "norm": 1 + uniform(-s, s)."""
    kind, scale = init
    if kind == "matrix":
        return rng.standard_normal(shape) * (scale / math.sqrt(math.prod(shape[1:])))
    if kind == "normal":
        return rng.standard_normal(shape) * scale
    if kind == "norm":
        return 1.0 + rng.uniform(-scale, scale, shape)
    raise ValueError(f"unknown init kind {kind!r}")


def make_stored_weights(params, storage_dtype, rng):
    """Draw every tensor and round it to the storage dtype; return {pre-4.52 name: (dtype, raw)}."""
    inits = (vision_weight_inits(params.vision) + projector_weight_inits(params.vision, params.text)
             + text_weight_inits(params.text))
    stored = {}
    for name, shape, init in inits:
        raw, _ = round_to_storage(init_tensor(rng, shape, init), storage_dtype)
        stored[name] = (storage_dtype, raw)
    return stored


def write_model_weights(folder, stored, variant):
    if variant.new_names:
        stored = {to_new_name(name): value for name, value in stored.items()}
    if variant.n_shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), stored)
        return

    shards = split_into_shards(stored, variant.n_shards)
    weight_map = {}
    for index, shard in enumerate(shards):
        file_name = f"model-{index + 1:05d}-of-{variant.n_shards:05d}.safetensors"
        write_safetensors(os.path.join(folder, file_name), shard)
        weight_map.update({name: file_name for name in shard})
    total_size = sum(raw.nbytes for _, raw in stored.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    write_json(os.path.join(folder, "model.safetensors.index.json"), index)


# --- random inputs

def make_inputs(params, variant, rng):
    """Draw the images and the ids: BOS, text, the image tokens of each image, text, continuation.

    Returns (images, input_ids, n_prompt). Text ids avoid 0-2, the image token and the pad id.
    """
    size = params.vision.image_size
    images = [rng.standard_normal((3, size, size)).astype(np.float32) for _ in range(variant.n_images)]

    excluded = [params.image_token_index, variant.config.get("pad_token_id", -1)]
    candidates = np.setdiff1d(np.arange(3, params.text.vocab), excluded)

    def text_ids(count):
        return [int(i) for i in rng.choice(candidates, size=count)]

    image_tokens = [params.image_token_index] * params.features_per_image
    prompt = [1] + text_ids(3) + image_tokens
    for _ in range(variant.n_images - 1):
        prompt += text_ids(2) + image_tokens
    prompt += text_ids(4)
    return images, prompt + text_ids(6), len(prompt)


# --- writing a variant

def write_variant(out_dir, variant):
    """Write DIR/<name>/ (config, weights, reference/); return (bytes written, summary line)."""
    folder = os.path.join(out_dir, variant.name)
    reference_dir = os.path.join(folder, "reference")
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(reference_dir)

    rng = np.random.default_rng(variant.seed)
    write_json(os.path.join(folder, "config.json"), variant.config)
    stored = make_stored_weights(resolve_config(variant.config), variant.storage_dtype, rng)
    write_model_weights(folder, stored, variant)

    # The reference reads config.json and the weights back from disk, the same bytes an engine reads.
    params = resolve_config(read_json(os.path.join(folder, "config.json")))
    weights = load_model_weights(folder)
    check_weights_round_trip(weights, stored)
    images, input_ids, n_prompt = make_inputs(params, variant, rng)
    outputs = run_reference(weights, params, input_ids, images)

    write_reference(reference_dir, variant, params, images, input_ids, n_prompt, outputs)
    logits = outputs.logits
    summary = (f"{variant.name}: T={len(input_ids)} P={n_prompt}, feature rms "
               f"{np.sqrt((outputs.image_features ** 2).mean()):.2f}, logits std {logits.std():.2f}, "
               f"range [{logits.min():.2f}, {logits.max():.2f}]")
    return folder_size(folder), summary


def check_weights_round_trip(weights, stored):
    if set(weights) != set(stored):
        raise AssertionError(f"tensor names differ after reading back: {sorted(set(weights) ^ set(stored))}")
    for name, (dtype, raw) in stored.items():
        if not np.array_equal(weights[name], decode_storage(raw, dtype)):
            raise AssertionError(f"tensor {name} differs after reading back")


def write_reference(reference_dir, variant, params, images, input_ids, n_prompt, outputs):
    pixel_files = []
    for index, pixels in enumerate(images):
        file_name = f"pixels_{index}.f32"
        pixels.astype("<f4").tofile(os.path.join(reference_dir, file_name))
        pixel_files.append(file_name)
    outputs.image_features.astype("<f8").tofile(os.path.join(reference_dir, "image_features.f64"))
    outputs.logits.astype("<f8").tofile(os.path.join(reference_dir, "logits.f64"))
    outputs.selected_vision[0].astype("<f8").tofile(os.path.join(reference_dir, "vision_hidden.f64"))

    size = params.vision.image_size
    case = {
        "input_ids": [int(i) for i in input_ids],
        "n_prompt": n_prompt,
        "n_images": len(images),
        "image_token_index": params.image_token_index,
        "n_image_features_per_image": params.features_per_image,
        "pixel_shape": [3, size, size],
        "pixels": pixel_files,
        "vision_hidden_shape": list(outputs.selected_vision[0].shape),
        "image_features_shape": list(outputs.image_features.shape),
        "logits_shape": list(outputs.logits.shape),
        "notes": variant.notes + " Reference: float64 NumPy implementation of transformers 4.45 "
                 "LlavaForConditionalGeneration over all input_ids at positions 0..T-1 (causal), computed "
                 "from the stored (rounded) weights; ids after n_prompt are a random continuation.",
    }
    write_json_flat(os.path.join(reference_dir, "case.json"), case)


# ----------------------------------------------------------------------------------------------
# Files and command line

def read_json(path):
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as file:
        json.dump(value, file, indent=2, ensure_ascii=False)
        file.write("\n")


def write_json_flat(path, mapping):
    """Write a JSON object with one key per line and each value on that line (long id lists stay compact)."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in mapping.items()]
    with open(path, "w", encoding="utf-8") as file:
        file.write("{\n" + ",\n".join(lines) + "\n}\n")


def folder_size(folder):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


def write_all_variants(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for variant in VARIANTS:
        size, summary = write_variant(out_dir, variant)
        print(f"{summary}; {size / 1e6:.2f} MB")
    write_json(os.path.join(out_dir, "variants.json"), {"variants": [variant.name for variant in VARIANTS]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", metavar="DIR", help="write DIR/<variant>/ for every variant and DIR/variants.json")
    parser.add_argument("--self-check", metavar="FIXTURE_DIR",
                        help="compare the reference with the tiny-llava fixture's float64 results")
    args = parser.parse_args()
    if not args.out and not args.self_check:
        parser.error("give --out DIR, --self-check FIXTURE_DIR, or both")

    start = time.perf_counter()
    ok = True
    if args.self_check:
        ok = self_check(args.self_check)
        print("self-check " + ("passed" if ok else "FAILED"))
    if args.out:
        write_all_variants(args.out)
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
