"""Copy a trained registration run (and its autoencoder) into data/models/<name>/ with a model card.

Usage: python experiments/bundle_model.py NAME REG_RUN AE_RUN EVAL_SUMMARY_MD METHOD_NAME
       python experiments/bundle_model.py --scores NAME EVAL_SUMMARY_MD METHOD_NAME   (renew the card's scores)

The bundled folder holds model.json, vector_cnn.weights.h5, the autoencoder's
weights (under autoencoder/), the run's config.toml and MODEL_CARD.md.
"""

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORES_HEADING = "## Scores on the test split"


def scores_section(eval_summary, method):
    return (f"{SCORES_HEADING} (`acregnet evaluate`, seed 0, 256x256; this model is `{method}`; "
            f"`{method}-2pass` is the same model with `--passes 2`)\n\n{Path(eval_summary).read_text()}")


def main(name, reg_run, ae_run, eval_summary, method):
    reg_run, ae_run, eval_summary = Path(reg_run), Path(ae_run), Path(eval_summary)
    target = REPO / "data" / "models" / name
    ae_target = REPO / "data" / "models" / f"{name}-ae"
    for folder in (target, ae_target):
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    description = json.loads((reg_run / "model.json").read_text())
    description["ae_run"] = f"{name}-ae"
    (target / "model.json").write_text(json.dumps(description, indent=2, sort_keys=True) + "\n")
    shutil.copy(reg_run / "vector_cnn.weights.h5", target)
    shutil.copy(reg_run / "config.toml", target / "training_config.toml")
    ae_description = json.loads((ae_run / "model.json").read_text())
    (ae_target / "model.json").write_text(json.dumps(ae_description, indent=2, sort_keys=True) + "\n")
    for weights in ("encoder.weights.h5", "decoder.weights.h5"):
        shutil.copy(ae_run / weights, ae_target)
    shutil.copy(ae_run / "config.toml", ae_target / "training_config.toml")
    summary = json.loads((reg_run / "summary.json").read_text())
    ae_summary = json.loads((ae_run / "summary.json").read_text())
    card = f"""# Model card: {name}

AC-RegNet registration network (VectorCNN) trained by `acregnet train-reg` on the
{description.get('dataset', name)} training split of the authors' data, with its mask autoencoder
(`{name}-ae`, trained by `acregnet train-ae`), frozen during stage two.

- Input: two radiographs (moving, fixed) of any size; the network runs at
  {description['size']}x{description['size']} ({description['resize']} resize) and the field is scaled back.
- Output: a displacement field in pixels (rows, columns); see docs/field-convention.md.
- Training: {summary['iterations']} iterations, settings in `training_config.toml`
  (paper defaults: batch 32, Adam 1e-3, lambda_r 5e-5, lambda_ce 1, lambda_ae 0.1),
  {summary['seconds_per_iteration']:.3f} s per iteration on the machine it ran on (2-core CPU).
- Autoencoder: {ae_summary['iterations']} iterations, reconstruction Dice on the training masks
  {json.dumps({k: round(v, 4) for k, v in ae_summary.get('train_reconstruction_dice', {}).items()})}.
- Intended use: research registration of frontal chest radiographs similar to the training data.
  Not a medical device.

{scores_section(eval_summary, method)}"""
    (target / "MODEL_CARD.md").write_text(card)
    print(f"bundled {target} and {ae_target}")


def renew_scores(name, eval_summary, method):
    card = REPO / "data" / "models" / name / "MODEL_CARD.md"
    text = card.read_text()
    head = text[:text.index(SCORES_HEADING)]
    card.write_text(head + scores_section(eval_summary, method))
    print(f"renewed the scores of {card}")


if __name__ == "__main__":
    if sys.argv[1] == "--scores":
        renew_scores(*sys.argv[2:])
    else:
        main(*sys.argv[1:])
