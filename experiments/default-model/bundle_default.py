"""Bundle a dataset's default model (issue 27) as data/models/<dataset>/ with its model card.

The folder holds model.json (with the model's default ``passes``), the weights, the
last run's config.toml as training_config.toml, and MODEL_CARD.md: how the model was
trained (the chain of runs it was fine-tuned through, read from each run's
``init_from``), and its scores from an ``acregnet evaluate`` summary that compares it
with the paper-faithful model.

usage: python experiments/default-model/bundle_default.py DATASET RUN PASSES EVAL_SUMMARY_MD [NOTE]
"""

import json
import shutil
import sys
from pathlib import Path

from acregnet_cli.datasets.config import read_toml

REPO = Path(__file__).resolve().parents[2]
PAPER_NAMES = ("jsrt", "montgomery", "shenzhen")


def lineage(run):
    """(run, config) from ``run`` back through each ``init_from`` to the first model."""
    chain = []
    path = Path(run)
    while (path / "config.toml").is_file():
        config = read_toml(path / "config.toml")
        chain.append((path, config))
        start = config.get("init_from")
        if not start or Path(start).is_absolute() or not (REPO / start).is_dir():
            break  # a bundled model: the chain's first
        path = REPO / start
    return chain


def describe(path, config):
    keys = ("iterations", "learning_rate", "lr_schedule", "seed", "lambda_fold", "integration_steps",
            "augment_rotation", "augment_scale", "augment_shift")
    settings = ", ".join(f"{key} {config[key]}" for key in keys if key in config and config[key] not in (0, 0.0))
    start = config.get("init_from") or "random initialisation"
    if Path(start).is_absolute() and Path(start).parent == REPO / "data" / "models":
        start = Path(start).name  # a bundled model, recorded by where it lay
    if start in PAPER_NAMES:
        # Runs made before the renaming name the paper-faithful model by the dataset's name.
        start = f"{start}-paper"
    try:
        where = path.resolve().relative_to(REPO)
    except ValueError:
        where = path
    return f"  - `{where}`: from `{start}`; {settings}"


def main(dataset, run, passes, summary, note=""):
    run, passes = Path(run), int(passes)
    target = REPO / "data" / "models" / dataset
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    description = json.loads((run / "model.json").read_text())
    description.update(ae_run=f"{dataset}-ae", dataset=dataset, passes=passes)
    description.pop("init_from", None)
    (target / "model.json").write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    shutil.copy(run / "vector_cnn.weights.h5", target)
    shutil.copy(run / "config.toml", target / "training_config.toml")
    runs = list(reversed(lineage(run)))
    chain = "\n".join(describe(path, config) for path, config in runs)
    augmented = any(config.get(f"augment_{key}", 0) for _, config in runs for key in ("rotation", "scale", "shift"))
    also = (", with each training image and its mask moved by a random affine map "
            "(`--augment-*`)") if augmented else ""
    card = f"""# Model card: {dataset}

The default registration model for {dataset} radiographs (`--model {dataset}`): the
paper's AC-RegNet (VectorCNN, trained with minus NCC, total variation, the mask
cross-entropy and the distance between codes of the frozen `{dataset}-ae`), fine-tuned
with a penalty on folding (`train-reg --lambda-fold`, mean max(0, 0.1 - det J)){also}, and used
with {passes} network pass{'es' if passes > 1 else ''} (`passes` in model.json; `register --passes 1` for one).
The paper-faithful model is bundled as `{dataset}-paper`. Study, commands and the
approaches tried: `experiments/default-model/README.md`.{chr(10) + chr(10) + note if note else ""}

- Input: two radiographs (moving, fixed) of any size; the network runs at
  {description['size']}x{description['size']} ({description['resize']} resize) and the field is scaled back.
- Output: a displacement field in pixels (rows, columns); see docs/field-convention.md.
- Training (each run fine-tunes the one above it; settings of the last in `training_config.toml`,
  the others in their run folders):
{chain}
- Intended use: research registration of frontal chest radiographs similar to the training data.
  Not a medical device.

## Scores on the test split (`acregnet evaluate`, seed 0, 256x256; `paper` is `{dataset}-paper`, `default` this model)

{Path(summary).read_text()}"""
    (target / "MODEL_CARD.md").write_text(card)
    print(f"bundled {target}")


if __name__ == "__main__":
    main(*sys.argv[1:])
