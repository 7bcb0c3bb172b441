#!/usr/bin/env bash
# Does training on framings the data does not hold help on hospitals the model never saw?
# Fine-tunes the bundled default (jsrt) for 1500 iterations with the affine augmentation of
# the training pairs (rotation 5 degrees, scale 0.1, shift 0.05; otherwise the default's
# last stage: ac-regnet, lambda_fold 300, Adam 1e-4 cosine), used with 2 passes as the
# default is, then measures it beside the default in the same run: other hospitals
# (Montgomery + Shenzhen, 688 films at 1024 px, corpus defaults), JSRT's Table 1 (100 test
# pairs), multi-atlas segment of JSRT's test fold, and CTR against the manual masks.
# The run record (config, log; the weights are not committed) is in runs/jsrt-augmented; training is
# skipped when its weights are there. Needs ACREGNET_DATA; about 25 minutes on 2 cores.
#   bash experiments/real-world/augmented_model.sh   (writes experiments/real-world/augmented-model.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
source experiments/real-world/study_helpers.sh
run=experiments/real-world/runs/jsrt-augmented
train_augmented jsrt-augmented jsrt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=experiments/real-world/augmented-model.md
{
  echo "# The default model against the same fine-tuned with augmented framings ($(machine))"
  echo
  echo "## Other hospitals (lungs Dice against the manual masks; SCR-like: outside our heart)"
  echo
  echo "(The images/s column is not a speed measure here: other work may share the machine.)"
  echo
  for model in default augmented; do
    option=(); [ "$model" = augmented ] && option=(--model "$run")
    python experiments/real-world/other_hospitals.py -o "$work/oh-$model" "${option[@]}" > /dev/null 2>&1
    echo "### $model"; echo; sed -n '/^Truth/,$p' "$work/oh-$model/summary.md" | grep -v '^- '
  done
  python - "$work/oh-default/scores.csv" "$work/oh-augmented/scores.csv" <<'PY'
import sys

import pandas as pd
from scipy.stats import wilcoxon

m = pd.read_csv(sys.argv[1]).merge(pd.read_csv(sys.argv[2]), on=["dataset", "image"], suffixes=("_d", "_a"))
m = m[(m.status_d == "ok") & (m.status_a == "ok")]
print("| dataset | truth | images | mean difference (augmented - default) | better / worse | Wilcoxon p |")
print("| --- | --- | ---: | ---: | --- | ---: |")
for dataset, rows in m.groupby("dataset"):
    for truth in ("lungs", "lungs_outside_heart"):
        d = rows[truth + "_a"] - rows[truth + "_d"]
        print(f"| {dataset} | {truth} | {len(d)} | {d.mean():+.4f} | {(d > 0).sum()} / {(d < 0).sum()} | "
              f"{wilcoxon(d).pvalue:.2g} |")
PY
  echo
  echo "## JSRT in domain: Table 1 (100 test pairs, 256 px)"
  echo
  acregnet evaluate --dataset jsrt --method default=jsrt --method "augmented=$run,passes=2" -o "$work/eval" > /dev/null 2>&1
  sed -n '/^| Method/,/^$/p' "$work/eval/summary.md"
  echo "## JSRT in domain: multi-atlas segment of the test fold (jsrt:train atlases, k 5)"
  echo
  jsrt_segment_rows "$work" jsrt "$run"
  echo
  echo "## CTR against the manual masks (JSRT test fold, 256 px; experiments/ctr/ctr_jsrt.py)"
  echo
  echo "First row: the default (jsrt); second: runs/jsrt-augmented."
  echo
  python experiments/ctr/ctr_jsrt.py | head -2
  python experiments/ctr/ctr_jsrt.py | tail -1
  python experiments/ctr/ctr_jsrt.py --model "$run" | tail -1
  echo
  echo "Command: \`bash experiments/real-world/augmented_model.sh\`"
} > "$out"
cat "$out"
