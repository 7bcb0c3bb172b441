#!/usr/bin/env bash
# Issue 27: the bundled default against the paper-faithful model and the paper's Table 1
# row over 1000 draws of the protocol's pairs. Needs ACREGNET_DATA.
#   usage: bash experiments/default-model/pair_sampling.sh [DATASET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
declare -A PAPER=([jsrt]=0.943,17.973,3.340 [montgomery]=0.953,14.963,2.645 [shenzhen]=0.931,277.386,31.738)
for d in ${@:-jsrt montgomery shenzhen}; do
  python experiments/pair_sampling.py "$d" --method "paper=$d-paper" --method "default=$d" --draws 1000 \
    --reference "${PAPER[$d]}" -o "experiments/default-model/$d/pair-sampling-default" > /dev/null
done
