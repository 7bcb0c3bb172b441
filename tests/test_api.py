"""The Python API gives the command line's results, and a model name means the same everywhere."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import acregnet_cli as acr
from acregnet_cli.cli import main
from acregnet_cli.datasets.phantom import make_subject
from acregnet_cli.errors import InputError
from acregnet_cli.resources import data_dir


def write_pair(folder, kind):
    """A phantom pair and the moving mask, saved as ``kind`` PNGs (uint8, uint16 or rgb)."""
    rng = np.random.RandomState(11)
    (moving, mask), (fixed, _) = make_subject(rng, 160), make_subject(rng, 160)
    paths = []
    for name, image in (("moving.png", moving), ("fixed.png", fixed[:150])):  # sizes differ on purpose
        if kind == "uint16":
            array = (image * 65535).astype(np.uint16)
        elif kind == "rgb":
            gray = (image * 255).astype(np.uint8)
            array = np.stack([gray, gray // 2 + 60, gray], axis=-1)
        else:
            array = (image * 255).astype(np.uint8)
        Image.fromarray(array).save(folder / name)
        paths.append(folder / name)
    Image.fromarray(mask).save(folder / "mask.png")
    return paths[0], paths[1], folder / "mask.png"


@pytest.mark.parametrize("kind", ["uint8", "uint16", "rgb"])
@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_api_gives_the_command_lines_field_for_the_same_png(tmp_path, kind, engine):
    moving, fixed, mask = write_pair(tmp_path, kind)
    result = CliRunner().invoke(main, ["register", str(moving), str(fixed), "--mask", str(mask), "--engine", engine,
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    arrays = [np.asarray(Image.open(path)) for path in (moving, fixed, mask)]
    assert arrays[0].dtype == {"uint8": np.uint8, "uint16": np.uint16, "rgb": np.uint8}[kind]
    api = acr.register(arrays[0], arrays[1], mask=arrays[2], engine=engine)
    field = np.load(tmp_path / "out" / "field.npy")
    assert api.field.shape == field.shape == (150, 160, 2)
    assert np.abs(api.field - field).max() < 1e-4
    np.testing.assert_array_equal(api.warped_mask, np.asarray(Image.open(tmp_path / "out" / "warped_mask.png")))


def test_api_refuses_what_it_cannot_register():
    flat = np.zeros((64, 64), np.uint8)
    image = (np.random.RandomState(0).rand(64, 64) * 255).astype(np.uint8)
    with pytest.raises(InputError, match="moving: image is constant"):
        acr.register(flat, image)
    with pytest.raises(InputError, match="fixed: expected a 2-D"):
        acr.register(image, np.zeros((4, 64, 64)))
    with pytest.raises(InputError, match="mask: shape"):
        acr.register(image, image, mask=np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match="passes"):
        acr.register(image, image, passes=0)


def test_bundled_names_work_in_every_place_that_takes_a_model():
    from acregnet_cli.evaluation import parse_method
    from acregnet_cli.models.files import load_vector_cnn_lite, vector_cnn_weights

    assert acr.load_model("jsrt").bundled == "jsrt"
    assert acr.load_model("jsrt-ae").kind == "autoencoder"
    assert acr.load_model().path == data_dir() / "models" / "jsrt"
    assert acr.make_registrar("montgomery", acr.RegistrationOptions(engine="numpy")).model_handle.bundled == \
        "montgomery"
    assert load_vector_cnn_lite("shenzhen")[1]["dataset"] == "shenzhen"
    assert vector_cnn_weights("jsrt")[0].name == "vector_cnn.weights.h5"
    assert parse_method("default=jsrt,passes=2").path == data_dir() / "models" / "jsrt"
    with pytest.raises(InputError, match="not a registration network"):
        acr.load_model("jsrt-ae", kind="registration")
    with pytest.raises(InputError, match="model not found.*bundled model: cxr, jsrt,"):
        acr.load_model("no-such-model")


def test_a_folder_that_shares_a_bundled_name_is_not_taken_for_a_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "montgomery").mkdir()  # a data folder, not a model
    assert acr.load_model("montgomery").bundled == "montgomery"
    moving, fixed, _ = write_pair(tmp_path, "uint8")
    result = CliRunner().invoke(main, ["register", str(moving), str(fixed), "--model", "montgomery", "-o", "out",
                                       "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"] == str(data_dir() / "models" / "montgomery")


def test_a_bare_bundled_name_is_the_bundled_model_and_a_path_the_local_one(tmp_path, monkeypatch):
    """Issue 36, item 28: a ./jsrt folder in the working directory replaced the default model."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(data_dir() / "models" / "shenzhen", tmp_path / "jsrt")
    assert acr.load_model("jsrt").bundled == "jsrt"
    assert acr.load_model("./jsrt").description["dataset"] == "shenzhen"
    moving, fixed, _ = write_pair(tmp_path, "uint8")
    for extra, expected in (([], data_dir() / "models" / "jsrt"), (["--model", "./jsrt"], Path("jsrt"))):
        result = CliRunner().invoke(main, ["register", str(moving), str(fixed), "-o", f"out{len(extra)}", "--json",
                                           *extra])
        assert result.exit_code == 0, result.output
        assert "WARNING" not in result.output
        assert Path(json.loads(result.output)["model"]).resolve() == expected.resolve()


@pytest.mark.slow
def test_train_reg_takes_a_bundled_autoencoder_name(tmp_path, synthetic_dataset):
    root, config = synthetic_dataset
    # jsrt-ae has 4 classes like the synthetic set; the run must find it by name.
    result = CliRunner().invoke(main, ["train-reg", "--dataset", str(config), "--data-dir", str(root),
                                       "--ae-run", "jsrt-ae", "--iterations", "2", "--batch-size", "2",
                                       "--quiet", "-o", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "run" / "model.json").read_text())
    assert recorded["ae_run"].endswith("jsrt-ae")
