#!/usr/bin/env bash
# Does a network predicting a field twice as fine give a closer CTR? (issue 35)
# The default (jsrt, 64 px) fine-tuned at 128 px with its own loss (AC-RegNet, the 64 px
# autoencoder on masks brought down to it), 1500 iterations, then the CTR of JSRT's test
# fold (ctr_jsrt.py) and multi-atlas Dice per structure, against the default in the same run.
#   bash experiments/ctr/finer_network.sh          # needs ACREGNET_DATA; about 35 minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/real-world/study_helpers.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run=experiments/ctr/runs/jsrt-128
if [ ! -f "$run/vector_cnn.weights.h5" ]; then
  python experiments/ctr/data_at_size.py --size 128 -o "$work/acrn128"
  ACREGNET_DATA="$work/acrn128" fine_tune "$run" --dataset jsrt --size 128
fi
echo "$(machine)"
python experiments/ctr/ctr_jsrt.py | tail -1 | sed 's/^/default: /'
python experiments/ctr/ctr_jsrt.py --model "$run" --passes 1 | tail -1 | sed 's/^/128 px, one pass: /'
python experiments/ctr/ctr_jsrt.py --model "$run" | tail -1 | sed 's/^/128 px, two passes: /'
jsrt_segment_rows "$work" jsrt "$run"
