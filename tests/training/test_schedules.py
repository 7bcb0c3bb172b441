"""Learning-rate schedules (an extension): known values, validation, a run that uses one."""

import json
import math

import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError
from acregnet_cli.training import learning_rate_schedule


def rate(schedule, step):
    return float(schedule(step)) if callable(schedule) else float(schedule)


def test_constant_is_the_paper_rate():
    assert learning_rate_schedule({"learning_rate": 1e-3, "iterations": 100}) == 1e-3
    assert learning_rate_schedule({"learning_rate": 1e-3, "iterations": 100, "lr_schedule": "constant"}) == 1e-3


def test_cosine_runs_from_the_rate_to_its_fraction():
    schedule = learning_rate_schedule({"learning_rate": 1e-3, "iterations": 18000, "lr_schedule": "cosine",
                                       "final_lr_fraction": 0.1})
    assert rate(schedule, 0) == pytest.approx(1e-3)
    assert rate(schedule, 9000) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert rate(schedule, 4500) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert rate(schedule, 18000) == pytest.approx(1e-4)


def test_step_drops_once_at_two_thirds():
    schedule = learning_rate_schedule({"learning_rate": 1e-3, "iterations": 300, "lr_schedule": "step",
                                       "final_lr_fraction": 0.1})
    assert rate(schedule, 0) == pytest.approx(1e-3) and rate(schedule, 200) == pytest.approx(1e-3)
    assert rate(schedule, 201) == pytest.approx(1e-4) and rate(schedule, 300) == pytest.approx(1e-4)


@pytest.mark.parametrize("bad", [{"lr_schedule": "linear"}, {"lr_schedule": "cosine", "final_lr_fraction": 0.0},
                                 {"lr_schedule": "step", "final_lr_fraction": 1.5}])
def test_bad_schedule_settings_are_refused(bad):
    with pytest.raises(InputError):
        learning_rate_schedule(dict({"learning_rate": 1e-3, "iterations": 10}, **bad))


@pytest.mark.slow
def test_training_follows_the_schedule_and_refuses_bad_settings_before_writing(synthetic_dataset, tmp_path):
    import tensorflow as tf

    root, config = synthetic_dataset
    common = ["--dataset", str(config), "--data-dir", str(root), "--variant", "regnet", "--batch-size", "4",
              "--log-every", "2", "--checkpoint-every", "3", "--quiet"]
    run_dir = tmp_path / "cosine"
    result = CliRunner().invoke(main, ["train-reg", *common, "-o", str(run_dir), "--iterations", "6",
                                       "--lr-schedule", "cosine", "--json"])
    assert result.exit_code == 0, result.output
    assert 'lr_schedule = "cosine"' in (run_dir / "config.toml").read_text()
    # The optimizer's iteration count in the checkpoint drives the schedule on resume.
    reader = tf.train.load_checkpoint(str(run_dir / "checkpoints"))
    iterations = [reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
                  if k.startswith("optimizer/_iterations")]
    assert iterations and int(iterations[0]) == 6
    assert json.loads(result.output)["iterations"] == 6

    bad_config = tmp_path / "bad.toml"
    bad_config.write_text('lr_schedule = "cosine"\nfinal_lr_fraction = 2.0\n')
    refused = CliRunner().invoke(main, ["train-reg", *common, "-o", str(tmp_path / "bad"), "--iterations", "2",
                                        "--config", str(bad_config)])
    assert refused.exit_code == 2 and "final_lr_fraction" in refused.output
    assert not (tmp_path / "bad").exists()
