"""Training writes TensorBoard summaries beside log.csv: each loss term, and a sample image."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main


def events(run_dir):
    """(tag, step, value or image shape) of every summary in the run's TensorBoard folder."""
    import tensorflow as tf

    found = []
    for path in sorted((run_dir / "tensorboard").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                if value.tag == "sample":
                    image = tf.io.decode_png(tensor[2]).numpy()
                    found.append((value.tag, event.step, image.shape))
                else:
                    found.append((value.tag, event.step, float(tensor)))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train-reg", "train-ae"])
def test_training_writes_loss_terms_and_a_sample_image(synthetic_dataset, tmp_path, command):
    root, config = synthetic_dataset
    run_dir = tmp_path / "run"
    extra = ["--variant", "regnet"] if command == "train-reg" else []
    result = CliRunner().invoke(main, [command, "--dataset", str(config), "--data-dir", str(root), *extra,
                                       "--batch-size", "4", "--iterations", "6", "--log-every", "3", "--quiet",
                                       "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    found = events(run_dir)
    log = pd.read_csv(run_dir / "log.csv")
    terms = [c for c in log.columns if c not in ("iteration", "seconds")]
    for term in terms:
        logged = {step: value for tag, step, value in found if tag == f"loss/{term}"}
        assert sorted(logged) == [3, 6]
        assert np.allclose([logged[3], logged[6]], log[term], rtol=1e-5)
    samples = [(step, shape) for tag, step, shape in found if tag == "sample"]
    height = 64
    width = 3 * height if command == "train-reg" else 2 * height
    assert samples and samples[-1] == (6, (height, width, 1))
