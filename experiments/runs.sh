# Sourced by the results scripts: what they need to know of a run directory.
# A registration run that finished all its iterations and kept its weights.
trained() { [ -f "$1/summary.json" ] && [ -f "$1/vector_cnn.weights.h5" ]; }

# Adds "--method NAME=RUN" to the array `methods` for each finished run among the
# arguments, NAME being the run folder's name less "$DATASET-"; with TWIN_PASSES=P, each
# run's P-pass twin (NAME-Ppass) too. Fails when none of them had finished.
add_finished() {
  local run name status=1
  for run in "$@"; do
    trained "$run" || continue
    name=${run##*/} && name=${name#"$DATASET-"}
    methods+=(--method "$name=$run")
    [ -n "${TWIN_PASSES:-}" ] && methods+=(--method "$name-${TWIN_PASSES}pass=$run,passes=$TWIN_PASSES")
    status=0
  done
  return $status
}

# Evaluates the `methods` on DATASET's test pairs (the paper's protocol) into folder $1 and
# prints its summary table.
evaluate_methods() {
  acregnet evaluate --dataset "$DATASET" "${methods[@]}" -o "$1" --quiet > /dev/null
  cat "$1/summary.md"
}

# Calls "$1 NAME MODEL" for the bundled AC-RegNet of DATASET, for each AC-RegNet training
# kept in $RUNS that finished (seed 1, trained further, seed 1 trained further), and for
# the original release's model if ORIGINAL names an `acregnet import-tf1` folder.
each_ac_model() {
  local add=$1 run
  "$add" ac-regnet "$DATASET-paper"
  for run in "$RUNS/$DATASET"-{ac-regnet-seed1,ac-regnet-further,ac-regnet-seed1-further}; do
    trained "$run" && "$add" "${run#"$RUNS/$DATASET-"}" "$run"
  done
  if [ -n "${ORIGINAL:-}" ]; then "$add" original-release "$ORIGINAL"; fi
}
