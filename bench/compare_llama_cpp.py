#!/usr/bin/env python3
"""Interleaved speed comparison of glimpse and a llama.cpp build on identical weights.

Each round runs, for every weight type, one glimpse measurement and one llama.cpp measurement
back to back, so that both engines meet the same machine state; the figures are medians over the
rounds. glimpse quantizes the F16 llava-hf folder at load time (--quantize), with the same bytes
as llama.cpp's quantizer (tests/data/quant-llama-cpp), and llama.cpp reads GGUF files quantized
from the same F16 weights with `pure` set.

The llama.cpp side needs two programs built outside this repository, whose paths are given:
  --peer-bench   prints "<model> pp<N> rep i/n: <s> s, <x> t/s" and "... tg<N> ..." lines
                 (a llama-bench-like driver over libllama)
  --peer-image   prints "rep i/n: preprocess <s> s, encode <s> s" lines (an mtmd_encode_chunk timer)

Prefill: a prompt of P positions (glimpse: 576 image + P - 576 text positions through the language
model; llama.cpp: pp P). Decode: glimpse's mean step time at context position --decode-position,
llama.cpp's tg N over positions 0..N-1.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import time


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"command failed ({result.returncode}): {' '.join(cmd)}\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def glimpse_run(args, quantize, sections, json_path):
    folder = args.glimpse_folder.get(quantize)
    cmd = [args.glimpse, "bench", "-m", folder or args.hf, "-i", args.image, "-r", "1", "-t", str(args.threads),
           "--sections", sections, "--positions", str(args.decode_position), "--decode-steps", str(args.decode_steps),
           "--prefill-text-tokens", str(args.prompt - 576), "--json", json_path]
    if quantize != "f16" and not folder:
        cmd += ["--quantize", quantize]
    run(cmd)
    with open(json_path) as f:
        return json.load(f)


def peer_text(args, gguf):
    prompt = 0 if args.no_prefill else args.prompt
    out = run([args.peer_bench, "-m", gguf, "-p", str(prompt), "-n", str(args.gen), "-r", "1",
               "-t", str(args.threads), "-mmp", args.peer_mmap])
    pp = [float(x) for x in re.findall(r"pp\d+ rep \d+/\d+: [\d.]+ s, ([\d.]+) t/s", out)]
    tg = [float(x) for x in re.findall(r"tg\d+ rep \d+/\d+: [\d.]+ s, ([\d.]+) t/s", out)]
    if (not pp and not args.no_prefill) or not tg:
        sys.exit(f"no pp/tg lines in the peer output:\n{out}")
    return (pp[0] if pp else float("nan")), tg[0]


def peer_image(args):
    out = run([args.peer_image, "-m", args.gguf_text["f16"], "--mmproj", args.mmproj, "--image", args.image,
               "-r", "1", "-t", str(args.threads)])
    times = [float(x) for x in re.findall(r"rep \d+/\d+: preprocess [\d.]+ s, encode ([\d.]+) s", out)]
    if not times:
        sys.exit(f"no encode lines in the peer output:\n{out}")
    return times[0]


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "samples": values}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glimpse", required=True)
    p.add_argument("--peer-bench", required=True)
    p.add_argument("--peer-image")
    p.add_argument("--hf", required=True, help="F16 llava-hf folder from tools/make_bench_model.py")
    p.add_argument("--gguf-f16", required=True)
    p.add_argument("--gguf-q8_0", required=True)
    p.add_argument("--gguf-q4_0", required=True)
    p.add_argument("--gguf-q4_k")
    p.add_argument("--gguf-q6_k")
    p.add_argument("--glimpse-folder", action="append", default=[], metavar="TYPE=FOLDER",
                   help="a folder written by `glimpse quantize` for TYPE, read instead of quantizing --hf "
                        "while loading (Q4_K's quantizer takes about a minute for the 1.1B shape)")
    p.add_argument("--mmproj", help="F16 mmproj GGUF, for the image encoder comparison")
    p.add_argument("--image", required=True)
    p.add_argument("--types", default="f16,q8_0,q4_0")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--prompt", type=int, default=600)
    p.add_argument("--gen", type=int, default=128)
    p.add_argument("--decode-position", type=int, default=64)
    p.add_argument("--decode-steps", type=int, default=32)
    p.add_argument("--peer-mmap", default="1", choices=["0", "1"])
    p.add_argument("--no-prefill", action="store_true",
                   help="time decode only (for the 7B shape, where one prefill of 600 positions takes minutes)")
    p.add_argument("--json", help="write all samples here")
    args = p.parse_args()
    args.gguf_text = {"f16": args.gguf_f16, "q8_0": args.gguf_q8_0, "q4_0": args.gguf_q4_0,
                      "q4_k": args.gguf_q4_k, "q6_k": args.gguf_q6_k}
    args.glimpse_folder = dict(item.split("=", 1) for item in args.glimpse_folder)
    types = args.types.split(",")
    for t in types:
        if not args.gguf_text.get(t):
            sys.exit(f"--types names {t}, but no --gguf-{t} file was given")
    samples = {t: {"glimpse_prefill": [], "glimpse_decode": [], "peer_prefill": [], "peer_decode": [],
                   "glimpse_decode_percent_of_bound": []} for t in types}
    images = {"glimpse": [], "peer": []}
    bandwidth = []
    tmp = "/tmp/glimpse-compare.json"
    for round_index in range(args.rounds):
        for t in types:
            sections = "bandwidth,decode" if args.no_prefill else "bandwidth,prefill,decode"
            # The engine that runs first alternates between rounds, so neither always meets the
            # machine right after the other has warmed or loaded it.
            if round_index % 2 == 1:
                pp, tg = peer_text(args, args.gguf_text[t])
            report = glimpse_run(args, t, sections, tmp)
            if round_index % 2 == 0:
                pp, tg = peer_text(args, args.gguf_text[t])
            samples[t]["glimpse_prefill"].append(
                float("nan") if args.no_prefill else report["prefill"]["tokens_per_second"]["median"])
            decode = report["decode"][0]
            samples[t]["glimpse_decode"].append(decode["tokens_per_second"]["median"])
            if "percent_of_bound" in decode:
                samples[t]["glimpse_decode_percent_of_bound"].append(decode["percent_of_bound"])
            if "bandwidth" in report:
                bandwidth.append(report["bandwidth"]["bytes_per_second"] / 1e9)
            samples[t]["peer_prefill"].append(pp)
            samples[t]["peer_decode"].append(tg)
            print(f"round {round_index + 1} {t}: glimpse prefill {samples[t]['glimpse_prefill'][-1]:.1f} "
                  f"decode {samples[t]['glimpse_decode'][-1]:.2f}; llama.cpp pp {pp:.1f} tg {tg:.2f}", flush=True)
        if args.peer_image and args.mmproj:
            report = glimpse_run(args, "f16", "image", tmp)
            images["glimpse"].append(report["vision_encoder_seconds"]["median"])
            images["peer"].append(peer_image(args))
            print(f"round {round_index + 1} image: glimpse {images['glimpse'][-1]:.2f} s, "
                  f"llama.cpp {images['peer'][-1]:.2f} s", flush=True)

    print()
    print(f"medians of {args.rounds} interleaved rounds, {args.threads} threads, "
          f"{time.strftime('%Y-%m-%d')}; read bandwidth median "
          f"{statistics.median(bandwidth) if bandwidth else float('nan'):.1f} GB/s")
    print()
    print("| weights | glimpse prefill tok/s | llama.cpp prefill tok/s | ratio | glimpse decode tok/s | "
          "llama.cpp decode tok/s | ratio | per-round decode ratios, median | glimpse decode % of bound |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    result = {"types": {}, "bandwidth_gb_s": bandwidth, "images": images, "args": vars(args)}
    for t in types:
        s = {k: summary(v) for k, v in samples[t].items() if v}
        result["types"][t] = s
        gp, pp = s["glimpse_prefill"]["median"], s["peer_prefill"]["median"]
        gd, pd = s["glimpse_decode"]["median"], s["peer_decode"]["median"]
        bound = s.get("glimpse_decode_percent_of_bound", {}).get("median", float("nan"))
        # Both engines of a round meet about the same memory bandwidth, which drifts between rounds.
        round_ratios = [g / p for g, p in zip(samples[t]["glimpse_decode"], samples[t]["peer_decode"])]
        s["decode_round_ratios"] = round_ratios
        print(f"| {t} | {gp:.1f} | {pp:.1f} | {gp / pp:.2f} | {gd:.2f} | {pd:.2f} | {gd / pd:.2f} | "
              f"{statistics.median(round_ratios):.2f} | {bound:.0f} |")
    if images["glimpse"]:
        g, pe = statistics.median(images["glimpse"]), statistics.median(images["peer"])
        print()
        print(f"image encoder (vision tower + projector, f16): glimpse {g:.2f} s, llama.cpp {pe:.2f} s, "
              f"glimpse / llama.cpp = {g / pe:.2f}")
    if args.json:
        del result["args"]["gguf_text"]
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
