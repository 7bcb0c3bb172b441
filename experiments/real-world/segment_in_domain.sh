#!/usr/bin/env bash
# Multi-atlas segmentation of each dataset's test fold with its training fold as atlases
# (the paper-faithful model, majority of k = 5), with segment's alignment (--framing align),
# its field-of-view cut and the whole frame (--framing none, the former behaviour): the
# in-domain check of issue 33. Needs ACREGNET_DATA. Writes experiments/real-world/segment-in-domain.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=experiments/real-world/segment-in-domain.md
{
  echo "# Multi-atlas segmentation in domain: alignment and field-of-view cut against the whole frame ($(date -u +%F))"
  echo
  echo "| dataset | framing | Dice per structure |"
  echo "| --- | --- | --- |"
  for dataset in jsrt montgomery shenzhen; do
    for framing in align field-of-view none; do
      acregnet segment --atlases "$dataset:train" --targets-from "$dataset:test" -o "$work/$dataset-$framing" \
        --model "$dataset-paper" --framing "$framing" --no-overlay --json > "$work/$dataset-$framing.json"
      python -c "import json; s = json.load(open('$work/$dataset-$framing.json')); print('| $dataset | $framing | ' + ', '.join(f'{k[4:]} {v:.4f}' for k, v in sorted(s.items()) if k.startswith('dsc_')) + ' |')"
    done
  done
  echo
  echo "Command: \`bash experiments/real-world/segment_in_domain.sh\`"
} > "$out"
cat "$out"
