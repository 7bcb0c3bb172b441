"""The model shipped inside the package: present, small, documented, and it registers phantoms."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.resources import data_dir


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name", ["jsrt", "jsrt-paper"])
def test_bundled_jsrt_models_and_autoencoder_are_installed_and_small(name):
    models = data_dir() / "models"
    for folder, files in ((name, ["model.json", "vector_cnn.weights.h5", "MODEL_CARD.md"]),
                          ("jsrt-ae", ["model.json", "encoder.weights.h5", "decoder.weights.h5"])):
        for file in files:
            assert (models / folder / file).is_file(), f"{folder}/{file}"
    size = sum(p.stat().st_size for p in (models / name).iterdir())
    assert size < 5 * 2 ** 20
    description = json.loads((models / name / "model.json").read_text())
    assert description["architecture"] == "vector_cnn" and description["size"] == 64


@pytest.mark.parametrize("dataset", ["jsrt", "montgomery", "shenzhen"])
def test_the_default_differs_from_the_paper_faithful_model_and_its_card_says_how(dataset):
    models = data_dir() / "models"
    paper = json.loads((models / f"{dataset}-paper" / "model.json").read_text())
    default = json.loads((models / dataset / "model.json").read_text())
    # The paper's method: one pass of a displacement network; the paper's settings.
    assert paper.get("passes", 1) == 1 and paper.get("integration_steps", 0) == 0
    assert "lambda_fold" not in (models / f"{dataset}-paper" / "training_config.toml").read_text()
    assert (models / dataset / "vector_cnn.weights.h5").read_bytes() != \
        (models / f"{dataset}-paper" / "vector_cnn.weights.h5").read_bytes()
    assert default["dataset"] == paper["dataset"] == dataset and default["ae_run"] == f"{dataset}-ae"
    card = (models / dataset / "MODEL_CARD.md").read_text()
    assert f"`{dataset}-paper`" in card and "Folded" in card and "| default |" in card


def test_demo_with_the_bundled_model_improves_phantom_overlap(tmp_path):
    result = run("demo", "-o", tmp_path / "demo", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["dice_after"] > summary["dice_before"] + 0.05
    assert (tmp_path / "demo" / "overlay.png").exists()


def test_register_without_model_uses_the_bundled_one(tmp_path):
    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(5)
    for name in ("a.png", "b.png"):
        image, _ = make_subject(rng, 128)
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / name)
    result = run("register", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"].endswith("jsrt")


@pytest.mark.parametrize("dataset", ["montgomery", "shenzhen", "montgomery-paper", "shenzhen-paper"])
def test_lung_models_are_selectable_by_name(dataset, tmp_path):
    from acregnet_cli.datasets.phantom import make_subject

    models = data_dir() / "models"
    for name in (dataset, f"{dataset.removesuffix('-paper')}-ae"):
        assert (models / name / "model.json").is_file()
    assert (models / dataset / "MODEL_CARD.md").is_file()
    assert json.loads((models / dataset / "model.json").read_text())["dataset"] == dataset.removesuffix("-paper")
    rng = np.random.RandomState(7)
    (moving, moving_labels), (fixed, _) = make_subject(rng, 128)[:2], make_subject(rng, 128)[:2]
    lungs = np.where(np.isin(moving_labels, (1, 2)), 255, 0).astype(np.uint8)  # Montgomery's one lung class
    for name, array in (("m.png", moving), ("f.png", fixed)):
        Image.fromarray((array * 255).astype(np.uint8)).save(tmp_path / name)
    Image.fromarray(lungs).save(tmp_path / "mask.png")
    result = run("register", tmp_path / "m.png", tmp_path / "f.png", "--mask", tmp_path / "mask.png",
                 "--model", dataset, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["model"].endswith(dataset)
    assert set(np.unique(np.array(Image.open(tmp_path / "out" / "warped_mask.png")))) <= {0, 255}


def test_the_model_for_the_wild_is_bundled_trained_on_three_datasets_and_registers(tmp_path):
    from acregnet_cli.datasets.phantom import make_subject

    models = data_dir() / "models"
    description = json.loads((models / "cxr" / "model.json").read_text())
    assert description["dataset"] == "jsrt+montgomery+shenzhen" and description["passes"] == 2
    assert description["ae_run"] == "jsrt-ae" and (models / "jsrt-ae" / "model.json").is_file()
    config = (models / "cxr" / "training_config.toml").read_text()
    assert "augment_rotation = 5.0" in config and "num_classes = [4, 2, 2]" in config
    weights = [(models / name / "vector_cnn.weights.h5").read_bytes() for name in ("cxr", "jsrt")]
    assert weights[0] != weights[1]
    assert "several-datasets.md" in (models / "cxr" / "MODEL_CARD.md").read_text()
    rng = np.random.RandomState(5)
    masks = []
    for name in ("a", "b"):
        image, labels = make_subject(rng, 128)[:2]
        Image.fromarray((image * 255).astype(np.uint8)).save(tmp_path / f"{name}.png")
        Image.fromarray(labels.astype(np.uint8)).save(tmp_path / f"{name}-mask.png")
        masks.append(labels)
    result = run("register", tmp_path / "a.png", tmp_path / "b.png", "-o", tmp_path / "out", "--model", "cxr",
                 "--mask", tmp_path / "a-mask.png", "--fixed-mask", tmp_path / "b-mask.png", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    before = np.mean([2 * ((masks[0] == v) & (masks[1] == v)).sum() / ((masks[0] == v).sum() + (masks[1] == v).sum())
                      for v in np.unique(masks[1]) if v])
    assert summary["model"].endswith("cxr") and summary["passes"] == 2
    assert summary["scores"]["mean_dice"] > before + 0.02
