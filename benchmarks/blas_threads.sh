#!/usr/bin/env bash
# BLAS threads: the command line's default (one OpenBLAS/MKL thread) against the former
# behaviour (as many as the machine has cores), on the same code, interleaved, TRIES (2)
# times, whole processes: `corpus` of COUNT (500) synthetic images at 1024x1024, `segment`
# of JSRT's test fold (50 images, jsrt:train atlases) and `register --pairs` of 200 JSRT
# test pairs with masks. Needs ACREGNET_DATA.
#   usage: bash benchmarks/blas_threads.sh [COUNT]   (writes benchmarks/results/)
source "$(dirname "$0")/corpus_common.sh"
python - "$work/pairs.csv" <<'PY'
import csv, sys
sys.path.insert(0, "benchmarks")
from default_model_cost import test_pairs
with open(sys.argv[1], "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["moving", "fixed", "moving_mask"])
    writer.writerows([[str(p) for p in pair] for pair in test_pairs("jsrt", 200)])
PY
cores=$(nproc)
# timed LABEL THREADS NAME ARGS...: one whole run with OPENBLAS_NUM_THREADS and
# MKL_NUM_THREADS at THREADS; prints "| LABEL | THREADS | wall s | user s |".
timed() {
  local label=$1 threads=$2 name=$3
  shift 3
  rm -rf "$work/$name"
  local began ended
  began=$(date +%s.%N)
  OPENBLAS_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" /usr/bin/time -f "%U" -o "$work/cpu" \
    acregnet "$@" -o "$work/$name" > /dev/null 2> "$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
  ended=$(date +%s.%N)
  python -c "print(f'| $label | $threads | {$ended - $began:.1f} | {$(tail -1 "$work/cpu"):.1f} |')"
}
out=benchmarks/results/blas-threads-cpu-${cores}core.md
{
  echo "# BLAS threads, one against $cores ($(git rev-parse --short HEAD), $cores cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u +%F))"
  echo
  echo "| command | BLAS threads | wall s | user CPU s |"
  echo "| --- | ---: | ---: | ---: |"
  for try in $(seq 1 "${TRIES:-2}"); do
    for threads in "$cores" 1; do
      timed "corpus, $count images at 1024" "$threads" out-corpus corpus "$work/corpus"
      timed "segment jsrt:test (50)" "$threads" out-segment segment --targets-from jsrt:test --atlases jsrt:train
      timed "register --pairs (200)" "$threads" out-register register --pairs "$work/pairs.csv"
    done
  done
  echo
  echo "Command: \`bash benchmarks/blas_threads.sh $count\`"
} > "$out"
cat "$out"
