#!/bin/sh
# Black-box checks of `glimpse ask` as a user runs it: streamed text, --json, --dry-run,
# quantized weights (with `glimpse quantize`), and the exit codes for bad usage (2) and bad
# input (3).
#   test_ask.sh GLIMPSE_BINARY TEST_DATA_DIR SAMPLES_DIR
set -u
glimpse=$1
model=$2/tiny-llava/model-f16
image=$2/tiny-llava/images/gradient_336.png
photo=$3/chelsea.png
failures=0

check() {  # check NAME CONDITION...
  name=$1
  shift
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failures=$((failures + 1)); fi
}

out=$("$glimpse" ask -m "$model" -i "$image" -n 32 --ignore-eos "What is shown in this image?")
check "streamed greedy text equals the reference" \
  [ "$out" = "programming Terryockeyバizes.\`ategy étaitców网tail TerryPutband Ep ratio Volwerke化 extended extern он dream includesjkʾunosexpectedhosts лі Visual лу" ]

out=$("$glimpse" ask -m "$model" -i "$image" -n 32 --ignore-eos --kv-cache f16 "What is shown in this image?")
check "an f16 KV cache streams the same greedy text" \
  [ "$out" = "programming Terryockeyバizes.\`ategy étaitców网tail TerryPutband Ep ratio Volwerke化 extended extern он dream includesjkʾunosexpectedhosts лі Visual лу" ]

json=$("$glimpse" ask -m "$model" -i "$photo" -n 5 --ignore-eos --top-logprobs 2 --json "Describe the photo.")
check "--json has every field" /usr/bin/python3 -c '
import json, sys
answer = json.loads(sys.argv[1])
assert answer["finish_reason"] == "length", answer["finish_reason"]
assert answer["usage"]["completion_tokens"] == 5 and answer["usage"]["image_tokens"] == 576
assert set(answer["timings"]) >= {"load_seconds", "image_seconds", "prefill_seconds", "decode_seconds",
                                  "prefill_tokens_per_second", "decode_tokens_per_second"}
assert len(answer["tokens"]) == 5 and all(len(t["top_logprobs"]) == 2 for t in answer["tokens"])
assert "".join(t["text"] for t in answer["tokens"]) == answer["text"]
' "$json"

dry=$("$glimpse" ask -m "$model" -i "$image" -i "$image" --dry-run --json "Compare.")
check "--dry-run counts image positions" /usr/bin/python3 -c '
import json, sys
cost = json.loads(sys.argv[1])
assert cost["image_tokens"] == 1152 and cost["context_length"] == 4096, cost
assert cost["context_left"] == 4096 - cost["prompt_tokens"], cost
' "$dry"

"$glimpse" ask -m "$model" --temperature -1 "Hi" >/dev/null 2>&1
check "invalid option value exits 3" [ $? -eq 3 ]
"$glimpse" ask -m "$model" --mode square "Hi" >/dev/null 2>&1
check "invalid --mode exits 2" [ $? -eq 2 ]
err=$("$glimpse" ask -m "$model" --kv-cache f64 "Hi" 2>&1 >/dev/null)
code=$?
check "invalid --kv-cache exits 2" [ $code -eq 2 ]
check "invalid --kv-cache names the flag and the values" sh -c "echo \"\$1\" | grep -q -- '--kv-cache: f64 not in {f32,f16}'" _ "$err"
"$glimpse" ask "Hi" >/dev/null 2>&1
check "missing --model exits 2" [ $? -eq 2 ]
err=$("$glimpse" ask -m "$model" -i /nonexistent.png "Hi" 2>&1 >/dev/null)
code=$?
check "missing image exits 3" [ $code -eq 3 ]
check "missing image is named" sh -c "echo \"\$1\" | grep -q /nonexistent.png" _ "$err"
"$glimpse" ask -m /nonexistent/model "Hi" >/dev/null 2>&1
check "missing model exits 3" [ $? -eq 3 ]
out=$("$glimpse" ask -m "$model" -i /nonexistent.png "Hi" 2>/dev/null)
check "an error prints nothing on stdout" [ -z "$out" ]
"$glimpse" -t 100000 ask -m "$model" "Hi" >/dev/null 2>&1
check "absurd thread count exits 3" [ $? -eq 3 ]
err=$("$glimpse" ask -m "$model" -i "$image" -c 500 --dry-run "Hi" 2>&1 >/dev/null)
code=$?
check "dry run over the context exits 3" [ $code -eq 3 ]
check "dry run over the context explains" sh -c "echo \"\$1\" | grep -q 'larger context length'" _ "$err"

# Weights quantized at load time and weights written by `glimpse quantize` give the same text.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
loaded=$("$glimpse" ask -m "$model" -i "$image" -n 8 --ignore-eos --quantize q4_0 "What is shown in this image?" 2>"$scratch/report")
check "--quantize reports the quantization on stderr" grep -q "quantized 15 language-model weights to Q4_0" "$scratch/report"
"$glimpse" quantize -m "$model" -o "$scratch/q4" --type q4_0 >"$scratch/quantize.out"
check "quantize writes the weights" [ -f "$scratch/q4/model.safetensors" ]
check "quantize copies the tokenizer" [ -f "$scratch/q4/tokenizer.json" ]
written=$("$glimpse" ask -m "$scratch/q4" -i "$image" -n 8 --ignore-eos "What is shown in this image?")
check "the quantized folder answers" [ -n "$written" ]
check "the quantized folder answers as load-time quantization" [ "$written" = "$loaded" ]
"$glimpse" quantize -m "$model" -o "$scratch/q4" --type q4_0 >/dev/null 2>&1
check "quantize into a non-empty folder exits 3" [ $? -eq 3 ]
"$glimpse" quantize -m "$model" -o "$scratch/q5" --type q5_1 >/dev/null 2>&1
check "invalid --type exits 2" [ $? -eq 2 ]
"$glimpse" ask -m "$model" -i "$image" --quantize q3 "x" >/dev/null 2>&1
check "invalid --quantize exits 2" [ $? -eq 2 ]
"$glimpse" ask -m "$scratch/q4" -i "$image" --quantize q8_0 -n 1 "x" >/dev/null 2>"$scratch/err"
code=$?
check "quantizing a quantized folder again exits 3" [ $code -eq 3 ]
check "quantizing again explains" grep -q "already Q4_0" "$scratch/err"

# GLIMPSE_ISA picks the kernel table in either case, and an unknown value gets a warning.
err=$(GLIMPSE_ISA=PORTABLE "$glimpse" ask -v -m "$model" -n 1 "Hi" 2>&1 >/dev/null)
check "GLIMPSE_ISA=PORTABLE picks the portable kernels" sh -c "echo \"\$1\" | grep -q 'kernels portable'" _ "$err"
err=$(GLIMPSE_ISA=sse2 "$glimpse" ask -m "$model" -n 1 "Hi" 2>&1 >/dev/null)
check "an unknown GLIMPSE_ISA gets a warning" sh -c "echo \"\$1\" | grep -q 'GLIMPSE_ISA=sse2 is not one of'" _ "$err"

echo "$failures failures"
[ "$failures" -eq 0 ]
