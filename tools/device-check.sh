#!/usr/bin/env bash
# One-shot check of albert-cl on a borrowed NVIDIA GPU machine (issue 10).
#
# Made for the device tool, which runs one command in a copy of the working
# tree with a 10-minute limit out of 15 minutes of device time, so: everything
# comes from build-device/ (tools/device-bundle.sh; carried as an ignored
# path), every step has a timeout clipped to a global deadline, a failed step
# is recorded and the next one runs, and the results in $OUT are rewritten
# after every step (a timeout still returns what was measured):
#   device-check.log   every step's output
#   device-check.json  every figure, per step
#   device-check.md    the tables to paste into README.md, docs/performance.md and tools/TUNING.md
#   nvidia-<slug>.json the profile albert-cl-tune wrote; tune.log its progress
#
# Steps: list-devices; golden (tiny models vs ../shared/golden); large-batch
# (65,536 token rows in one batch, --validate); reference
# (albert-base random weights vs transformers float64 on the CPU) with the
# default profile; benchmarks at 32x128, 1x8, 4x512 with --no-profile and the
# default profile (gpu-generic on a GPU without its own), and in fp16 (its min
# cosines against the float64 reference too); transformers on CUDA fp32/fp16
# (the peers, same weights);
# albert-cl-tune; golden, reference and benchmarks with the tuned profile;
# whole runs over generated lines (tiny-gelu, albert-base); per-kernel tables.
#
# usage (device tool):  bash tools/device-check.sh         carry: build-device
# usage (here):         DEVICE_CHECK_OPENCL_LIB=/usr/lib/x86_64-linux-gnu/libpocl.so.2 \
#                       DEVICE_CHECK_QUICK=1 OUT=/tmp/dc-out bash tools/device-check.sh
#   (every step, the torch ones included, runs here too with DEVICE_CHECK_PYTHON
#   a python that has torch and transformers, e.g. a venv made with
#   `pip install torch transformers==4.44.2 sentencepiece protobuf`, and
#   DEVICE_CHECK_PEER_DEVICE=cpu: about 4 minutes on 2 cores)
# env: OUT (required), DEVICE_CHECK_OPENCL_LIB (the vendor library instead of
#      NVIDIA's), DEVICE_CHECK_QUICK=1 (tiny shapes and budgets, every step),
#      DEVICE_CHECK_RUNNER=plain|loader (force how binaries start),
#      DEVICE_CHECK_DEVICE (OpenCL index; default the first GPU, else 0),
#      DEVICE_CHECK_PEER_DEVICE (torch device of the peers, default cuda),
#      DEVICE_CHECK_DEADLINE (seconds for the whole run), DEVICE_CHECK_PYTHON,
#      DEVICE_CHECK_WORK (where the scratch folder goes, default /tmp)
set -uo pipefail # no -e: a failing step must not end the run

cd "$(dirname "$0")/.." || exit 2
repo=$PWD
OUT=${OUT:-}
if [ -z "$OUT" ]; then
  echo "device-check: set OUT to the folder for the results" >&2
  exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

quick=${DEVICE_CHECK_QUICK:-0}
py=${DEVICE_CHECK_PYTHON:-python3}
# a fresh folder: nothing from an earlier run (the float64 reference is cached there)
work=$(mktemp -d "${DEVICE_CHECK_WORK:-/tmp}/albert-cl-device.XXXXXX") || exit 2
bundle_archive="$repo/build-device/albert-cl-device.tar.xz"
bundle="$work/bundle"
log="$OUT/device-check.log"
json="$OUT/device-check.json"
md="$OUT/device-check.md"
export PYTHONUNBUFFERED=1

if [ "$quick" = 1 ]; then
  # 2 CPU cores and PoCL: tiny shapes, and room for PoCL's kernel builds
  shapes=1x8,2x16 iterations=2 warmup=1 budget=10 tune_flags=--no-reference
  scale=4 deadline=${DEVICE_CHECK_DEADLINE:-2400}
else
  shapes=32x128,1x8,4x512 iterations=30 warmup=5 budget=180 tune_flags=
  scale=1 deadline=${DEVICE_CHECK_DEADLINE:-540}
fi
profile_shape=${shapes%%,*} # the per-kernel tables' shape

# ------------------------------------------------------------ logging, steps

say() {
  echo "[${SECONDS}s] $*" | tee -a "$log"
}

# record STEP STATUS SECONDS MESSAGE [RESULT]: into device-check.json and .md
record() {
  local from=()
  if [ -n "${5:-}" ] && [ -s "$5" ]; then from=(--result "$5"); fi
  "$py" "$repo/tools/device_check.py" record --json "$json" --md "$md" \
    --step "$1" --status "$2" --seconds "$3" --message "$4" "${from[@]}" >>"$log" 2>&1 ||
    say "could not record step $1"
}

meta() {
  "$py" "$repo/tools/device_check.py" record --json "$json" --md "$md" --meta "$1=$2" >>"$log" 2>&1
}

# run_step STEP LIMIT RESULT STDOUT STDERR CMD...: CMD under a timeout
# clipped to the deadline; STDOUT and STDERR (files, or "" for the log) get
# its output.  RESULT is the JSON file CMD leaves (its stdout, or what it
# writes itself).  The step's message is the last line of its stderr.
run_step() {
  local name=$1 limit=$(($2 * scale)) result=$3 stdout=$4 stderr=$5
  shift 5
  local left=$((deadline - SECONDS - 5))
  if [ "$left" -lt 10 ]; then
    say "== $name: skipped, out of time"
    record "$name" skipped 0 "out of time (deadline ${deadline}s)"
    return 1
  fi
  [ "$limit" -le "$left" ] || limit=$left
  say "== $name (limit ${limit}s)"
  echo "\$ $*" >>"$log"
  local t0=$SECONDS rc out=${stderr:-$work/step.out}
  rm -f "$result"
  if [ -n "$stdout" ]; then
    timeout -k 5 "$limit" "$@" >"$stdout" 2>"$out"
  else
    timeout -k 5 "$limit" "$@" >"$out" 2>&1
  fi
  rc=$?
  [ -n "$stderr" ] || cat "$out" >>"$log"
  local took=$((SECONDS - t0)) status=ok message
  message=$(grep -hv '^[[:space:]]*$' "$out" ${stdout:+"$stdout"} | tail -1 | cut -c1-300)
  case $rc in
    0) ;;
    124 | 137) status=timeout message="no result after ${limit}s${message:+; $message}" ;;
    *) status=failed message="exit $rc: $message" ;;
  esac
  [ "$rc" = 0 ] || failures=$((failures + 1))
  say "== $name: $status in ${took}s${message:+: $message}"
  record "$name" "$status" "$took" "$message" "$result"
  return $rc
}

# step STEP LIMIT RESULT CMD...: CMD's output goes to the log
step() {
  local name=$1 limit=$2 result=$3
  shift 3
  run_step "$name" "$limit" "$result" "" "" "$@"
}

skip() {
  say "== $1: skipped: $2"
  record "$1" skipped 0 "$2"
}

# ------------------------------------------------------------ setup

unpack() {
  mkdir -p "$bundle"
  # python's tarfile: the machine may have no xz
  "$py" - "$bundle_archive" "$bundle" <<'EOF'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    if hasattr(tarfile, "data_filter"):
        t.extractall(sys.argv[2], filter="data")
    else:
        t.extractall(sys.argv[2])
EOF
}

# The vendor's OpenCL library: $DEVICE_CHECK_OPENCL_LIB, else NVIDIA's.
find_opencl_lib() {
  if [ -n "${DEVICE_CHECK_OPENCL_LIB:-}" ]; then
    [ -e "$DEVICE_CHECK_OPENCL_LIB" ] && echo "$DEVICE_CHECK_OPENCL_LIB"
    return
  fi
  # the driver's own mount first: its libcuda matches the kernel module
  local found
  found=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /lib64 \
            -maxdepth 3 -name 'libnvidia-opencl.so*' 2>/dev/null)
  echo "candidates: ${found:-none}" >>"$log"
  # the soname link first, then any versioned file
  # (awk reads all its input: no early exit to SIGPIPE the writer under pipefail)
  echo "$found" | awk '/\/libnvidia-opencl\.so\.1$/ && !n++' | grep . ||
    echo "$found" | awk 'NF && !n++' | grep . ||
    ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so/ && !n++ { print $NF }'
}

# A private ICD vendors folder: the loader lists that vendor only.
make_icd() {
  mkdir -p "$work/vendors"
  rm -f "$work/vendors"/*.icd
  echo "$1" >"$work/vendors/device-check.icd"
}

# The lines that start PROG: plain, this machine's glibc with our other
# libraries; loader, all of ours through the carried ld-linux (for a glibc
# older than Debian 12's 2.36, or a missing libstdc++).
exec_lines() {
  local how=$1 prog=$2
  if [ "$how" = plain ]; then
    echo "export LD_LIBRARY_PATH=\"$bundle/lib:$vendor_dir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
    echo "exec \"$bundle/bin/$prog\" \"\$@\""
  else
    echo "exec \"$bundle/glibc/ld-linux-x86-64.so.2\" --library-path" \
         "\"$bundle/lib:$bundle/glibc:$vendor_dir\" \"$bundle/bin/$prog\" \"\$@\""
  fi
}

# $work/bin/albert-cl and albert-cl-tune: the binaries with this run's
# environment, for this script and device_check.py alike.
write_wrappers() {
  mkdir -p "$work/bin" "$work/cache"
  local prog
  for prog in albert-cl albert-cl-tune; do
    {
      echo "#!/bin/sh"
      echo "export OCL_ICD_VENDORS=\"$work/vendors\""
      echo "export ALBERT_CL_PROFILE_DIR=\"$bundle/profiles\""
      echo "export ALBERT_CL_CACHE_DIR=\"$work/cache/albert-cl\""
      echo "export CUDA_CACHE_PATH=\"$work/cache/nv\""
      exec_lines "$1" "$prog"
    } >"$work/bin/$prog"
    chmod +x "$work/bin/$prog"
  done
}

# The first way (of $DEVICE_CHECK_RUNNER, default plain then loader) in
# which the binaries start; the wrappers are left written for it.
choose_runner() {
  local how
  for how in ${DEVICE_CHECK_RUNNER:-plain loader}; do
    write_wrappers "$how"
    if "$work/bin/albert-cl" --version >>"$log" 2>&1 &&
      "$work/bin/albert-cl-tune" --help >/dev/null 2>>"$log"; then
      echo "$how"
      return
    fi
    echo "runner $how: the binaries do not start" >>"$log"
  done
  echo none
}

describe_machine() {
  say "host: $(uname -srm), glibc $(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d' ' -f2)," \
      "python $("$py" -c 'import sys; print(sys.version.split()[0])' 2>&1)"
  local smi
  smi=$(command -v nvidia-smi || ls /usr/local/nvidia/bin/nvidia-smi 2>/dev/null)
  if [ -n "$smi" ]; then
    timeout 20 "$smi" --query-gpu=name,driver_version,memory.total --format=csv 2>&1 |
      tee -a "$log"
  fi
  meta glibc "$(getconf GNU_LIBC_VERSION 2>/dev/null)"
  meta bundle "$(sed -n 's/^commit: //p' "$bundle/BUNDLE-INFO.txt")"
  meta quick "$quick"
  meta shapes "$shapes"
  meta started "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}

# ------------------------------------------------------------ steps

list_devices() {
  run_step list-devices 60 "" "$work/devices.tsv" "" "$work/bin/albert-cl" --list-devices
  cat "$work/devices.tsv" >>"$log"
  local row
  if [ -n "${DEVICE_CHECK_DEVICE:-}" ]; then
    row=$(awk -F'\t' -v d="$DEVICE_CHECK_DEVICE" '$1 == d' "$work/devices.tsv")
  else
    row=$(awk -F'\t' '$4 == "GPU" && !n++' "$work/devices.tsv")
    [ -n "$row" ] || row=$(awk -F'\t' '$1 ~ /^[0-9]+$/ && !n++' "$work/devices.tsv")
  fi
  if [ -z "$row" ]; then
    say "no OpenCL device listed: the OpenCL steps will fail"
    device=0 device_name=unknown platform=unknown default_profile=- precisions=fp32
    return
  fi
  IFS=$'\t' read -r device platform device_name _ _ _ driver _ precisions default_profile \
    <<<"$row"
  default_profile=$(basename "$default_profile" .json)
  say "device $device: $device_name ($platform, driver $driver), default profile: $default_profile"
  meta device "$device_name"
  meta platform "$platform"
  meta driver "$driver"
  meta default_profile "$default_profile"
  meta precisions "$precisions"
}

# golden CONFIG PROFILE_ARGS... (none: the default choice)
golden() {
  local config=$1
  shift
  step "golden/$config" 120 "$work/golden-$config.json" \
    "$py" "$repo/tools/device_check.py" golden --albert-cl "$work/bin/albert-cl" \
    --device "$device" --models "$bundle/models" --golden "$bundle/golden" \
    --result "$work/golden-$config.json" "$@"
}

reference() {
  local config=$1
  shift
  if [ ! -f "$model/model.safetensors" ]; then
    skip "reference/$config" "no generated weights"
    return
  fi
  step "reference/$config" 180 "$work/reference-$config.json" \
    "$py" "$repo/tools/device_check.py" reference --albert-cl "$work/bin/albert-cl" \
    --device "$device" --model "$model" --work "$work" --result "$work/reference-$config.json" \
    ${quick_flag} "$@"
}

generate_weights() {
  rm -rf "$model"
  step weights 120 "$work/weights.json" \
    "$py" "$repo/tools/device_check.py" weights --config "$bundle/models/albert-base-v2/config.json" \
    --spiece "$bundle/models/albert-base-v2/spiece.model" --out "$model" --seed 0 \
    --result "$work/weights.json"
}

# bench CONFIG PROFILE_ARGS...: albert-cl --benchmark at every shape
bench() {
  local config=$1 shape
  shift
  if [ ! -f "$model/model.safetensors" ]; then
    skip "bench/$config" "no generated weights"
    return
  fi
  for shape in ${shapes//,/ }; do
    run_step "bench/$config/$shape" 90 "$work/bench.json" "$work/bench.json" "" \
      "$work/bin/albert-cl" --benchmark --model "$model" --device "$device" \
      --batch-size "${shape%x*}" --seq-len "${shape#*x}" \
      --iterations "$iterations" --warmup "$warmup" "$@"
  done
}

peers() {
  if [ ! -f "$model/model.safetensors" ]; then
    skip peers "no generated weights"
    return
  fi
  step peers 240 "$work/peers.json" \
    "$py" "$repo/tools/device_check.py" peers --model "$model" --work "$work" \
    --peer-device "${DEVICE_CHECK_PEER_DEVICE:-cuda}" --shapes "$shapes" \
    --warmup "$warmup" --iterations "$iterations" --result "$work/peers.json" ${quick_flag}
}

# nvidia-h200 from "NVIDIA H200"
profile_name() {
  local slug
  slug=$(printf '%s' "$device_name" | tr '[:upper:]' '[:lower:]' |
           sed 's/[^a-z0-9]\{1,\}/-/g; s/^-//; s/-$//; s/^nvidia-//')
  echo "nvidia-${slug:-unknown}"
}

tune() {
  # leave the tuned steps time for their runs after the search
  local reserve=$((150 * scale)) b=$budget
  local left=$((deadline - SECONDS - reserve))
  [ "$b" -le "$left" ] || b=$left
  if [ "$b" -lt 10 ]; then
    skip tune "out of time for a useful budget"
    return
  fi
  run_step tune $((b / scale + 120)) "$tuned" "" "$OUT/tune.log" \
    "$work/bin/albert-cl-tune" --device "$device" --budget "$b" --shapes "$shapes" \
    --model "$bundle/models/albert-base-v2" --name "$(profile_name)" \
    --match-platform "$platform" --match-device "$device_name" \
    --note "tools/device-check.sh, budget $b s, $(date -u +%Y-%m-%d)" \
    -o "$tuned" $tune_flags
}

# stream MODEL_DIR LINES: a whole run over generated lines, the scheduler's
# figures (issue 11): the device computing while the host pads and writes.
stream() {
  local dir=$1 lines=$2
  if [ ! -f "$dir/model.safetensors" ]; then
    skip "stream/$(basename "$dir")" "no weights"
    return
  fi
  step "stream/$(basename "$dir")" 120 "$work/stream.json" \
    "$py" "$repo/tools/device_check.py" stream --albert-cl "$work/bin/albert-cl" \
    --device "$device" --model "$dir" --lines "$lines" --work "$work" \
    --result "$work/stream.json"
}

# One batch of 65,536 token rows (1,200 lines of 60 words, tiny-gelu):
# launches past 65,535 work-groups along a grid's second dimension go in
# slices (host/opencl/context.h); --validate holds it to the CPU backend.
large_batch() {
  local lines="$work/large-batch.txt"
  "$py" -c '
import random
r = random.Random(3)
w = "the quick brown fox jumps over a lazy dog while paris sleeps under light rain".split()
print("\n".join(" ".join(r.choice(w) for _ in range(60)) for _ in range(1200)))' >"$lines"
  step large-batch 120 "" "$work/bin/albert-cl" --model "$bundle/models/tiny-gelu" \
    --device "$device" --max-batch-tokens 80000 --batch-size 2048 --validate --quiet \
    -o /dev/null "$lines"
}

# The per-kernel tables (stderr of --profile) go to the log only.
kernel_tables() {
  local config=$1
  shift
  [ -f "$model/model.safetensors" ] || return
  step "kernels/$config/$profile_shape" 90 "" \
    "$work/bin/albert-cl" --benchmark --profile --model "$model" --device "$device" \
    --batch-size "${profile_shape%x*}" --seq-len "${profile_shape#*x}" \
    --iterations "$iterations" --warmup "$warmup" "$@"
}

# ------------------------------------------------------------ main

main() {
  failures=0
  : >"$log"
  rm -f "$json" "$md"
  say "device-check: quick=$quick shapes=$shapes deadline=${deadline}s out=$OUT work=$work"
  if ! unpack >>"$log" 2>&1; then
    say "cannot unpack $bundle_archive (run tools/device-bundle.sh and carry build-device)"
    record unpack failed "$SECONDS" "cannot unpack $bundle_archive"
    return 1
  fi
  describe_machine

  local lib
  lib=$(find_opencl_lib)
  if [ -z "$lib" ]; then
    say "no OpenCL vendor library found (libnvidia-opencl.so.1; or set DEVICE_CHECK_OPENCL_LIB)"
    record opencl-library failed 0 "libnvidia-opencl.so.1 not found"
    lib=/nonexistent/libnvidia-opencl.so.1
  fi
  vendor_dir=$(dirname "$lib")
  make_icd "$lib"
  meta opencl_lib "$lib"

  local runner
  runner=$(choose_runner)
  say "OpenCL library: $lib; runner: $runner"
  meta runner "$runner"
  if [ "$runner" = none ]; then
    # every step will fail and say so
    record runner failed 0 "albert-cl starts neither with this glibc nor through the carried ld-linux"
  fi

  model="$work/albert-base-v2-random"
  quick_flag=
  [ "$quick" = 1 ] && quick_flag=--quick

  list_devices
  tuned="$OUT/$(profile_name).json"
  golden default
  large_batch
  generate_weights
  reference default
  bench none --no-profile
  if [ "$default_profile" = - ]; then
    skip bench/default "the default choice is no profile: the same runs as bench/none"
  else
    bench default
  fi
  # fp16 (half weights), with the default profile: every OpenCL device lists it
  case ",$precisions," in
    *,fp16,*)
      reference fp16 --precision fp16
      bench fp16 --precision fp16
      ;;
    *) skip fp16 "the device does not list fp16 (precisions: $precisions)" ;;
  esac
  peers
  tune
  if [ -s "$tuned" ]; then
    golden tuned --profile-file "$tuned"
    reference tuned --profile-file "$tuned"
    bench tuned --profile-file "$tuned"
    kernel_tables tuned --profile-file "$tuned"
  else
    skip tuned "no tuned profile"
  fi
  stream "$bundle/models/tiny-gelu" $((150000 / scale / scale / scale / scale))
  stream "$model" $((20000 / scale / scale / scale / scale))
  kernel_tables none --no-profile
  say "device-check: done in ${SECONDS}s, $failures step(s) failed or timed out"
  cat "$md"
  [ "$failures" = 0 ]
}

main "$@"
