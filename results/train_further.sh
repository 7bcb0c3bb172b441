#!/usr/bin/env bash
# An extension, never a replacement of the paper's run: train the bundled AC-RegNet of a
# dataset further, starting from its weights (train-reg --init-from), with a decaying
# learning rate. Tests whether the paper's 18000 iterations had converged.
#   results/train_further.sh montgomery                  # 12000 more iterations, cosine 1e-3 -> 1e-4
#   ITERATIONS=9000 SCHEDULE=step CORES=1 results/train_further.sh montgomery
# Resumable: rerun after an interruption. Needs ACREGNET_DATA. The run record and its
# weights go to results/DATASET/runs/DATASET-ac-regnet-further/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: results/train_further.sh DATASET}
RUNS=${RUNS:-runs}
ITERATIONS=${ITERATIONS:-12000}
SCHEDULE=${SCHEDULE:-cosine}
run="$RUNS/$DATASET-ac-regnet-further"
pin=()
[ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")
mkdir -p "$RUNS"
if [ ! -f "$run/summary.json" ]; then
  resume=()
  [ -d "$run/checkpoints" ] && resume=(--resume)
  "${pin[@]}" acregnet train-reg --dataset "$DATASET" --variant ac-regnet --ae-run "data/models/$DATASET-ae" \
    --init-from "$DATASET" --iterations "$ITERATIONS" --lr-schedule "$SCHEDULE" -o "$run" "${resume[@]}" --quiet \
    2>&1 | tee -a "$run.log" >/dev/null
fi
dest="results/$DATASET/runs/$(basename "$run")"
mkdir -p "$dest"
cp "$run"/{config.toml,log.csv,summary.json,model.json,vector_cnn.weights.h5} "$dest/"
tr '\r' '\n' < "$run.log" | grep -v '^\s*$' | tail -n 40 > "$dest/console.log" || true
python -c 'import platform, os; print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores")' > "$dest/machine.txt"
