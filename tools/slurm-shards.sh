#!/usr/bin/env bash
# Checks albert-cl's `--shard i/n` under a Slurm array job: a throwaway one-node
# cluster on localhost runs one array task per shard; the shards, merged back
# into input order, must equal one unsharded run (byte for byte, or records
# equal with embeddings within 1e-5 where batches differ).
#
#   tools/slurm-shards.sh [--shards N] [--binary PATH] [--model DIR] [--input FILE]
#                         [-- extra albert-cl args]
#
# Needs root (apt-get; the daemons run as root). All it starts lives in one temp
# folder, torn down on exit; nothing in /etc is touched but by apt-get.
# The merge is docs/scaling.md's one-liner: paste -d '\n' shard-*.jsonl | grep -v '^$'
# (shard k holds indices k, k+N, ...; list the shards in order, 0 to N-1).
#
# Test hooks: SLURM_SHARDS_STANDIN=1 swaps albert-cl for an awk stand-in with its
# arguments (writes index + text), to check cluster, job and merge without a
# --shard binary; SLURM_SHARDS_KEEP=DIR keeps a copy of the temp folder there.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shards=3
binary=$root/build/albert-cl
model=$root/../shared/models/tiny-gelu
input=
extra=()
usage() { sed -n '6,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "$1"; }
while [ $# -gt 0 ]; do
  case $1 in
    --shards) shards=$2 ;;
    --binary) binary=$2 ;;
    --model) model=$2 ;;
    --input) input=$2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) usage 0 ;;
    *) echo "slurm-shards: unknown argument '$1'" >&2; usage 2 ;;
  esac
  shift 2
done
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "slurm-shards: --shards wants a positive integer" >&2; exit 2; }
die() { echo "slurm-shards: FAIL: $*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# --- 1. packages: only when missing, so a warm machine pays nothing. --------
t0=$(now)
missing=
for c in slurmctld slurmd sbatch munged; do command -v "$c" >/dev/null || missing=1; done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' own services (system munged, slurmctld with no config)
  # from starting: a policy-rc.d that says no, unless the image has one already.
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  fi
  rc=0  # No recommends: they pull in mail servers and docs we do not need.
  { apt-get update -qq &&
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; } || rc=$?
  [ -z "$policy" ] || rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get could not install slurm-wlm and munge (exit $rc)"
fi
t_apt=$(secs "$t0" "$(now)")

# --- 2. a private one-node cluster -----------------------------------------
tmp=$(mktemp -d /tmp/slurm-shards.XXXXXX)
pids=()
submitted=
cleanup() {
  # Interrupted during the job: cancel it first, or its tasks outlive slurmd
  # (slurmstepd is not slurmd's child for good). The cluster is ours alone.
  if [ -n "$submitted" ]; then
    scancel --user="$(id -un)" 2>/dev/null || true
    for k in $(seq 20); do squeue -h 2>/dev/null | grep . >/dev/null || break; sleep 0.25; done
  fi
  # Then the daemons (they hold files in $tmp), then the folder.
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  [ -n "${SLURM_SHARDS_KEEP:-}" ] && cp -r "$tmp" "$SLURM_SHARDS_KEEP"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() {  # with every log we have: daemons in -D mode log to *.out too
  for f in "$tmp"/*.out "$tmp"/job-*.err; do
    [ -s "$f" ] && { echo "===== $f"; tail -n 40 "$f"; }
  done >&2 || true
  die "$*"
}

# Absolute paths: array tasks run with the temp folder as their cwd.
binary=$(realpath -m "$binary")
[ -d "$model" ] && model=$(realpath "$model")
if [ "${SLURM_SHARDS_STANDIN:-0}" = 1 ]; then
  # Stand-in with albert-cl's argument shape: [--shard i/n] -o OUT ... INPUT.
  binary=$tmp/standin.sh
  cat >"$binary" <<'SH'
#!/bin/bash
[ "$1" = --help ] && { echo "stand-in: --shard I/N -o OUT INPUT"; exit 0; }
i=0 n=1 out=/dev/stdout
while [ $# -gt 1 ]; do
  case $1 in --shard) i=${2%/*} n=${2#*/}; shift 2 ;; -o) out=$2; shift 2 ;;
             --model|--device|--threads) shift 2 ;; *) shift ;; esac
done
exec awk -v i="$i" -v n="$n" '(NR-1)%n==i {print "{\"index\": " NR-1 ", \"text\": \"" $0 "\"}"}' "$1" >"$out"
SH
  chmod +x "$binary"
fi
[ -x "$binary" ] || die "no albert-cl at $binary (build it, or pass --binary)"
# Fail before any cluster work when the binary predates --shard.
# grep -q would stop reading early and, under pipefail, fail on the writer's SIGPIPE.
"$binary" --help 2>&1 | grep -- '--shard' >/dev/null || die "$binary --help lists no --shard option"
if [ -z "$input" ]; then
  input=$tmp/input.txt
  for k in $(seq 1000); do echo "line $k: the quick brown fox $((k * 7919 % 1000)) jumps"; done >"$input"
fi
input=$(realpath "$input")

t1=$(now)
host=$(hostname -s)
# munge: our own key, socket, log and pid, so a system munged is left alone.
mungekey --create --keyfile="$tmp/munge.key" 2>/dev/null ||
  dd if=/dev/urandom of="$tmp/munge.key" bs=1 count=1024 status=none
chmod 600 "$tmp/munge.key"
# --force: munged refuses a socket in a folder others cannot enter (mktemp's 0700).
munged -F --force --socket="$tmp/munge.sock" --key-file="$tmp/munge.key" \
  --pid-file="$tmp/munged.pid" --seed-file="$tmp/munged.seed" >"$tmp/munged.out" 2>&1 &
pids+=($!)

# Memory: half of MemTotal, so slurmd never drains the node for "Low RealMemory".
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 2048) }' /proc/meminfo)
mkdir -p "$tmp/state" "$tmp/spool"
cat >"$tmp/slurm.conf" <<EOF
ClusterName=shards
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
# Auth and job credentials via munge (the defaults), through our munged.
AuthInfo=socket=$tmp/munge.sock
MpiDefault=none
ReturnToService=2
# No cgroups: linuxproc tracks processes by parent pid, task/none binds nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Speed, not throughput: sbatch --wait polls every 2 s only while that is under
# MinJobAge/2 (else it backs off to 8 s, 10 s...), and the scheduler runs at once.
MinJobAge=4
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf   # daemons, clients and the job all read this
for k in $(seq 50); do [ -S "$tmp/munge.sock" ] && break; sleep 0.1; done
[ -S "$tmp/munge.sock" ] || fail "munged did not create $tmp/munge.sock"
# -D keeps them in the foreground, so $! is the daemon and cleanup can kill it.
slurmctld -D -i >"$tmp/slurmctld.out" 2>&1 & pids+=($!)
slurmd -D -N "$host" >"$tmp/slurmd.out" 2>&1 & pids+=($!)
state=
for k in $(seq 120); do   # 30 s
  state=$(sinfo -h -N -n "$host" -o '%T' 2>/dev/null || true)
  [[ $state = idle || $state = inval || $state = drain* ]] && break  # the last two stay
  sleep 0.25
done
[ "$state" = idle ] || fail "node $host not idle within 30 s (sinfo says '${state:-nothing}'): see the slurmctld/slurmd logs above"
t_up=$(secs "$t1" "$(now)")

# --- 3. the array job: task k writes shard-k.jsonl --------------------------
base=(--model "$model" --device cpu --threads 1)
extra_q=; [ ${#extra[@]} -eq 0 ] || extra_q=$(printf '%q ' "${extra[@]}")  # printf '%q' of nothing is ''
cat >"$tmp/job.sh" <<EOF
#!/bin/bash
set -euo pipefail
exec $(printf '%q ' "$binary" "${base[@]}")--shard "\$SLURM_ARRAY_TASK_ID/$shards" \\
  -o "$tmp/shard-\$SLURM_ARRAY_TASK_ID.jsonl" $extra_q$(printf '%q' "$input")
EOF
t2=$(now)
submitted=1
# In the background, so that a TERM or INT runs the trap now, not after the job.
sbatch --wait --quiet --array="0-$((shards - 1))" --job-name=albert-shards \
  --chdir="$tmp" --cpus-per-task=1 --time=30 \
  --output="$tmp/job-%a.out" --error="$tmp/job-%a.err" "$tmp/job.sh" &
pids+=($!)
wait $! || fail "the array job failed (sbatch exit $?): see the job output above"
submitted=
t_job=$(secs "$t2" "$(now)")

# Shard k holds indices k, k+n, k+2n, ...: taking one line from each shard in
# turn restores input order. When the count is not a multiple of n, the last
# round has fewer lines and paste emits empty fields there; grep drops them.
files=()
for ((k = 0; k < shards; k++)); do
  [ -f "$tmp/shard-$k.jsonl" ] || fail "array task $k wrote no $tmp/shard-$k.jsonl"
  files+=("$tmp/shard-$k.jsonl")
done
paste -d '\n' "${files[@]}" | grep -v '^$' >"$tmp/merged.jsonl" || true

# The same run, unsharded, straight from this shell.
t3=$(now)
"$binary" "${base[@]}" -o "$tmp/single.jsonl" "${extra[@]}" "$input" 2>"$tmp/single.err" ||
  { cat "$tmp/single.err" >&2; die "the unsharded run failed"; }
t_single=$(secs "$t3" "$(now)")
records=$(wc -l <"$tmp/single.jsonl")
[ "$records" -gt 0 ] || die "the unsharded run wrote no records"
# Byte for byte, or the same records (index, ids) with embeddings within the
# batch-invariance tolerance: a shard's batches are not the unsharded run's, and
# fp32 GEMMs of other shapes round differently in the last digits.
same=bytes
if ! cmp -s "$tmp/merged.jsonl" "$tmp/single.jsonl"; then
  same=$(python3 - "$tmp/merged.jsonl" "$tmp/single.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:3])
if len(a) != len(b):
    sys.exit("%d merged records, %d unsharded" % (len(a), len(b)))
worst = 0.0
for x, y in zip(a, b):
    if (x["index"], x.get("input_ids")) != (y["index"], y.get("input_ids")):
        sys.exit("record %d: index or input_ids differ" % y["index"])
    if "embedding" in x:
        worst = max([worst] + [abs(p - q) for p, q in zip(x["embedding"], y["embedding"])])
if worst > 1e-5:
    sys.exit("embeddings differ by %.3g, beyond 1e-5" % worst)
print("records equal, embeddings within %.2g" % worst)
PY
) || die "merged shards differ from the unsharded run: $same"
fi
echo "PASS: $shards shards of $records records merge to the unsharded output ($same;" \
     "apt ${t_apt}s, cluster up ${t_up}s, array job ${t_job}s, unsharded run ${t_single}s)"
