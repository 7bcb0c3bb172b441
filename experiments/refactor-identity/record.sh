#!/usr/bin/env bash
# Record the outputs of a fixed set of runs, through the command line only, so that the
# same script runs on any commit (before and after a refactor) and compare.py can tell
# whether behaviour changed.
#   usage: ACREGNET_DATA=... bash experiments/refactor-identity/record.sh OUT
set -euo pipefail
out=${1:?usage: record.sh OUT}
data=${ACREGNET_DATA:?set ACREGNET_DATA to the data root (acrn)}
mkdir -p "$out"
export OPENBLAS_NUM_THREADS=1

# 1. The paper's Table 1 protocol on JSRT: identity and the bundled model.
acregnet evaluate --dataset jsrt --method identity --method bundled=jsrt -o "$out/evaluate" \
  --figure-pairs 0 --quiet > /dev/null

# 2. The same pairs through `register --pairs`, with masks, on both engines.
python - "$out" "$data" <<'PY'
import csv, sys
out, data = sys.argv[1], sys.argv[2]
root = f"{data}/data/JSRT/LR_256"
seen = {}
with open(f"{out}/evaluate/pairs.csv") as handle:
    for row in csv.DictReader(handle):
        seen.setdefault(row["pair"], (row["moving"], row["fixed"]))
with open(f"{out}/pairs.csv", "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["moving", "fixed", "moving_mask", "name"])
    for pair, (moving, fixed) in sorted(seen.items(), key=lambda item: int(item[0])):
        writer.writerow([f"{root}/images/{moving}.png", f"{root}/images/{fixed}.png",
                         f"{root}/labels/{moving}.png", f"pair{int(pair):03d}"])
PY
for engine in tensorflow numpy; do
  acregnet register --pairs "$out/pairs.csv" --engine "$engine" -o "$out/register-$engine" > /dev/null
done

# 3. Multi-atlas segmentation of the first 10 JSRT test images.
targets=$(head -n 10 "$data/data/JSRT/split/test_images_256.txt" | sed "s|^|$data/|")
acregnet segment $targets --atlases jsrt:train -o "$out/segment" --no-overlay > /dev/null 2>&1

# 4. A 20-iteration training with a fixed seed (RegNet: no autoencoder needed).
acregnet train-reg --dataset jsrt --variant regnet --iterations 20 --log-every 1 --checkpoint-every 10 \
  --seed 0 --quiet -o "$out/train" > /dev/null
echo "recorded into $out"
