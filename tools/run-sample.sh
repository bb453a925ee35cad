#!/usr/bin/env bash
# Installs what is needed, builds, and embeds the sample input with albert-cl.
# Uses $ALBERT_CL_MODEL, else models/albert-base-v2 when real weights are
# there (tools/fetch-model.sh), else albert-base-v2 in the Hugging Face cache
# (what transformers downloaded), else the random-weight model beside the
# checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

has_weights() { [ -f "$1/model.safetensors" ] || [ -f "$1/pytorch_model.bin" ]; }
# A model albert-cl loads (--model NAME finds it in the cache): an empty run succeeds.
loads() { ./build/albert-cl --model "$1" --device cpu --quiet </dev/null >/dev/null 2>&1; }
model=${ALBERT_CL_MODEL:-}
if [ -z "$model" ] && has_weights models/albert-base-v2; then
  model=models/albert-base-v2
fi
for name in albert-base-v2 albert/albert-base-v2; do
  if [ -z "$model" ] && loads "$name"; then
    model=$name
  fi
done
if [ -z "$model" ]; then
  model=../shared/models/albert-base-v2-random
  cat >&2 <<'TXT'
************************************************************************
*  WARNING: no real weights found (run tools/fetch-model.sh first).    *
*  Using ../shared/models/albert-base-v2-random: RANDOM WEIGHTS.       *
*  The tokenization is real; the embedding numbers are meaningless.    *
************************************************************************
TXT
fi
./build/albert-cl --model "$model" "$@" tests/data/sample.txt
