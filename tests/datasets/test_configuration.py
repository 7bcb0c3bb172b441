"""Configuration files: shipped datasets, user datasets, validation of keys and types."""

import pytest

from acregnet_cli.datasets.config import (
    available_datasets,
    load_dataset_config,
    load_training_settings,
    merge_settings,
)
from acregnet_cli.datasets.layout import relabel
from acregnet_cli.errors import InputError


def test_shipped_datasets_load_with_their_labels_and_spacing():
    assert set(available_datasets()) >= {"jsrt", "montgomery", "shenzhen"}
    jsrt = load_dataset_config("jsrt")
    assert jsrt.num_classes == 4 and jsrt.label_values == (0, 1, 2, 3)
    assert jsrt.spacing(256) == pytest.approx(1.4)
    montgomery = load_dataset_config("Montgomery")
    assert montgomery.label_values == (0, 255)
    assert montgomery.spacing(256) == pytest.approx(4892 * 0.0875 / 256)
    assert load_dataset_config("shenzhen").distance_unit == "px"


def test_training_defaults_are_the_papers():
    reg = load_training_settings("train_reg")
    assert (reg["batch_size"], reg["iterations"], reg["learning_rate"]) == (32, 18000, 1e-3)
    assert (reg["lambda_r"], reg["lambda_ce"], reg["lambda_ae"]) == (5e-5, 1.0, 0.1)
    ae = load_training_settings("train_ae")
    assert (ae["batch_size"], ae["code_size"], ae["swap_probability"]) == (16, 32, 0.1)


def test_user_dataset_is_one_toml_file(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\ndirectory = "data/Mine"\nlabel_values = [0, 128]\nclass_names = ["bg", "lungs"]\n')
    config = load_dataset_config(path)
    assert config.name == "mine" and config.num_classes == 2


@pytest.mark.parametrize("text,message", [
    ('name = "x"\ndirectory = "d"\nlabel_value = [0, 1]\n', "unknown key"),
    ('name = "x"\ndirectory = "d"\nstandard_pixels = "many"\n', "must be int"),
    ('name = "x"\ndirectory = "d"\nlabel_values = [0, 0]\nclass_names = ["a", "b"]\n', "distinct"),
    ('directory = "d"\n', "missing required key 'name'"),
    ('name = "x\n', "not valid TOML"),
])
def test_bad_dataset_files_name_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        load_dataset_config(path)
    assert str(path) in str(info.value)


def test_training_overrides_are_type_checked(tmp_path):
    path = tmp_path / "train.toml"
    path.write_text("iterations = 10\nlearning_rate = 1\n")
    settings = load_training_settings("train_reg", path)
    assert settings["iterations"] == 10 and settings["learning_rate"] == 1.0
    path.write_text("iterations = 1.5\n")
    with pytest.raises(InputError, match="iterations"):
        load_training_settings("train_reg", path)
    with pytest.raises(InputError, match="unknown key"):
        merge_settings({"a": 1}, {"b": 2}, "here")


def test_unknown_dataset_name_lists_the_choices():
    with pytest.raises(InputError, match="jsrt"):
        load_dataset_config("chestxray14")


def test_relabel_maps_values_to_consecutive_classes_and_rejects_others():
    import numpy as np

    labels = np.array([[0, 255], [255, 0]])
    np.testing.assert_array_equal(relabel(labels, (0, 255)), [[0, 1], [1, 0]])
    with pytest.raises(InputError, match="128"):
        relabel(np.array([[0, 128]]), (0, 255), "mask.png")
