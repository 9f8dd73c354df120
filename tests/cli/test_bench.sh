#!/bin/sh
# Black-box checks of `glimpse bench` on a tiny model written by tools/make_bench_model.py.
# Every section must report positive figures in the table and the JSON, and the cache comparison
# must time the requested steps. Bad input must get a clear message with exit code 2 or 3.
#   test_bench.sh GLIMPSE_BINARY PYTHON FIXTURES_DIR SAMPLES_DIR WORK_DIR
set -u
glimpse=$1
python=$2
fixtures=$3
photo=$4/chelsea.png
work=$5
failures=0

check() {  # check NAME CONDITION...
  name=$1
  shift
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failures=$((failures + 1)); fi
}

if [ ! -d "$fixtures/tiny-llava" ]; then
  echo "FAILED: the tiny-llava fixture is missing at $fixtures/tiny-llava; place ../shared/fixtures beside the repository"
  exit 1
fi
rm -rf "$work"
mkdir -p "$work"
"$python" "$(dirname "$0")/../../tools/make_bench_model.py" --shape tiny --out "$work/model" \
  --fixture "$fixtures/tiny-llava" --no-gguf > /dev/null || { echo "FAILED: make_bench_model.py"; exit 1; }
model=$work/model/hf

"$glimpse" bench -m "$model" -i "$photo" -r 2 --positions 16,100 --decode-steps 4 --cache-new-tokens 8 \
  --memory-new-tokens 4 --bandwidth-mib 64 --json "$work/bench.json" > "$work/table.txt"
check "bench exits 0" [ $? -eq 0 ]
check "the table names every section" sh -c "grep -q 'memory read bandwidth' '$work/table.txt' &&
  grep -q 'model load' '$work/table.txt' && grep -q 'peak resident memory' '$work/table.txt' &&
  grep -q 'vision encoder' '$work/table.txt' && grep -q 'prefill, 600 positions' '$work/table.txt' &&
  grep -q 'decode at position 100' '$work/table.txt' && grep -q 'without / with the KV cache' '$work/table.txt'"
check "the JSON has every figure" "$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))
def stats(s, n=2):
    assert len(s["samples"]) == n, s
    assert 0 < s["min"] <= s["median"] <= s["max"], s
stats(r["load_seconds"])
stats(r["image_preprocess_seconds"])
stats(r["vision_encoder_seconds"])
assert r["bandwidth"]["bytes_per_second"] > 1e8
assert len(r["bandwidth"]["passes"]["samples"]) >= 5
assert r["memory"]["completion_tokens"] == 4
assert r["memory"]["prompt_tokens"] > 576
assert r["memory"]["peak_rss_bytes"] > r["weights"]["total_bytes"] > 8e6
assert r["prefill"]["positions"] == 600
stats(r["prefill"]["tokens_per_second"])
assert [d["position"] for d in r["decode"]] == [16, 100]
for d in r["decode"]:
    stats(d["tokens_per_second"])
    assert d["steps"] == 4
    assert d["percent_of_bound"] > 0
assert r["decode"][1]["bytes_per_token"] > r["decode"][0]["bytes_per_token"]
for mode in ("with_kv_cache", "without_kv_cache"):
    stats(r["cache"][mode]["total_seconds"])
    for step in (1, 4, 8):
        stats(r["cache"][mode]["step_%d_seconds" % step])
assert r["cache"]["total_ratio"] > 0
' "$work/bench.json"

"$glimpse" bench -m "$model" -i "$photo" -r 1 --sections decode,load --positions 10 --decode-steps 2 \
  --json "$work/some.json" > /dev/null
check "--sections runs only those" "$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert "decode" in r
assert "load_seconds" in r
assert not any(k in r for k in ("memory", "bandwidth", "prefill", "cache", "vision_encoder_seconds")), sorted(r)
' "$work/some.json"

"$glimpse" bench -m "$model" -i "$photo" -r 1 --sections decode --positions 10 --decode-steps 2 --kv-cache f16 \
  --json "$work/f16.json" > /dev/null
check "--kv-cache f16 halves the cache bytes per token" "$python" -c '
import json, sys
f16 = json.load(open(sys.argv[1]))
f32 = json.load(open(sys.argv[2]))
assert f16["kv_cache_type"] == "f16", f16["kv_cache_type"]
assert f32["kv_cache_type"] == "f32", f32["kv_cache_type"]
weights = f16["weights"]["decode_bytes_per_token"]
kv16 = f16["decode"][0]["bytes_per_token"] - weights
kv32 = f32["decode"][0]["bytes_per_token"] - weights
assert kv16 > 0, kv16
assert abs(kv32 - 2 * kv16) < 1e-6 * kv32, (kv16, kv32)
' "$work/f16.json" "$work/some.json"

expect_error() {  # expect_error NAME EXIT_CODE MESSAGE_PART ARGS...
  name=$1 code=$2 part=$3
  shift 3
  "$glimpse" bench "$@" > /dev/null 2> "$work/err.txt"
  status=$?
  if [ $status -eq "$code" ] && grep -q -- "$part" "$work/err.txt"; then
    echo "ok: $name"
  else
    echo "FAILED: $name (exit $status, stderr: $(cat "$work/err.txt"))"
    failures=$((failures + 1))
  fi
}
expect_error "missing model folder" 3 "$work/none" -m "$work/none" -i "$photo" --sections load
expect_error "position past the context" 3 "exceeds the 4096-position context" -m "$model" -i "$photo" \
  --sections decode --positions 4095 -r 1
expect_error "malformed positions" 3 "'x' is not a non-negative integer" -m "$model" -i "$photo" --positions 16,x
expect_error "unknown section" 2 "sections" -m "$model" -i "$photo" --sections speed
expect_error "unknown KV cache type" 2 "kv-cache: bf16 not in {f32,f16}" -m "$model" -i "$photo" --kv-cache bf16
expect_error "missing image" 3 "$work/none.png" -m "$model" -i "$work/none.png" --sections image -r 1

if [ $failures -ne 0 ]; then
  echo "$failures checks failed"
  exit 1
fi
echo "all glimpse bench checks passed"
