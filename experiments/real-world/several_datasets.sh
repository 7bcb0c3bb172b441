#!/usr/bin/env bash
# Does training on several hospitals' films help on a hospital the model never saw?
# Leave one hospital out: the default (jsrt) fine-tuned with augmented framings on JSRT
# alone (runs/jsrt-augmented, augmented_model.sh), on JSRT + Montgomery and on JSRT +
# Shenzhen (train-reg --dataset A,B: pairs within each dataset), each scored on the
# hospital it left out (all its films at 1024 px through corpus defaults, JSRT atlases),
# beside the default, in the same run; then the model trained on all three (cxr) in
# domain: Table 1 on each dataset's test pairs and multi-atlas segment of JSRT's test fold.
# Training is skipped where a run's weights are there. Needs ACREGNET_DATA; about 40
# minutes on 2 cores with the trainings, 20 without.
#   bash experiments/real-world/several_datasets.sh   (writes experiments/real-world/several-datasets.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/real-world/study_helpers.sh
runs=experiments/real-world/runs
train_augmented jsrt-augmented jsrt
train_augmented jsrt+montgomery-augmented jsrt,montgomery
train_augmented jsrt+shenzhen-augmented jsrt,shenzhen
train_augmented cxr-augmented jsrt,montgomery,shenzhen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=experiments/real-world/several-datasets.md
{
  echo "# Several hospitals in training, scored on the one left out ($(machine))"
  echo
  echo "Lungs Dice against the manual masks, all the left-out hospital's films at 1024 px, \`corpus\` defaults (JSRT atlases)."
  echo
  for hospital in shenzhen montgomery; do
    other=$([ "$hospital" = shenzhen ] && echo montgomery || echo shenzhen)
    python experiments/real-world/other_hospitals.py --only "$hospital" -o "$work/$hospital-default" > /dev/null 2>&1
    python experiments/real-world/other_hospitals.py --only "$hospital" --model "$runs/jsrt-augmented" \
      -o "$work/$hospital-jsrt" > /dev/null 2>&1
    python experiments/real-world/other_hospitals.py --only "$hospital" --model "$runs/jsrt+$other-augmented" \
      -o "$work/$hospital-two" > /dev/null 2>&1
    python - "$hospital" "$other" "$work/$hospital-default" "$work/$hospital-jsrt" "$work/$hospital-two" <<'PY'
import sys

import pandas as pd
from scipy.stats import wilcoxon

hospital, other, *folders = sys.argv[1:]
names = ["default (jsrt)", "jsrt, augmented", f"jsrt + {other}, augmented"]
frames = [pd.read_csv(f"{folder}/scores.csv") for folder in folders]
print(f"## Left out: {hospital}")
print()
print("| model | films | refused | lungs Dice | outside our heart | estimate vs true: r | against the default | against jsrt, augmented |")
print("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
for name, frame in zip(names, frames):
    done = frame[frame.status == "ok"]
    cells = []
    for base in frames[:2]:
        m = base.merge(frame, on="image", suffixes=("_b", "_n"))
        m = m[(m.status_b == "ok") & (m.status_n == "ok")]
        d = m.lungs_n - m.lungs_b
        cells.append("" if d.abs().sum() == 0 else f"{d.mean():+.4f}, {(d > 0).sum()} / {(d < 0).sum()} better / worse, p {wilcoxon(d).pvalue:.2g}")
    print(f"| {name} | {len(frame)} | {(frame.status == 'not-chest').sum()} | {done.lungs.mean():.4f} | "
          f"{done.lungs_outside_heart.mean():.4f} | {done.estimated_dice.corr(done.lungs):.3f} | {cells[0]} | {cells[1]} |")
print()
PY
  done
  echo "## The model trained on all three (cxr), in domain: Table 1 (test pairs, 256 px)"
  echo
  for dataset in jsrt montgomery shenzhen; do
    acregnet evaluate --dataset "$dataset" --method "default=$dataset" --method "cxr=$runs/cxr-augmented,passes=2" \
      -o "$work/eval-$dataset" > /dev/null 2>&1
    echo "### $dataset"; echo; sed -n '/^| Method/,/^$/p' "$work/eval-$dataset/summary.md"
  done
  echo "## JSRT multi-atlas segment of the test fold (jsrt:train atlases, k 5)"
  echo
  jsrt_segment_rows "$work" jsrt "$runs/cxr-augmented"
  echo
  echo "Command: \`bash experiments/real-world/several_datasets.sh\`"
} > "$out"
cat "$out"
