#!/usr/bin/env bash
# An extension, never a replacement of the paper's run: train a dataset's AC-RegNet
# further, starting from its weights (train-reg --init-from), with a decaying learning
# rate. Tests whether the paper's 18000 iterations had converged.
#   experiments/train_further.sh montgomery                  # bundled model, 12000 more iterations, cosine 1e-3 -> 1e-4
#   ITERATIONS=9000 SCHEDULE=step CORES=1 experiments/train_further.sh montgomery
#   FROM=experiments/montgomery/runs/montgomery-ac-regnet-seed1 SEED=1 experiments/train_further.sh montgomery
# FROM is a finished run directory (default: the bundled model DATASET); the new run is
# named after it: DATASET-ac-regnet-further for the bundled model, RUN-further otherwise.
# Resumable: rerun after an interruption. Needs ACREGNET_DATA. The run record and its
# weights go to experiments/DATASET/runs/<run>/.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/train_further.sh DATASET}
RUNS=${RUNS:-runs}
ITERATIONS=${ITERATIONS:-12000}
SCHEDULE=${SCHEDULE:-cosine}
FROM=${FROM:-$DATASET-paper}
SEED=${SEED:-0}
if [ "$FROM" = "$DATASET" ]; then
  run="$RUNS/$DATASET-ac-regnet-further"
else
  [ -f "$FROM/vector_cnn.weights.h5" ] || { echo "train_further.sh: $FROM has no vector_cnn.weights.h5 (not a finished run)" >&2; exit 2; }
  run="$RUNS/$(basename "$FROM")-further"
fi
pin=()
[ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")
mkdir -p "$RUNS"
if [ ! -f "$run/summary.json" ]; then
  resume=()
  [ -d "$run/checkpoints" ] && resume=(--resume)
  "${pin[@]}" acregnet train-reg --dataset "$DATASET" --variant ac-regnet --ae-run "data/models/$DATASET-ae" \
    --init-from "$FROM" --iterations "$ITERATIONS" --lr-schedule "$SCHEDULE" --seed "$SEED" -o "$run" "${resume[@]}" --quiet \
    2>&1 | tee -a "$run.log" >/dev/null
fi
dest="experiments/$DATASET/runs/$(basename "$run")"
mkdir -p "$dest"
cp "$run"/{config.toml,log.csv,summary.json,model.json,vector_cnn.weights.h5} "$dest/"
tr '\r' '\n' < "$run.log" | grep -v '^\s*$' | tail -n 40 > "$dest/console.log" || true
python -c 'import platform, os; print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores")' > "$dest/machine.txt"
