#!/usr/bin/env bash
# Stage one (autoencoder) and stage two (VectorCNN variants) with the paper's settings
# (18000 iterations each) on one dataset. Resumable: rerun after an interruption.
#   experiments/train.sh DATASET            # autoencoder + ac-regnet
#   VARIANTS="regnet ce-regnet" experiments/train.sh jsrt
# Needs ACREGNET_DATA. RUNS defaults to runs/ (not committed); the run records
# (config, log, summary, model description, console log) are copied to experiments/DATASET/runs/
# (RECORDS=DIR: to DIR/DATASET/runs/ instead).
# AE_RUN=data/models/DATASET-ae reuses an existing (e.g. bundled) autoencoder instead of
# training one; variants that need no autoencoder (regnet, ce-regnet) never train one.
# CORES="0" pins the trainings to those CPU cores (taskset), for two runs side by side.
# SEED=1 trains the registration variants with another seed (runs named DATASET-VARIANT-seed1,
# weights kept with their records), to measure how much a result moves between trainings.
# AE_AUGMENT="5 0.1 0.05" (rotation degrees, scale, shift) trains the autoencoder with
# train-ae's mask augmentation (an extension) as DATASET-ae-aug, and the variants that use
# it as DATASET-VARIANT-aeaug; their weights are kept with their records.
# LAMBDA_AE=0.33 trains the autoencoder variants with that code-distance weight instead of
# the paper's 0.1, as DATASET-VARIANT[-aeaug]-lae0.33 (e.g. to match a code of another scale).
# INTEGRATION_STEPS=7 trains the variants with train-reg's diffeomorphic extension (the
# output integrated as a velocity field), as DATASET-VARIANT-svf7; weights kept with records.
# LR_SCHEDULE=cosine trains the variants with that learning-rate schedule (an extension; the
# paper keeps the rate constant) over the same iterations, as DATASET-VARIANT-cosine.
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: experiments/train.sh DATASET}
RUNS=${RUNS:-runs}
mkdir -p "$RUNS"
resume() { [ -d "$1/checkpoints" ] && echo --resume || true; }
record() {
  local run=$1 dest="${RECORDS:-results}/$DATASET/runs/$(basename "$1")"
  mkdir -p "$dest"
  cp "$run"/{config.toml,log.csv,summary.json,model.json} "$dest/" 2>/dev/null || true
  # A registration run's weights (2.1 MB) stay with its record, so that its rows can be
  # re-evaluated once runs/ is gone; the AC-RegNet's go to data/models/ (bundle_model.py).
  if [ -f "$run/summary.json" ]; then
    case $(basename "$run") in
      *-ac-regnet) ;;
      *-ae-aug) cp "$run"/{encoder,decoder}.weights.h5 "$dest/" ;;
      *-regnet|*-regnet-*) cp "$run/vector_cnn.weights.h5" "$dest/" ;;
    esac
  fi
  [ -f "$run.log" ] && tr '\r' '\n' < "$run.log" | grep -v '^\s*$' | tail -n 40 > "$dest/console.log" || true
  python -c 'import platform, os; print(f"{platform.node()} {platform.processor() or platform.machine()} {os.cpu_count()} cores")' > "$dest/machine.txt"
}

VARIANTS=${VARIANTS:-ac-regnet}
pin=()
[ -n "${CORES:-}" ] && pin=(taskset -c "$CORES")

ae_args=() augment_args=() ae_suffix=""
if [ -n "${AE_AUGMENT:-}" ]; then
  read -r rotation scale shift <<< "$AE_AUGMENT"
  augment_args=(--augment-rotation "$rotation" --augment-scale "$scale" --augment-shift "$shift")
  ae_suffix="-aug"
fi
if [[ " $VARIANTS " == *" ae-regnet "* || " $VARIANTS " == *" ac-regnet "* ]]; then
  ae=${AE_RUN:-$RUNS/$DATASET-ae$ae_suffix}
  # summary.json is written when a run has finished all its iterations.
  if [ -z "${AE_RUN:-}" ] && [ ! -f "$ae/summary.json" ]; then
    "${pin[@]}" acregnet train-ae --dataset "$DATASET" -o "$ae" "${augment_args[@]}" $(resume "$ae") --quiet 2>&1 \
      | tee -a "$ae.log" >/dev/null
  fi
  [ -z "${AE_RUN:-}" ] && record "$ae"
  ae_args=(--ae-run "$ae")
fi
seed_args=() suffix=""
[ -n "${SEED:-}" ] && seed_args=(--seed "$SEED") suffix="-seed$SEED"
for variant in $VARIANTS; do
  args=("${seed_args[@]}") tags=""
  if [[ $variant == ae-regnet || $variant == ac-regnet ]]; then
    args+=("${ae_args[@]}")
    if [ -n "${LAMBDA_AE:-}" ]; then args+=(--lambda-ae "$LAMBDA_AE"); fi
    tags="${ae_suffix:+-aeaug}${LAMBDA_AE:+-lae$LAMBDA_AE}"
  fi
  if [ -n "${INTEGRATION_STEPS:-}" ]; then
    args+=(--integration-steps "$INTEGRATION_STEPS") tags="$tags-svf$INTEGRATION_STEPS"
  fi
  if [ -n "${LR_SCHEDULE:-}" ]; then
    args+=(--lr-schedule "$LR_SCHEDULE") tags="$tags-$LR_SCHEDULE"
  fi
  run="$RUNS/$DATASET-$variant$tags$suffix"
  if [ ! -f "$run/summary.json" ]; then
    "${pin[@]}" acregnet train-reg --dataset "$DATASET" --variant "$variant" "${args[@]}" \
      -o "$run" $(resume "$run") --quiet 2>&1 | tee -a "$run.log" >/dev/null
  fi
  record "$run"
done
