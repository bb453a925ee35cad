#!/usr/bin/env bash
# Benchmarks albert-cl against its peers in one run on this machine:
#   - the ceilings at 1024x3072x768 (build/gemm_rates): oneDNN's sgemm for fp32
#     (what the CPU backend runs), its bf16 and u8 x s8 matmul for bf16 and int8;
#   - albert-cl --benchmark on the host CPU backend in every precision it runs
#     and on every OpenCL device (each also with --no-profile, CLBlast's
#     defaults, when the CLI has that flag);
#   - PyTorch eager (../shared/bench/torch_albert_bench.py, Debian's python3-torch);
#   - ONNX Runtime fp32, OpenVINO f32 and bf16 on the same graph
#     (../shared/bench/peers_bench.py, in the venv its setup-peers.sh makes);
# at batch shapes 32x128, 1x8 and 4x512, all with the same number of threads.
# Prints a table (tokens/s, ms/batch, GFLOP/s, % of the precision's ceiling,
# ratio to PyTorch in tokens/s and to PyTorch left with its OpenBLAS's own choice
# of kernels where that differs, ratio to OpenVINO bf16); --markdown FILE also
# writes it as markdown.
#
# The PyTorch peer always runs albert-base shapes: its ratios mean something
# only with an albert-base-shaped model.
#
# usage: tools/bench.sh [--markdown FILE] [--shapes "32x128 1x8 4x512"]
# env:   ALBERT_CL_MODEL (default ../shared/models/albert-base-v2-random),
#        ALBERT_CL_SHARED (default ../shared), BENCH_DEVICES (OpenCL indices, default
#        every OpenCL device --list-devices shows; BENCH_DEVICE, its old one-device
#        name, is read too),
#        BENCH_THREADS (default: all cores), BUILD_DIR (default build)
set -euo pipefail
cd "$(dirname "$0")/.."

markdown=""
shapes="32x128 1x8 4x512"
while [ $# -gt 0 ]; do
  case "$1" in
    --markdown) markdown="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    *) echo "usage: tools/bench.sh [--markdown FILE] [--shapes \"BxT ...\"]" >&2; exit 2 ;;
  esac
done

shared="${ALBERT_CL_SHARED:-../shared}"
model="${ALBERT_CL_MODEL:-$shared/models/albert-base-v2-random}"
threads="${BENCH_THREADS:-$(nproc)}"
build="${BUILD_DIR:-build}"
torch_bench="$shared/bench/torch_albert_bench.py"

bash tools/install-deps.sh --bench
[ -f "$build/CMakeCache.txt" ] || cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$threads" --target albert-cl gemm_rates >/dev/null
cli="$build/albert-cl"

# Debian's PyTorch runs on OpenBLAS, whose own pick of kernels falls back to
# SSE3 on CPUs newer than its tables: the "pytorch" rows get the kernels that
# fit the CPU (OPENBLAS_CORETYPE, unless already set), the "x PyTorch default"
# column PyTorch as installed.  albert-cl's CPU backend runs oneDNN, which
# picks its kernels itself.
blas=$("$cli" --list-devices | awk -F'\t' '$1 == "cpu" { print $7 }')
torch_default=0
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
  if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; torch_default=1
  elif grep -qw avx2 /proc/cpuinfo; then export OPENBLAS_CORETYPE=Haswell; torch_default=1; fi
fi
echo "bench: albert-cl's CPU GEMMs: $blas; PyTorch's OpenBLAS: ${OPENBLAS_CORETYPE:-its own pick}" >&2

results=$(mktemp)
trap 'rm -f "$results"' EXIT
log() { echo "bench: $*" >&2; }

# "RUNS WARMUP" for backend $1 at $2 tokens a batch.  Few timed runs of the
# big shapes keep the whole script within minutes on two cores (CLBlast's
# defaults, ~10x slower, get one run: its engine has built and run every
# GEMM kernel already); the latency shape is cheap, so it gets many.
iterations() {
  if [ "$2" -lt 1024 ]; then echo "20 3"
  elif [ "${1%defaults}" != "$1" ]; then echo "1 0"
  else echo "2 1"; fi
}

log "oneDNN sgemm and matmul 1024x3072x768, $threads threads"
printf 'rates\t-\t%s\n' "$("$build/gemm_rates" "$threads")" >>"$results"

# "NAME|OPTIONS" per backend: the CPU in each precision it runs, then each
# OpenCL device with the profile it gets and with CLBlast's defaults, named
# after its platform.
backends=("cpu|--device cpu")
cpu_precisions=$("$cli" --list-devices | awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "precisions") c = i }
                                                   $1 == "cpu" && c { print $c }')
for p in ${cpu_precisions//,/ }; do
  [ "$p" = fp32 ] || backends+=("cpu-$p|--device cpu --precision $p")
done
with_defaults=0
if "$cli" --help | grep -- '--no-profile' >/dev/null; then  # not grep -q: pipefail + SIGPIPE
  with_defaults=1
fi
listing=$("$cli" --list-devices)
for d in ${BENCH_DEVICES:-${BENCH_DEVICE:-$(awk -F'\t' 'NR > 1 && $1 != "cpu" { print $1 }' <<<"$listing")}}; do
  platform=$(awk -F'\t' -v d="$d" '$1 == d { print $2 }' <<<"$listing")
  case "$platform" in
    *Portable*) label=pocl ;;
    *Intel*) label=intel-ocl ;;
    *NVIDIA*) label=nvidia ;;
    *) label=opencl ;;
  esac
  backends+=("$label-$d|--device $d")
  if [ "$with_defaults" = 1 ]; then
    backends+=("$label-$d-defaults|--device $d --no-profile")
  fi
done
py_peers=$(bash "$shared/bench/setup-peers.sh" 2>/dev/null) || py_peers=""
[ -n "$py_peers" ] || log "no peers venv (setup-peers.sh failed): no ONNX Runtime / OpenVINO rows"

# Rows for ONNX Runtime and OpenVINO at B x T ("NAME TOK tokens/s MS ms/batch").
peer_rows() {
  local B=$1 T=$2
  log "onnxruntime / openvino ${B}x$T"
  "$py_peers" "$shared/bench/peers_bench.py" "$B" "$T" "$threads" 2>/dev/null |
    awk -v shape="${B}x$T" '$5 == "ms/batch" {
      name = $1; sub(/-[0-9][0-9.]*-/, "-", name)
      printf "%s\t%s\t{\"ms_per_batch\": %s}\n", name, shape, $4 }' >>"$results" || true
}

have_torch=1
if [ ! -f "$torch_bench" ]; then
  have_torch=0; log "no $torch_bench: no PyTorch column"
elif ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  have_torch=0; log "no python3-torch: no PyTorch column"
fi

# Row NAME for PyTorch at batch B x T, run through the command in "${@:4}".
torch_row() {
  local name=$1 B=$2 T=$3 out ms
  shift 3
  log "$name ${B}x$T"
  # "B= 32 T=128     123.4 ms/batch     1234 tokens/s"
  out=$("$@" /usr/bin/python3 "$torch_bench" "$threads" "$B" "$T") || out=""
  ms=$(awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "ms/batch") print $i}' <<<"$out")
  if [ -n "$ms" ]; then
    printf '%s\t%s\t{"ms_per_batch": %s}\n' "$name" "${B}x$T" "$ms" >>"$results"
  else
    log "$name ${B}x$T: no ms/batch in its output: no row"
  fi
}

for shape in $shapes; do
  B=${shape%x*} T=${shape#*x}
  for entry in "${backends[@]}"; do
    name=${entry%%|*} args=${entry#*|}
    read -r iters warm <<<"$(iterations "$name" $((B * T)))"
    log "$name $shape ($iters runs after $warm warm-up)"
    # shellcheck disable=SC2086  # args holds several options
    line=$("$cli" --benchmark --model "$model" --threads "$threads" $args --batch-size "$B" \
           --seq-len "$T" --iterations "$iters" --warmup "$warm") ||
      { log "$name $shape failed: no row"; continue; }
    printf '%s\t%s\t%s\n' "$name" "$shape" "$line" >>"$results"
  done
  if [ -n "$py_peers" ]; then
    peer_rows "$B" "$T"
  fi
  if [ "$have_torch" = 1 ]; then
    torch_row pytorch "$B" "$T"
    if [ "$torch_default" = 1 ]; then
      torch_row pytorch-default "$B" "$T" env -u OPENBLAS_CORETYPE
    fi
  fi
done

python3 - "$results" "$markdown" "$threads" <<'EOF'
import json, sys

rows = [line.rstrip("\n").split("\t", 2) for line in open(sys.argv[1])]
matmul = next(json.loads(r[2]) for r in rows if r[0] == "rates")
sgemm = matmul["sgemm"]
# Each backend's ceiling: its precision's GEMM rate on this machine.
ceiling = {"bf16": matmul["bf16"], "int8": matmul["int8"]}
ceilings = ("rates",)
peers = ("pytorch", "pytorch-default")
others = ("onnxruntime-fp32", "openvino-f32", "openvino-bf16")
flops = {r[1]: json.loads(r[2])["flops_per_batch"] for r in rows
         if r[0] not in ceilings + peers + others}
torch = [{r[1]: json.loads(r[2])["ms_per_batch"] for r in rows if r[0] == p} for p in peers]
ov_bf16 = {r[1]: json.loads(r[2])["ms_per_batch"] for r in rows if r[0] == "openvino-bf16"}
header = ["backend", "shape", "tokens/s", "ms/batch", "GFLOP/s", "% ceiling", "x PyTorch"]
if torch[1]:
    header.append("x PyTorch default")
header.append("x OpenVINO bf16")
table = []
for name, shape, text in rows:
    if name in ceilings:
        continue
    d = json.loads(text)
    B, T = (int(x) for x in shape.split("x"))
    ms = d["ms_per_batch"]
    gflops = flops[shape] / (ms / 1e3) / 1e9
    top = ceiling.get(name.rsplit("-", 1)[-1]) or sgemm
    ratios = ["%.2f" % (t[shape] / ms) if shape in t else "n/a" for t in torch]
    ratios = ratios[:len(header) - 7]
    ratios.append("%.2f" % (ov_bf16[shape] / ms) if shape in ov_bf16 else "n/a")
    table.append([name, shape, "%.0f" % (B * T / (ms / 1e3)), "%.1f" % ms, "%.1f" % gflops,
                  "%.0f%%" % (100 * gflops / top)] + ratios)
title = ("Ceilings at 1024x3072x768 (%s threads): oneDNN sgemm %.1f GFLOP/s, matmul f32 %.1f, "
         "bf16 %s, int8 %s GOP/s" % (sys.argv[3], sgemm, matmul["f32"], matmul["bf16"],
                                      matmul["int8"]))
widths = [max(len(str(r[i])) for r in [header] + table) for i in range(len(header))]
print(title)
for r in [header] + table:
    print("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                    for i, (c, w) in enumerate(zip(r, widths))))
if sys.argv[2]:
    with open(sys.argv[2], "w") as f:
        f.write(title + "\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for r in table:
            f.write("| " + " | ".join(r) + " |\n")
EOF
