#!/usr/bin/env bash
# Whole runs, as users run them: LINES generated lines (seeded) through
# albert-cl on each device in each precision, wall time, lines/s and tokens/s
# (the lines' tokens, [CLS] and [SEP] included, no padding), one row per
# binary, device and precision, in one run.  For the scheduler's figures
# (docs/scaling.md): compare a build with an older one on the same
# machine.
#
#   tools/bench-stream.sh [--lines N] [--max-words W] [--model DIR]
#                         [--devices "cpu 0 1 0,1"] [--precisions "fp32 bf16 int8"]
#                         [--markdown FILE] BINARY [BINARY...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lines=150000
max_words=40
model=$root/../shared/models/tiny-gelu
devices="cpu"
precisions="fp32"
markdown=
binaries=()
while [ $# -gt 0 ]; do
  case $1 in
    --lines) lines=$2; shift 2 ;;
    --max-words) max_words=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    --markdown) markdown=$2; shift 2 ;;
    -*) echo "bench-stream: unknown option '$1'" >&2; exit 2 ;;
    *) binaries+=("$1"); shift ;;
  esac
done
[ ${#binaries[@]} -gt 0 ] || { sed -n '9,11p' "$0" | sed 's/^# //' >&2; exit 2; }

tmp=$(mktemp -d /tmp/bench-stream.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# Lines of 1 to 40 words, as text corpora come: sorting by length matters
# (--max-words 10: short lines, as search queries or titles come).
python3 - "$lines" "$max_words" >"$tmp/input.txt" <<'PY'
import random, sys
rnd = random.Random(7)
words = "the quick brown fox jumps over a lazy dog while paris sleeps under light rain".split()
for _ in range(int(sys.argv[1])):
    print(" ".join(rnd.choice(words) for _ in range(rnd.randint(1, int(sys.argv[2])))))
PY

# The first binary's tokenizer counts the tokens (every build gives the same ids).
tokens=$("${binaries[0]}" --model "$model" --tokenize "$tmp/input.txt" |
  python3 -c 'import json, sys; print(sum(len(json.loads(l)["input_ids"]) for l in sys.stdin))')

rows=("| binary | device | precision | lines | tokens | wall s | lines/s | tokens/s |"
  "|---|---|---|---|---|---|---|---|")
for bin in "${binaries[@]}"; do
  for dev in $devices; do
    for prec in $precisions; do
      run=("$bin" --model "$model" --device "$dev" -o /dev/null)
      [ "$prec" = fp32 ] || run+=(--precision "$prec") # older builds know no --precision
      # A first short run builds and caches the kernels: not part of the figure.
      head -n 100 "$tmp/input.txt" | "${run[@]}"
      start=$(date +%s.%N)
      "${run[@]}" "$tmp/input.txt"
      end=$(date +%s.%N)
      wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
      rate=$(awk -v n="$lines" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
      trate=$(awk -v n="$tokens" -v w="$wall" 'BEGIN { printf "%.0f", n / w }')
      rows+=("| $bin | $dev | $prec | $lines | $tokens | $wall | $rate | $trate |")
      echo "bench-stream: $bin --device $dev --precision $prec: $lines lines in $wall s" \
        "($rate lines/s, $trate tokens/s)" >&2
    done
  done
done
printf '%s\n' "${rows[@]}"
[ -z "$markdown" ] || printf '%s\n' "${rows[@]}" >"$markdown"
