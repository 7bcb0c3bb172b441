#!/usr/bin/env bash
# What the two-pass default costs `acregnet corpus` (issue 27 against issue 28's 5 images/s):
# the same 500 images at 1024x1024, QC included, with the paper-faithful jsrt-paper and
# with the default jsrt, one after the other; whole processes. Needs ACREGNET_DATA.
#   usage: bash benchmarks/corpus_default_model.sh [COUNT]    (appends to benchmarks/results/)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python benchmarks/make_corpus.py "$work/corpus" --count "$count" > /dev/null
out=benchmarks/results/corpus-default-model-cpu-$(nproc)core.md
{
  echo "# acregnet corpus with the paper-faithful and the default model ($(nproc) cores, $(date -u +%F))"
  echo
  echo "| model | passes | images | wall s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for model in jsrt-paper jsrt; do
    began=$(date +%s.%N)
    acregnet corpus "$work/corpus" -o "$work/out-$model" --model "$model" > /dev/null 2>&1
    ended=$(date +%s.%N)
    passes=$(python -c "from acregnet_cli import load_model; print(load_model('$model').passes)")
    python -c "w = $ended - $began; print(f'| $model | $passes | $count | {w:.1f} | {$count / w:.2f} |')"
  done
  echo
  echo "Command: \`bash benchmarks/corpus_default_model.sh $count\`"
} > "$out"
cat "$out"
