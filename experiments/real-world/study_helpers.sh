# Sourced by the real-world and CTR study scripts (from the repository root).

# fine_tune RUN_DIR TRAIN_REG_OPTIONS...: the default (jsrt) fine-tuned as it was made
# (AC-RegNet, 1500 iterations, cosine from 1e-4, lambda_fold 300) with the options given
# (--dataset among them) into RUN_DIR, used with two network passes as the bundled
# default; skipped where the run's weights are there.
fine_tune() {
  local run=$1
  shift
  if [ ! -f "$run/vector_cnn.weights.h5" ]; then
    acregnet train-reg --variant ac-regnet --ae-run jsrt-ae --init-from jsrt --iterations 1500 \
      --learning-rate 1e-4 --lr-schedule cosine --lambda-fold 300 "$@" --quiet -o "$run"
    python -c "import json, sys; p = sys.argv[1]; d = json.load(open(p)); d['passes'] = 2; open(p, 'w').write(json.dumps(d, indent=2, sort_keys=True) + '\n')" "$run/model.json"
  fi
}

# train_augmented RUN DATASETS: fine_tune with augmented framings on DATASETS
# (comma-joined) into experiments/real-world/runs/RUN.
train_augmented() {
  fine_tune "experiments/real-world/runs/$1" --dataset "$2" --augment-rotation 5 --augment-scale 0.1 \
    --augment-shift 0.05
}

# machine: the date and the machine a study's table was made on, for its heading.
machine() {
  echo "$(date -u +%F), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
}

# jsrt_segment_rows WORK MODEL...: a Markdown table of multi-atlas segment of JSRT's test
# fold (jsrt:train atlases, k 5) with each model, Dice per structure; scratch in WORK.
jsrt_segment_rows() {
  local work=$1 model
  shift
  echo "| model | Dice per structure |"
  echo "| --- | --- |"
  for model in "$@"; do
    acregnet segment --atlases jsrt:train --targets-from jsrt:test -o "$work/seg" --model "$model" --no-overlay \
      --json > "$work/seg.json"
    python -c "import json; s = json.load(open('$work/seg.json')); print('| $model | ' + ', '.join(f'{k[4:]} {v:.4f}' for k, v in sorted(s.items()) if k.startswith('dsc_')) + ' |')"
    rm -rf "$work/seg"
  done
}
