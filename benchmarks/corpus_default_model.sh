#!/usr/bin/env bash
# What the two-pass default costs `acregnet corpus` (issue 27 against issue 28's 5 images/s):
# the same 500 images at 1024x1024, QC included, with the paper-faithful jsrt-paper and
# with the default jsrt (its two passes, and --passes 1), one after the other; whole processes. Needs ACREGNET_DATA.
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
  for run in "jsrt-paper 1" "jsrt 2" "jsrt 1"; do
    set -- $run
    began=$(date +%s.%N)
    acregnet corpus "$work/corpus" -o "$work/out-$1-$2" --model "$1" --passes "$2" > /dev/null 2>&1
    ended=$(date +%s.%N)
    python -c "w = $ended - $began; print(f'| $1 | $2 | $count | {w:.1f} | {$count / w:.2f} |')"
  done
  echo
  echo "Command: \`bash benchmarks/corpus_default_model.sh $count\`"
} > "$out"
cat "$out"
