#!/usr/bin/env bash
# Extension: the variants trained with train-reg --integration-steps (INTEGRATION_STEPS=7
# experiments/train.sh, runs DATASET-VARIANT-svf7 kept in experiments/DATASET/runs/) against the
# paper's AC-RegNet trained here (the bundled model, seed 0) and, where present, its seed-1
# twin, on the paper's test pairs (seed 0), in their own folder so that Table 1's statistics
# stay those of its methods; then the fields' regularity (experiments/field_regularity.sh), and,
# per run, where its remaining folds come from (experiments/folding_sources.py: integration
# steps, network size vs image size) in OUT/folding-sources/RUN/, and how far each model
# moves the anatomy (OUT/reach.md).
# Needs ACREGNET_DATA.
#   experiments/evaluate_diffeomorphic.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_diffeomorphic.sh DATASET}
RUNS=experiments/$DATASET/runs
OUT=experiments/$DATASET/diffeomorphic
source experiments/runs.sh
methods=()
if ! add_finished "$RUNS/$DATASET"-*-svf*; then
  echo "no finished run trained with --integration-steps in $RUNS" >&2
  exit 1
fi
svf_runs=("${methods[@]}")
methods+=(--method "ac-regnet=$DATASET-paper")
add_finished "$RUNS/$DATASET-ac-regnet-seed1" || true
evaluate_methods "$OUT"
bash experiments/field_regularity.sh "$DATASET"
svf_dirs=()
for method in "${svf_runs[@]}"; do
  [ "$method" = --method ] && continue
  run=${method#*=}
  svf_dirs+=("$run")
  python experiments/folding_sources.py "$DATASET" --model "$run" --steps 0,5,7,10,14 \
    -o "$OUT/folding-sources/$(basename "$run")"
done
# How far each model moves the anatomy (displacement length at network size).
python experiments/displacement_reach.py "$DATASET" "data/models/$DATASET-paper" "${svf_dirs[@]}" -o "$OUT/reach.md" > /dev/null
