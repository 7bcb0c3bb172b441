#!/usr/bin/env bash
# `acregnet corpus` of this checkout against the code of an earlier commit, on the same
# COUNT images at 1024x1024 (QC included, the default model, default options), interleaved,
# TRIES times (2); whole processes. The earlier code runs from a git worktree put first on
# PYTHONPATH, with this environment's packages. Needs ACREGNET_DATA.
#   usage: bash benchmarks/corpus_against_ref.sh REF [COUNT]   (writes benchmarks/results/)
ref=${1:?give the commit to compare with}
shift
source "$(dirname "$0")/corpus_common.sh"
base=$(mktemp -d)
git worktree add --detach -q "$base/tree" "$ref"
trap 'git worktree remove --force "$base/tree"; rm -rf "$work" "$base"' EXIT
# Run from the worktree: `python -m` puts the current folder first on the path, before PYTHONPATH.
acregnet() {
  if [ -n "${ACREGNET_REF:-}" ]; then (cd "$base/tree" && python -m acregnet_cli.cli "$@"); else command acregnet "$@"; fi
}
out=benchmarks/results/corpus-against-ref-cpu-$(nproc)core.md
{
  echo "# acregnet corpus, this checkout ($(git rev-parse --short HEAD)) against $ref ($(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u +%F))"
  echo
  echo "| code | try | images | wall s | images/s |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for try in $(seq 1 "${TRIES:-2}"); do
    ACREGNET_REF=1 time_corpus "$ref | $try" "ref-$try"
    ACREGNET_REF= time_corpus "HEAD | $try" "head-$try"
  done
  echo
  echo "Command: \`bash benchmarks/corpus_against_ref.sh $ref $count\`"
} > "$out"
cat "$out"
