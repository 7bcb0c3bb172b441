#!/usr/bin/env bash
# Does a mask term that pulls the atlases' borders harder bring the CTR closer? (issue 35)
# The default (jsrt) fine-tuned 1500 iterations as it was made (AC-RegNet, cosine 1e-4,
# lambda_fold 300, two passes), once with the cross-entropy in its textbook form (sharper
# gradients at the borders than the release's softmax of probabilities) and once with the
# release's cross-entropy weighted 3 instead of 1 (and 10, and the textbook form weighted 3:
# added after the first two were measured); then the CTR of JSRT's test fold
# (ctr_jsrt.py) and multi-atlas Dice per structure, against the default in the same run.
#   bash experiments/ctr/mask_terms.sh          # needs ACREGNET_DATA; about 40 minutes
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/real-world/study_helpers.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
train() {  # RUN OPTIONS...
  local run=$1
  shift
  fine_tune "experiments/ctr/runs/$run" --dataset jsrt "$@"
}
train jsrt-ce-textbook --ce-form textbook
train jsrt-ce-3 --lambda-ce 3
train jsrt-ce-10 --lambda-ce 10
train jsrt-ce-textbook-3 --ce-form textbook --lambda-ce 3
echo "$(machine)"
python experiments/ctr/ctr_jsrt.py | tail -1 | sed 's/^/default: /'
runs="jsrt-ce-textbook jsrt-ce-3 jsrt-ce-10 jsrt-ce-textbook-3"
for run in $runs; do
  python experiments/ctr/ctr_jsrt.py --model "experiments/ctr/runs/$run" | tail -1 | sed "s/^/$run: /"
done
jsrt_segment_rows "$work" jsrt $(for run in $runs; do echo "experiments/ctr/runs/$run"; done)
