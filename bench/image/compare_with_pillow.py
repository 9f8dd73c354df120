#!/usr/bin/python3
"""Times Pillow + numpy doing LLaVA-1.5's image preprocessing next to glimpse's benchmark program
doing the same steps, and prints one table with both and their ratio.

    /usr/bin/python3 bench/image/compare_with_pillow.py \
        --bench build/bench/image/glimpse_bench_image [--glimpse build/glimpse]

Run it with Debian's /usr/bin/python3, which imports python3-pil and python3-numpy. The Pillow side
follows transformers' CLIPImageProcessor slow path (and original LLaVA's expand2square for pad
mode) without transformers' own overhead: open, ImageOps.exif_transpose, convert("RGB"), resize
the shortest edge to 336 with BICUBIC and reducing_gap=None, center crop in numpy, rescale in
float64 and cast to float32, normalize in float32, transpose to a contiguous CHW array.
transformers itself adds a numpy -> PIL -> numpy round trip around the resize, so real
CLIPImageProcessor calls are slower than the Pillow column. Both sides run on one thread and are
measured in CPU time of the process (the median of repeated runs), which stays meaningful on a
machine that other jobs share; --clock wall measures wall time instead.

With --glimpse, the script also checks that `glimpse preprocess` writes the same tensor, bit for
bit, as this Pillow pipeline for every case it times.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import PIL
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGES = os.path.join(HERE, "..", "..", "tests", "data", "preprocess", "images")
CASES = [("jpeg_4000x3000_lowq.jpg", 0), ("jpeg_1920x1080.jpg", 1)]  # file, index in the C++ benchmark
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
SIDE = 336


def expand2square(image, background):
    width, height = image.size
    if width == height:
        return image
    side = max(width, height)
    square = Image.new(image.mode, (side, side), background)
    square.paste(image, ((side - width) // 2, (side - height) // 2))
    return square


def preprocess(image, mode):
    if mode == "pad":
        image = expand2square(image, tuple(int(x * 255) for x in [0.48145466, 0.4578275, 0.40821073]))
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(SIDE * long / short)
    size = (SIDE, new_long) if width <= height else (new_long, SIDE)
    image = image.resize(size, Image.BICUBIC, reducing_gap=None)
    pixels = np.asarray(image)
    top = (pixels.shape[0] - SIDE) // 2
    left = (pixels.shape[1] - SIDE) // 2
    pixels = pixels[top:top + SIDE, left:left + SIDE]
    values = (pixels * (1 / 255)).astype(np.float32)
    values = (values - MEAN) / STD
    return np.ascontiguousarray(values.transpose(2, 0, 1))


def decode(path):
    image = Image.open(path)
    image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image.load()
    return image


def time_call(function, min_seconds, clock):
    """Returns the median time of `clock` in milliseconds over at least 5 calls and `min_seconds`."""
    samples = []
    start = time.perf_counter()
    while len(samples) < 5 or time.perf_counter() - start < min_seconds:
        t0 = clock()
        function()
        samples.append((clock() - t0) * 1000)
    return statistics.median(samples)


def run_glimpse_bench(binary, min_seconds, field):
    output = subprocess.run([binary, "--benchmark_format=json", f"--benchmark_min_time={min_seconds}",
                             "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"],
                            check=True, capture_output=True, text=True).stdout
    times = {}
    for entry in json.loads(output)["benchmarks"]:
        if entry.get("aggregate_name") != "median":
            continue
        factor = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[entry["time_unit"]]
        times[entry["run_name"]] = entry[field] * factor
    return times


def check_same_tensor(glimpse, path, mode, expected):
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "out.npy")
        subprocess.run([glimpse, "preprocess", path, "--mode", mode, "-o", out], check=True, capture_output=True)
        got = np.load(out)
    if got.shape != expected.shape or got.tobytes() != expected.tobytes():
        differing = int(np.sum(got != expected)) if got.shape == expected.shape else -1
        sys.exit(f"glimpse and Pillow disagree on {os.path.basename(path)} {mode}: {differing} values differ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", required=True, help="the glimpse_bench_image executable")
    parser.add_argument("--glimpse", help="the glimpse executable, to check that both give the same tensor")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="time spent per case and side")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu", help="CPU time or wall time")
    args = parser.parse_args()

    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    glimpse_ms = run_glimpse_bench(args.bench, args.min_seconds, "cpu_time" if args.clock == "cpu" else "real_time")
    rows = []
    for name, index in CASES:
        path = os.path.join(IMAGES, name)
        decoded = decode(path)
        for mode_index, mode in enumerate(["crop", "pad"]):
            if args.glimpse:
                check_same_tensor(args.glimpse, path, mode, preprocess(decoded, mode))
            pillow_total = time_call(lambda: preprocess(decode(path), mode), args.min_seconds, clock)
            pillow_prep = time_call(lambda: preprocess(decoded, mode), args.min_seconds, clock)
            rows.append((f"{name} {mode}: file to tensor", pillow_total,
                         glimpse_ms[f"BM_FileToTensor/{index}/{mode_index}"]))
            rows.append((f"{name} {mode}: resize, crop/pad, normalize", pillow_prep,
                         glimpse_ms[f"BM_Preprocess/{index}/{mode_index}"]))
        pillow_decode = time_call(lambda: decode(path), args.min_seconds, clock)
        rows.append((f"{name}: decode only", pillow_decode, glimpse_ms[f"BM_Decode/{index}"]))

    print(f"Pillow {PIL.__version__}, numpy {np.__version__}; median {args.clock} time in ms, one thread")
    print()
    print("| case | Pillow + numpy (ms) | glimpse (ms) | Pillow / glimpse |")
    print("| --- | ---: | ---: | ---: |")
    for label, pillow, glimpse in rows:
        print(f"| {label} | {pillow:.1f} | {glimpse:.1f} | {pillow / glimpse:.2f} |")
    if args.glimpse:
        print()
        print("glimpse preprocess wrote the same float32 tensor as the Pillow pipeline in every case.")


if __name__ == "__main__":
    main()
