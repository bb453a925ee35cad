#!/usr/bin/env bash
# Downloads a HuggingFace model folder (config.json, spiece.model,
# model.safetensors, or pytorch_model.bin where the hub has no safetensors
# file, tokenizer_config.json when present) into models/NAME.
# Usage: tools/fetch-model.sh [NAME]      NAME defaults to albert-base-v2
#        HF_ENDPOINT overrides the hub address (mirrors).
set -euo pipefail
name=${1:-albert-base-v2}
case "$name" in
  */*) repo=$name ;;
  *) repo=albert/$name ;;   # the canonical home of the original ALBERT checkpoints
esac
endpoint=${HF_ENDPOINT:-https://huggingface.co}
dest="$(cd "$(dirname "$0")/.." && pwd)/models/${name##*/}"
mkdir -p "$dest"

fetch() { # fetch FILE REQUIRED
  local url="$endpoint/$repo/resolve/main/$1" tmp="$dest/$1.part"
  if curl -fL --retry 3 -sS -o "$tmp" "$url"; then
    mv "$tmp" "$dest/$1"
    echo "fetch-model: $1 ($(stat -c %s "$dest/$1") bytes)" >&2
  else
    rm -f "$tmp"
    if [ "$2" = required ]; then
      echo "fetch-model: could not download $url" >&2
      exit 1
    fi
  fi
}

command -v curl >/dev/null || { echo "fetch-model: needs curl (apt-get install curl)" >&2; exit 1; }
fetch config.json required
fetch spiece.model required
fetch tokenizer_config.json optional
# Many fine-tuned checkpoints predate safetensors: albert-cl reads
# pytorch_model.bin as well.
fetch model.safetensors optional
[ -f "$dest/model.safetensors" ] || fetch pytorch_model.bin required
echo "fetch-model: $dest is ready: albert-cl --model $dest input.txt" >&2
