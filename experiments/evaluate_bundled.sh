#!/usr/bin/env bash
# Table 1 for one dataset with the bundled models: AC-RegNet as the paper (1 pass) and
# with the two-pass extension (--passes 2), the variants trained under $RUNS or kept in
# experiments/DATASET/runs/ if any,
# the original release's JSRT model if ORIGINAL names an `acregnet import-tf1` folder,
# elastix and no registration. Needs ACREGNET_DATA. Elastix results already cached in
# the output folder are reused (cache/elastix.jsonl); the missing ones take about
# 25 s per pair per job.
#   experiments/evaluate_bundled.sh jsrt
#   ORIGINAL=/tmp/orig-jsrt JOBS=2 experiments/evaluate_bundled.sh jsrt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_bundled.sh DATASET}
RUNS=${RUNS:-runs}
OUT=experiments/$DATASET/evaluation
source experiments/runs.sh
methods=(--method "ac-regnet=$DATASET-paper" --method "ac-regnet-2pass=$DATASET-paper,passes=2")
# A variant's weights are kept with its run record (experiments/DATASET/runs/) once trained.
for variant in regnet ce-regnet ae-regnet; do
  for run in "$RUNS/$DATASET-$variant" "experiments/$DATASET/runs/$DATASET-$variant"; do
    if trained "$run"; then
      methods+=(--method "$variant=$run")
      break
    fi
  done
done
# Trainings with another seed are evaluated apart, by experiments/seed_study.sh.
# Extension: the bundled AC-RegNet trained further (experiments/train_further.sh).
further="experiments/$DATASET/runs/$DATASET-ac-regnet-further"
if trained "$further"; then
  methods+=(--method "ac-regnet-further=$further" --method "ac-regnet-further-2pass=$further,passes=2")
fi
if [ -n "${ORIGINAL:-}" ]; then
  methods+=(--method "original-release=$ORIGINAL" --method "original-release-2pass=$ORIGINAL,passes=2")
fi
methods+=(--method elastix --jobs "${JOBS:-2}" --method identity)
acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$OUT" --quiet --json > "experiments/$DATASET/evaluation.json"
python experiments/ordering.py "$OUT" > /dev/null
