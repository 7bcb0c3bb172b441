#!/usr/bin/env bash
# What intensity by content and the framing stage cost `acregnet corpus` (issue 33 against
# issue 28's 5 images/s): the same COUNT images at 1024x1024, QC included, the default model,
# with the former reading (--intensity dtype --framing none), the new defaults (auto, align)
# and the field-of-view cut alone, interleaved, TRIES times (2); whole processes. Needs ACREGNET_DATA.
#   usage: bash benchmarks/corpus_intensity_framing.sh [COUNT]    (writes benchmarks/results/)
source "$(dirname "$0")/corpus_common.sh"
out=benchmarks/results/corpus-intensity-framing-cpu-$(nproc)core.md
{
  echo "# acregnet corpus, former reading against intensity by content and the framing stage ($(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u +%F))"
  echo
  echo "| reading | try | images | wall s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for try in $(seq 1 "${TRIES:-2}"); do
    for reading in "former --intensity dtype --framing none" "default" "field-of-view --framing field-of-view"; do
      set -- $reading
      name=$1; shift
      time_corpus "$name | $try" "$name-$try" "$@"
    done
  done
  echo
  echo "Command: \`bash benchmarks/corpus_intensity_framing.sh $count\`"
} > "$out"
cat "$out"
