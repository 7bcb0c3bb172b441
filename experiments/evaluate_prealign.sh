#!/usr/bin/env bash
# A global affine (or similarity) transform fitted between the two network-size images
# before the network (evaluate's NAME=RUN,prealign=affine; an extension beyond the paper)
# against the paper's network alone: the bundled AC-RegNet and the AC-RegNet trainings
# kept in experiments/DATASET/runs/ (seed 1, trained further, seed 1 trained further), the
# original release's JSRT model if ORIGINAL names an `acregnet import-tf1` folder, and no
# registration, on the paper's test pairs; then the bundled model and seed 1 over 1000
# draws of the protocol (experiments/pair_sampling.py), where pairs of very different framing
# are more common than in one draw. Needs ACREGNET_DATA.
#   experiments/evaluate_prealign.sh montgomery      # -> experiments/montgomery/prealign/
#   KINDS="affine similarity" experiments/evaluate_prealign.sh jsrt
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/evaluate_prealign.sh DATASET}
RUNS=experiments/$DATASET/runs
KINDS=${KINDS:-affine}
source experiments/runs.sh
methods=()
with_prealign() {
  methods+=(--method "$1=$2")
  local kind
  for kind in $KINDS; do methods+=(--method "$1-$kind=$2,prealign=$kind"); done
}
each_ac_model with_prealign
methods+=(--method identity)
evaluate_methods "experiments/$DATASET/prealign"
methods=()
with_prealign ac-regnet "$DATASET-paper"
trained "$RUNS/$DATASET-ac-regnet-seed1" && with_prealign ac-regnet-seed1 "$RUNS/$DATASET-ac-regnet-seed1"
python experiments/pair_sampling.py "$DATASET" "${methods[@]}" --draws 1000 -o "experiments/$DATASET/prealign/pair-sampling" \
  > /dev/null
