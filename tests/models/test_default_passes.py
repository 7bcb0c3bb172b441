"""A model may name the passes it is meant to be used with (model.json ``passes``): register,
evaluate and the API use them when the caller names none, and an explicit value wins."""

import json
import shutil

import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError


@pytest.fixture()
def two_pass_model(tmp_path):
    from acregnet_cli.models import load_model

    bundled = load_model("jsrt")
    folder = tmp_path / "two-pass"
    shutil.copytree(bundled.path, folder)
    description = json.loads((folder / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(dict(description, passes=2)))
    return folder


def test_register_uses_the_models_passes_unless_told(two_pass_model, tmp_path):
    from conftest import write_phantom_pair

    moving, fixed, _ = write_phantom_pair(tmp_path, seed=3)
    default = CliRunner().invoke(main, ["register", str(moving), str(fixed), "--model", str(two_pass_model),
                                        "-o", str(tmp_path / "a"), "--json"])
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout)["passes"] == 2
    told = CliRunner().invoke(main, ["register", str(moving), str(fixed), "--model", str(two_pass_model),
                                     "--passes", "1", "-o", str(tmp_path / "b"), "--json"])
    assert json.loads(told.stdout)["passes"] == 1
    from acregnet_cli.models import load_model

    bundled = CliRunner().invoke(main, ["register", str(moving), str(fixed), "-o", str(tmp_path / "c"), "--json"])
    assert json.loads(bundled.stdout)["passes"] == load_model("jsrt").passes
    paper = CliRunner().invoke(main, ["register", str(moving), str(fixed), "--model", "jsrt-paper",
                                      "-o", str(tmp_path / "d"), "--json"])
    assert json.loads(paper.stdout)["passes"] == 1


def test_evaluate_methods_and_the_api_take_the_models_passes(two_pass_model):
    from acregnet_cli.evaluation.methods import parse_method
    from acregnet_cli.registration import make_registrar

    assert parse_method(f"new={two_pass_model}").passes == 2
    assert parse_method(f"new={two_pass_model},passes=3").passes == 3
    assert parse_method("paper=jsrt-paper").passes == 1
    assert make_registrar(two_pass_model).passes == 2


@pytest.mark.parametrize("bad", [0, 17, "two"])
def test_a_bad_passes_in_model_json_is_refused(two_pass_model, bad):
    from acregnet_cli.models import load_model

    description = json.loads((two_pass_model / "model.json").read_text())
    (two_pass_model / "model.json").write_text(json.dumps(dict(description, passes=bad)))
    with pytest.raises(InputError, match="passes"):
        load_model(two_pass_model)
