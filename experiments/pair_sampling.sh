#!/usr/bin/env bash
# How the Table 1 protocol's means vary with the pair draw (experiments/pair_sampling.py):
# the bundled AC-RegNet (one and two passes), the other AC-RegNet trainings and the
# AE-RegNet whose weights are kept in experiments/DATASET/runs/ (seed 1, trained further,
# seed 1 trained further), the original release's JSRT model (one and two passes) if
# ORIGINAL names an `acregnet import-tf1` folder, and no registration, over 1000 draws,
# against the paper's AC-RegNet row. Needs ACREGNET_DATA.
#   experiments/pair_sampling.sh montgomery      # -> experiments/montgomery/pair-sampling/
#   ORIGINAL=/tmp/orig-jsrt experiments/pair_sampling.sh jsrt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/pair_sampling.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
# The paper's Table 1, AC-RegNet (Shenzhen in pixels).
case "$DATASET" in
  jsrt) paper=0.943,17.973,3.340 ;;
  montgomery) paper=0.953,14.963,2.645 ;;
  shenzhen) paper=0.931,277.386,31.738 ;;
  *) echo "pair_sampling.sh: no Table 1 row for $DATASET" >&2; exit 2 ;;
esac
methods=(--method "ac-regnet=$DATASET-paper" --method "ac-regnet-2pass=$DATASET-paper,passes=2")
add_finished "$RUNS/$DATASET"-{ac-regnet-seed1,ac-regnet-further,ac-regnet-seed1-further,ae-regnet} || true
if [ -n "${ORIGINAL:-}" ]; then
  methods+=(--method "original-release=$ORIGINAL" --method "original-release-2pass=$ORIGINAL,passes=2")
fi
methods+=(--method identity)
python experiments/pair_sampling.py "$DATASET" "${methods[@]}" --draws "${DRAWS:-1000}" --reference "$paper" \
  -o "experiments/$DATASET/pair-sampling"
