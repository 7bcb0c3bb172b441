#!/usr/bin/env bash
# Extension: the variants trained with train-reg --integration-steps (INTEGRATION_STEPS=7
# results/train.sh, runs DATASET-VARIANT-svf7 kept in results/DATASET/runs/) against the
# paper's AC-RegNet trained here (the bundled model, seed 0) and, where present, its seed-1
# twin, on the paper's test pairs (seed 0), in their own folder so that Table 1's statistics
# stay those of its methods; then the fields' regularity (results/field_regularity.sh), and,
# per run, where its remaining folds come from (results/folding_sources.py: integration
# steps, network size vs image size) in OUT/folding-sources/RUN/.
# Needs ACREGNET_DATA.
#   results/evaluate_diffeomorphic.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: results/evaluate_diffeomorphic.sh DATASET}
RUNS=results/$DATASET/runs
OUT=results/$DATASET/diffeomorphic
source results/runs.sh
methods=() svf_runs=()
for run in "$RUNS/$DATASET"-*-svf*; do
  trained "$run" && methods+=(--method "${run#"$RUNS/$DATASET-"}=$run") svf_runs+=("$run")
done
if [ ${#methods[@]} -eq 0 ]; then
  echo "no finished run trained with --integration-steps in $RUNS" >&2
  exit 1
fi
methods+=(--method "ac-regnet=$DATASET")
trained "$RUNS/$DATASET-ac-regnet-seed1" && methods+=(--method "ac-regnet-seed1=$RUNS/$DATASET-ac-regnet-seed1")
acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$OUT" --quiet > /dev/null
cat "$OUT/summary.md"
bash results/field_regularity.sh "$DATASET"
for run in "${svf_runs[@]}"; do
  python results/folding_sources.py "$DATASET" --model "$run" --steps 0,5,7,10,14 \
    -o "$OUT/folding-sources/$(basename "$run")"
done
