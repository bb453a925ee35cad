#!/usr/bin/env bash
# Installs what is needed, builds, and embeds the sample input with albert-cl.
# Uses $ALBERT_CL_MODEL or models/albert-base-v2 when real weights are there
# (tools/fetch-model.sh), else the random-weight model beside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

model=${ALBERT_CL_MODEL:-models/albert-base-v2}
if [ ! -f "$model/model.safetensors" ]; then
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
