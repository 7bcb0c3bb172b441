#!/usr/bin/env bash
# The warped mask where the field samples outside the moving image: the border label
# (edge, the original release's clamped warp and the paper's protocol) against background
# (evaluate's NAME=RUN,outside=background), for the bundled AC-RegNet and the AC-RegNet
# trainings kept in experiments/DATASET/runs/ (seed 1, trained further, seed 1 trained
# further), the original release's JSRT model if ORIGINAL names an `acregnet import-tf1`
# folder, and no registration, on the paper's test pairs. Needs ACREGNET_DATA.
#   experiments/evaluate_mask_outside.sh montgomery      # -> experiments/montgomery/mask-outside/
#   ORIGINAL=/tmp/orig-jsrt experiments/evaluate_mask_outside.sh jsrt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_mask_outside.sh DATASET}
RUNS=experiments/$DATASET/runs
source experiments/runs.sh
methods=()
both() { methods+=(--method "$1=$2" --method "$1-bg=$2,outside=background"); }
each_ac_model both
methods+=(--method identity)
evaluate_methods "experiments/$DATASET/mask-outside"
# The same two for the bundled model over 1000 draws of the protocol (pairs that touch
# the border are rare, so one draw may hold none).
python experiments/pair_sampling.py "$DATASET" --method "ac-regnet=$DATASET-paper" \
  --method "ac-regnet-bg=$DATASET-paper,outside=background" --draws 1000 -o "experiments/$DATASET/mask-outside/pair-sampling" \
  > /dev/null
