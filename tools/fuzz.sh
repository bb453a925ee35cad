#!/usr/bin/env bash
# The fuzz targets of tests/fuzz (README.md there), built with clang and
# libFuzzer in build-fuzz/.
#
#   tools/fuzz.sh smoke [SECONDS [TARGET...]]     every target SECONDS (10) from its
#                                                 committed seeds, side by side; what
#                                                 tools/test.sh runs
#   tools/fuzz.sh campaign [SECONDS [TARGET...]]  the long run: SECONDS (3600) per target,
#                                                 one after the other, each on every core
#                                                 (-fork), its corpus kept and grown in
#                                                 build-fuzz/corpus/TARGET
#
# The tree never changes: libFuzzer only reads the seeds.  Exits 1 when a
# target crashed, printing the sanitizer's summary, the top of the stack and
# the reproducer (build-fuzz/crashes/MODE/TARGET/); rerun one with
# build-fuzz/tests/fuzz/fuzz_TARGET REPRODUCER.  Logs: build-fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: tools/fuzz.sh smoke|campaign [SECONDS [TARGET...]]" >&2
  exit 2
}

mode=${1:-}
case "$mode" in
  smoke) seconds=${2:-10} ;;
  campaign) seconds=${2:-3600} ;;
  *) usage ;;
esac
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || usage
shift $(($# < 2 ? $# : 2))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in tests/fuzz/corpus/*/; do
    targets+=("$(basename "$dir")")
  done
fi

build="build-fuzz"
cores=$(nproc)
cmake -S . -B "$build" -DALBERT_FUZZ=ON -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz -j"$cores" >/dev/null

# A smoke run's new inputs and the targets' scratch files (their $TMPDIR), in
# memory when /dev/shm is there; reproducers and logs stay in the build folder.
work=$(mktemp -d "$( [ -w /dev/shm ] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/albert-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# libFuzzer flags for TARGET.  The committed seeds go in as the second corpus
# folder, which libFuzzer only reads: new inputs go to the first (a scratch
# folder for smoke, build-fuzz/corpus/TARGET for a campaign).
fuzz_flags() {
  local target=$1
  echo "-max_total_time=$seconds -timeout=10 -rss_limit_mb=2048 -print_final_stats=1"
  echo "-artifact_prefix=$build/crashes/$mode/$target/"
  [ "$target" = tokenizer ] || echo "-dict=tests/fuzz/json.dict"
  if [ "$mode" = campaign ]; then
    # -fork keeps going after a crash (each one saved) and merges the workers'
    # finds into the corpus.
    echo "-fork=$cores -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -use_value_profile=1"
  fi
}

run_target() {
  local target=$1 bin=$build/tests/fuzz/fuzz_$1 corpus
  mkdir -p "$build/logs"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: no target $target ($bin)" >"$build/logs/$target.log"
    echo 1 >"$work/status-$target"
    return 0
  fi
  if [ "$mode" = smoke ]; then
    corpus=$work/corpus/$target
    rm -rf "$build/crashes/smoke/$target"
  else
    corpus=$build/corpus/$target
  fi
  mkdir -p "$corpus" "$build/crashes/$mode/$target" "$work/tmp-$target"
  local status=0
  # shellcheck disable=SC2046 # fuzz_flags' words are separate flags
  TMPDIR=$work/tmp-$target "$bin" $(fuzz_flags "$target") "$corpus" "tests/fuzz/corpus/$target" \
    >"$build/logs/$target.log" 2>&1 || status=$?
  echo "$status" >"$work/status-$target"
}

# One line per target, and for a crash what it was and where it is.
report() {
  local target=$1 status=$2 log=$build/logs/$1.log crashes stats
  crashes=$(find "$build/crashes/$mode/$target" -type f -newer "$work/start" 2>/dev/null | sort)
  # A plain run ends with stat:: lines, a -fork run with a "#N: cov: ..." line.
  stats=$(grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$log" |
          sed 's/^stat:://' | tr -s ' \n' ' ' || true)
  [ -n "$stats" ] || stats=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
  if [ "$status" = 0 ] && [ -z "$crashes" ]; then
    echo "fuzz_$target: ok (${stats% })"
    return 0
  fi
  echo "fuzz_$target: FAILED (exit $status; ${stats% })"
  grep -E 'runtime error|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|library promise broken|fuzz harness:|fuzz.sh:|^SUMMARY' "$log" |
    sed -E 's/^==[0-9]+==//; s/ on address 0x[0-9a-f]+.*//' | sort -u | head -8 | sed 's/^/  /'
  # The top of the first stack, frames with a source file only.
  grep -m4 -E '^ *#[0-9]+ .* in [^ ]+ /' "$log" | sed 's/^/  /' || true
  local shown=0 c
  for c in $crashes; do
    if [ "$shown" -lt 5 ]; then
      echo "  reproducer: $c  (run: $build/tests/fuzz/fuzz_$target $c)"
    fi
    shown=$((shown + 1))
  done
  [ "$shown" -le 5 ] || echo "  ... $shown reproducers in all in $build/crashes/$mode/$target/"
  echo "  log: $log"
  return 1
}

touch "$work/start"
for target in "${targets[@]}"; do
  if [ "$mode" = smoke ]; then
    # Side by side, as many at once as there are cores.
    while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do
      wait -n || true
    done
    run_target "$target" &
  else
    echo "fuzz.sh: campaign: fuzz_$target for ${seconds}s on $cores cores" >&2
    run_target "$target"
  fi
done
wait

failed=0
for target in "${targets[@]}"; do
  report "$target" "$(cat "$work/status-$target" 2>/dev/null || echo 'not run')" || failed=1
done
exit "$failed"
