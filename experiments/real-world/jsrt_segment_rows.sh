# Sourced by augmented_model.sh and several_datasets.sh.
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
