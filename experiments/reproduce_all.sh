#!/usr/bin/env bash
# Every number of docs/results.md, from nothing but the data: for each
# dataset the autoencoder and the four variants with the paper's settings, evaluation
# against elastix and no registration, the bundled models, the applications and the
# experiments; then the extensions (Montgomery trained further, its autoencoder's
# learning curve, a second seed, the autoencoder with mask augmentation, a global
# pre-alignment, the diffeomorphic variant on every dataset) and the regularity of every
# model's fields, the spread of the protocol's means
# over pair draws, the warped mask outside the moving image and segmentation with a
# pre-alignment. Resumable: every
# training checkpoints, every evaluation caches its pairs; rerun after an interruption.
# Needs ACREGNET_DATA. Cost on the project's 2-core CPU: about 2 h per registration
# training pinned to one core (two side by side with CORES), 15 min per autoencoder,
# elastix about 25 s per pair per job (JSRT 100, Montgomery 56, Shenzhen 220 pairs).
#   experiments/reproduce_all.sh
#   DATASETS=jsrt ORIGINAL=/tmp/orig-jsrt experiments/reproduce_all.sh
# ORIGINAL: a folder made by `acregnet import-tf1 ../shared/reference/tf1-jsrt-acregnet/model.ckpt`
# adds the original release's JSRT model to the JSRT table.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
export RUNS
for dataset in ${DATASETS:-jsrt montgomery shenzhen}; do
  VARIANTS="ac-regnet ae-regnet ce-regnet regnet" bash experiments/train.sh "$dataset"
  # Bundles the AC-RegNet as data/models/DATASET, segmentation and QC studies.
  ELASTIX=1 JOBS=${JOBS:-2} bash experiments/after_training.sh "$dataset"
  acregnet experiment plausibility --dataset "$dataset" --ae-run "$RUNS/$dataset-ae" \
    -o "experiments/$dataset/plausibility" --overwrite > /dev/null
  acregnet experiment codes --dataset "$dataset" --ae-run "$RUNS/$dataset-ae" \
    -o "experiments/$dataset/codes" --overwrite > /dev/null
  python experiments/autoencoder_study.py "$dataset" --bundled-only
  if [ "$dataset" = jsrt ]; then
    python experiments/phantom_study.py --pairs 50 --out experiments/jsrt/phantoms.json
    ORIGINAL=${ORIGINAL:-} JOBS=${JOBS:-2} bash experiments/evaluate_bundled.sh jsrt
  fi
done
if [[ " ${DATASETS:-montgomery} " == *" montgomery "* ]]; then
  bash experiments/train_further.sh montgomery
  python experiments/autoencoder_study.py montgomery --iterations 9000
  # Training-to-training spread: AC-RegNet and AE-RegNet again with seed 1.
  SEED=1 VARIANTS="ac-regnet ae-regnet" AE_RUN=data/models/montgomery-ae bash experiments/train.sh montgomery
  bash experiments/seed_study.sh montgomery
  # Seed 1 trained further as well (the bundled seed 0 was, above).
  FROM=experiments/montgomery/runs/montgomery-ac-regnet-seed1 SEED=1 bash experiments/train_further.sh montgomery
  # The autoencoder with mask augmentation, its learning curve, and AC-RegNet trained with it.
  python experiments/autoencoder_study.py montgomery --iterations 4500 --augment 5,0.1,0.05
  AE_AUGMENT="5 0.1 0.05" VARIANTS=ac-regnet bash experiments/train.sh montgomery
  # Its code distances are ~3.3x smaller than the bundled one's (23.1 / 7.05): the same
  # run with lambda_ae scaled up to match, to separate the code's scale from its quality.
  LAMBDA_AE=0.33 AE_AUGMENT="5 0.1 0.05" VARIANTS=ac-regnet bash experiments/train.sh montgomery
  python experiments/autoencoder_study.py montgomery --ae "$RUNS/montgomery-ae-aug"
  bash experiments/evaluate_augmented_ae.sh montgomery
  # The diffeomorphic extension: AC-RegNet predicting a velocity field integrated in 7 steps.
  INTEGRATION_STEPS=7 VARIANTS=ac-regnet AE_RUN=data/models/montgomery-ae bash experiments/train.sh montgomery
  bash experiments/evaluate_diffeomorphic.sh montgomery
  # A cosine-decayed learning rate within the paper's 18000 iterations.
  LR_SCHEDULE=cosine VARIANTS=ac-regnet AE_RUN=data/models/montgomery-ae bash experiments/train.sh montgomery
  bash experiments/evaluate_lr_schedule.sh montgomery
fi
# The diffeomorphic extension on the other datasets too.
for dataset in ${DATASETS:-jsrt shenzhen}; do
  [ "$dataset" = montgomery ] && continue
  INTEGRATION_STEPS=7 VARIANTS=ac-regnet AE_RUN="data/models/$dataset-ae" bash experiments/train.sh "$dataset"
  bash experiments/evaluate_diffeomorphic.sh "$dataset"
done
for dataset in ${DATASETS:-jsrt montgomery shenzhen}; do
  [ "$dataset" = jsrt ] || JOBS=${JOBS:-2} bash experiments/evaluate_bundled.sh "$dataset"
  original=$([ "$dataset" = jsrt ] && echo "${ORIGINAL:-}" || true)
  ORIGINAL=$original bash experiments/field_regularity.sh "$dataset"
  # The protocol's means over 1000 pair draws; the warped mask outside the moving image.
  ORIGINAL=$original bash experiments/pair_sampling.sh "$dataset"
  ORIGINAL=$original bash experiments/evaluate_mask_outside.sh "$dataset" > /dev/null
  # A global affine transform fitted before the network (evaluate's prealign=affine; not
  # measured on Shenzhen, whose 1000 draws hold 12100 pairs), and multi-atlas
  # segmentation with and without it.
  [ "$dataset" = shenzhen ] || ORIGINAL=$original bash experiments/evaluate_prealign.sh "$dataset" > /dev/null
  bash experiments/segment_prealign.sh "$dataset" > /dev/null
done
