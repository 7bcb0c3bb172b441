#!/usr/bin/env bash
# Training-to-training spread: evaluates, on the paper's test pairs (seed 0), every
# variant trained with another seed (SEED=N experiments/train.sh, kept in
# experiments/DATASET/runs/DATASET-VARIANT-seedN) next to the same variant trained with
# seed 0 (the bundled AC-RegNet, the other variants' run records), in its own folder so
# that Table 1's statistics stay those of the seed-0 methods; then
# experiments/seed_study.py writes seed-study.md there. Needs ACREGNET_DATA.
#   experiments/seed_study.sh montgomery
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/seed_study.sh DATASET}
OUT=experiments/$DATASET/seed-study
source experiments/runs.sh
methods=()
for variant in ac-regnet ae-regnet ce-regnet regnet; do
  seeded=()
  for run in experiments/"$DATASET"/runs/"$DATASET-$variant"-seed*; do
    # Only VARIANT-seedN itself: runs trained further from it are another study.
    [[ $run =~ -seed[0-9]+$ ]] && trained "$run" && seeded+=(--method "${run##*/$DATASET-}=$run")
  done
  [ ${#seeded[@]} -eq 0 ] && continue
  if [ "$variant" = ac-regnet ]; then
    methods+=(--method "ac-regnet=$DATASET-paper")
  else
    methods+=(--method "$variant=experiments/$DATASET/runs/$DATASET-$variant")
  fi
  methods+=("${seeded[@]}")
done
if [ ${#methods[@]} -eq 0 ]; then
  echo "no finished run with another seed in experiments/$DATASET/runs/" >&2
  exit 1
fi
acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$OUT" --quiet > /dev/null
python experiments/seed_study.py "$OUT"
