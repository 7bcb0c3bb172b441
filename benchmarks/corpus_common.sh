# Sourced by the corpus benchmarks (corpus_default_model.sh, corpus_intensity_framing.sh):
# the synthetic corpus of COUNT (first argument, 500) images at 1024x1024 in $work, removed
# on exit, and one timed whole `acregnet corpus` run over it. Needs ACREGNET_DATA.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python benchmarks/make_corpus.py "$work/corpus" --count "$count" > /dev/null

# time_corpus CELLS NAME [OPTION...]: run `acregnet corpus` into $work/out-NAME with the
# options; print the table row "| CELLS | images | wall s | images/s |".
time_corpus() {
  local cells=$1 name=$2
  shift 2
  local began ended
  began=$(date +%s.%N)
  acregnet corpus "$work/corpus" -o "$work/out-$name" "$@" > /dev/null 2>&1
  ended=$(date +%s.%N)
  python -c "w = $ended - $began; print(f'| $cells | $count | {w:.1f} | {$count / w:.2f} |')"
}
