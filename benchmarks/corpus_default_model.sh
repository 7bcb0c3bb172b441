#!/usr/bin/env bash
# What the two-pass default costs `acregnet corpus` (issue 27 against issue 28's 5 images/s):
# the same 500 images at 1024x1024, QC included, with the paper-faithful jsrt-paper and
# with the default jsrt (its two passes, and --passes 1), one after the other; whole processes. Needs ACREGNET_DATA.
#   usage: bash benchmarks/corpus_default_model.sh [COUNT]    (appends to benchmarks/results/)
source "$(dirname "$0")/corpus_common.sh"
out=benchmarks/results/corpus-default-model-cpu-$(nproc)core.md
{
  echo "# acregnet corpus with the paper-faithful and the default model ($(nproc) cores, $(date -u +%F))"
  echo
  echo "| model | passes | images | wall s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for run in "jsrt-paper 1" "jsrt 2" "jsrt 1"; do
    set -- $run
    time_corpus "$1 | $2" "$1-$2" --model "$1" --passes "$2"
  done
  echo
  echo "Command: \`bash benchmarks/corpus_default_model.sh $count\`"
} > "$out"
cat "$out"
