#!/usr/bin/env bash
# The whole test suite from a fresh machine: install packages (with Intel's
# OpenCL runtime beside PoCL: every OpenCL test runs on every OpenCL device,
# and HF tokenizers in a venv, the fast tokenizer's reference), build, run
# ctest, then build and run it all again under AddressSanitizer + UBSan,
# then a short fuzzing run of every parser (tests/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash tools/install-deps.sh --with-intel-opencl --with-reference-tokenizers
# Intel's runtime has sub-groups: test_backend_ops must run its sub-group kernels there.
export ALBERT_TEST_REQUIRE_SUBGROUPS=1

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"
# The Python package (python/): a venv with numpy and pytest, and the package;
# openai, the official client tests/test_server.py points at albert-cl serve;
# safetensors, which python/tests reads the CLI's --format safetensors with.
PY_VENV=${ALBERT_CL_PY_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/albert-cl-py-venv}
"$PY_VENV/bin/python" -c '' 2>/dev/null || python3 -m venv --clear "$PY_VENV"
"$PY_VENV/bin/pip" install -q --disable-pip-version-check numpy pytest openai safetensors
"$PY_VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps ./python
(cd build && ctest --output-on-failure -j"$jobs")
# --shard under Slurm: a one-node cluster from Debian's packages, an array job of
# three shards merged back and compared with the unsharded run (about 15 s).
bash tools/slurm-shards.sh --binary build/albert-cl --shards 3

if [ "${ALBERT_SKIP_SANITIZE:-0}" != 1 ]; then
  # With injected faults too: test_faults sweeps them under the sanitizers.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALBERT_SANITIZE=ON \
    -DALBERT_FAULTS=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  # PoCL and the ICD loader keep process-lifetime allocations: leaks are not ours to judge.
  (cd build-asan && ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs")
fi

# About a minute: the fuzz build, then 10 s per target from its seeds.
if [ "${ALBERT_SKIP_FUZZ:-0}" != 1 ]; then
  bash tools/fuzz.sh smoke 10
fi
