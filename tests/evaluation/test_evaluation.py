"""The evaluation protocol: metrics, pairs, statistics, outputs, resume, elastix."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from acregnet_cli.cli import main
from acregnet_cli.datasets.config import load_dataset_config
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import (
    Method,
    draw_pairs,
    evaluate,
    p_value_matrix,
    parse_method,
    parse_methods,
    wilcoxon_tests,
)
from acregnet_cli.metrics import (
    average_surface_distance,
    dice,
    hausdorff,
    label_map_metrics,
)

ELASTIX_QUICK = {"MaximumNumberOfIterations": 10}
# ITK's SWIG wrappers warn on import under Python 3.12-style deprecation checks.
pytestmark = pytest.mark.filterwarnings("ignore:builtin type swig:DeprecationWarning")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# --------------------------------------------------------------------------- metrics


def squares(shift=4):
    a = np.zeros((32, 32), bool)
    b = np.zeros((32, 32), bool)
    a[10:20, 10:20] = True
    b[10:20, 10 + shift:20 + shift] = True
    return a, b


def test_two_squares_four_pixels_apart():
    a, b = squares(4)
    # Overlap 10 x 6 of two 10 x 10 squares.
    assert dice(a, b) == pytest.approx(120 / 200)
    # The farthest border point is 4 pixels from the other border (left / right sides).
    assert hausdorff(a, b, 1.4) == pytest.approx(4 * 1.4)
    # Border of each square: 36 pixels; distances to the other border sum to 72
    # (top and bottom rows 1+2+3+4 each, left side 8 x 4, right side 1+2+3+4+4+3+2+1).
    assert average_surface_distance(a, b, 1.4) == pytest.approx(72 / 36 * 1.4)
    assert average_surface_distance(a, b) == pytest.approx(2.0)


def test_spacing_per_axis_and_lines():
    a = np.zeros((10, 12), bool)
    b = np.zeros((10, 12), bool)
    a[:, 2] = True
    b[:, 5] = True  # every point 3 columns from the other line
    assert dice(a, b) == 0.0
    assert hausdorff(a, b, (2.0, 0.5)) == pytest.approx(1.5)
    assert average_surface_distance(a, b, (2.0, 0.5)) == pytest.approx(1.5)
    assert hausdorff(a, a, 3.0) == 0.0


def test_empty_masks():
    empty = np.zeros((8, 8), bool)
    full = np.zeros((8, 8), bool)
    full[2:5, 2:5] = True
    assert (dice(empty, empty), hausdorff(empty, empty), average_surface_distance(empty, empty)) == (1.0, 0.0, 0.0)
    assert dice(full, empty) == 0.0
    assert math.isnan(hausdorff(full, empty)) and math.isnan(average_surface_distance(empty, full))


def test_label_map_metrics_per_class_and_average():
    a, b = squares(4)
    result = np.zeros((32, 32), int)
    reference = np.zeros((32, 32), int)
    result[a] = 1
    reference[b] = 1
    result[25:28, 25:28] = 2
    reference[25:28, 25:28] = 2
    per_class, average = label_map_metrics(result, reference, num_classes=4, spacing=1.4)
    np.testing.assert_allclose(per_class["dsc"], [0.6, 1.0, 1.0])  # class 3 absent from both: agreement
    np.testing.assert_allclose(per_class["hd"], [5.6, 0.0, 0.0])
    np.testing.assert_allclose(per_class["assd"], [2.8, 0.0, 0.0])
    assert average["dsc"] == pytest.approx(2.6 / 3)
    assert average["hd"] == pytest.approx(5.6 / 3)
    result[result == 2] = 0  # class 2 lost: distances undefined, so is their average
    per_class, average = label_map_metrics(result, reference, num_classes=4, spacing=1.4)
    assert per_class["dsc"][1] == 0.0 and math.isnan(per_class["hd"][1]) and math.isnan(average["assd"])


# --------------------------------------------------------------------------- pairs and statistics


def test_draw_pairs_is_the_random_state_recipe():
    moving, fixed = draw_pairs(50, seed=0)
    rs = np.random.RandomState(0)
    np.testing.assert_array_equal(moving, rs.choice(50, 100))
    np.testing.assert_array_equal(fixed, rs.choice(50, 100))
    again = draw_pairs(50, seed=0)
    np.testing.assert_array_equal(again[0], moving)
    np.testing.assert_array_equal(again[1], fixed)
    other = draw_pairs(50, seed=1)
    assert not np.array_equal(other[0], moving)
    assert moving.shape == fixed.shape == (100,) and moving.min() >= 0 and moving.max() < 50


def test_wilcoxon_and_bonferroni_match_scipy():
    rng = np.random.RandomState(3)
    base = rng.uniform(0.7, 0.9, 15)
    values = {"a": base, "b": base + rng.normal(0.05, 0.02, 15), "c": base + rng.normal(0.0, 0.03, 15)}
    columns = pd.MultiIndex.from_tuples([(m, k) for m in ("dsc", "hd", "assd") for k in values])
    wide = pd.DataFrame({(m, k): (v if m == "dsc" else 100 * (1 - v)) for m in ("dsc", "hd", "assd")
                         for k, v in values.items()}, columns=columns)
    tests = wilcoxon_tests(wide, ["a", "b", "c"])
    assert len(tests) == 9 and set(tests["comparisons"]) == {3}
    for row in tests.itertuples():
        expected = stats.wilcoxon(wide[(row.metric, row.method_a)], wide[(row.metric, row.method_b)])
        assert row.p == pytest.approx(expected.pvalue)
        assert row.statistic == pytest.approx(expected.statistic)
        assert row.p_bonferroni == pytest.approx(min(1.0, 3 * expected.pvalue))
    matrix = p_value_matrix(tests, "dsc", ["a", "b", "c"])
    assert matrix.loc["a", "b"] == matrix.loc["b", "a"] == tests.iloc[0].p_bonferroni
    assert np.isnan(matrix.loc["a", "a"])
    # identical methods: no difference, p = 1
    same = wilcoxon_tests(wide[[("dsc", "a"), ("hd", "a"), ("assd", "a")]].rename(columns={"a": "x"}).join(
        wide[[("dsc", "a"), ("hd", "a"), ("assd", "a")]].rename(columns={"a": "y"})), ["x", "y"])
    assert list(same["p"]) == [1.0, 1.0, 1.0]


def test_method_specs_are_validated(tmp_path):
    assert parse_method("identity") == Method("identity", "identity")
    for bad in ("runs/x", "=runs/x", "bad name=runs/x", "identity=runs/x"):
        with pytest.raises(InputError):
            parse_method(bad)
    with pytest.raises(InputError, match="not found"):
        parse_method(f"net={tmp_path / 'missing'}")
    with pytest.raises(InputError, match="model.json"):
        parse_method(f"net={tmp_path}")
    with pytest.raises(InputError, match="twice"):
        parse_methods(["identity", "identity"])


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def synthetic_256(synthetic_dataset_256):
    """A synthetic dataset at 64 (training) and 256 pixels (evaluation): 4 test images, 8 pairs."""
    return synthetic_dataset_256


@pytest.fixture(scope="module")
def tiny_model(synthetic_256, tmp_path_factory):
    from acregnet_cli.datasets.config import load_training_settings
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.training import train_registration

    root, toml = synthetic_256
    config = load_dataset_config(toml)
    settings = load_training_settings("train_reg", iterations=3, batch_size=4, log_every=1, checkpoint_every=3)
    run_dir = tmp_path_factory.mktemp("runs") / "regnet"
    train_registration(load_split(config, root, "train", 64), config.num_classes, settings, "regnet", run_dir,
                       progress=False)
    return run_dir


def _markdown_rows(text):
    lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return header, [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:len(lines)]]


@pytest.mark.slow
def test_evaluate_end_to_end_and_resume(synthetic_256, tiny_model, tmp_path):
    root, toml = synthetic_256
    out = tmp_path / "eval"
    result = run("evaluate", "--dataset", toml, "--data-dir", root, "--method", "identity",
                 "--method", f"net={tiny_model}", "-o", out, "--figure-pairs", 2, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["pairs"] == 8 and summary["methods"] == ["identity", "net"]
    assert summary["timing"]["net"]["computed_pairs"] == 8
    assert summary["timing"]["net"]["seconds_per_pair"] > 0
    assert summary["wilcoxon"]["comparisons_per_metric"] == 1
    for name in summary["files"]:
        assert (out / name).is_file(), name

    # pairs.csv: 8 pairs x 2 methods x (3 classes + average)
    table = pd.read_csv(out / "pairs.csv")
    assert list(table.columns) == ["pair", "moving", "fixed", "method", "class", "dsc", "hd", "assd", "folded"]
    assert len(table) == 8 * 2 * 4
    assert set(table["class"]) == {"left lung", "right lung", "heart", "average"}
    # identity rows equal the metrics of the untouched masks
    config = load_dataset_config(toml)
    from acregnet_cli.datasets.layout import load_split

    split = load_split(config, root, "test", 256)
    moving, fixed = draw_pairs(len(split), 0)
    _, average = label_map_metrics(split.labels[moving[5]], split.labels[fixed[5]], 4, config.spacing(256))
    row = table[(table.method == "identity") & (table.pair == 5) & (table["class"] == "average")].iloc[0]
    assert row.moving == split.names[moving[5]]
    assert row.dsc == pytest.approx(average["dsc"], rel=1e-5) and row.hd == pytest.approx(average["hd"], rel=1e-5)
    # the folded column: none for identity; for the network, the share of its own field for that pair
    assert (table[table.method == "identity"]["folded"] == 0).all()
    from acregnet_cli.fields import folding_fraction
    from acregnet_cli.registration import make_registrar

    field = make_registrar(tiny_model).register(split.images[moving[5]], split.images[fixed[5]]).field
    net = table[(table.method == "net") & (table.pair == 5)]["folded"]
    assert net.nunique() == 1 and net.iloc[0] == pytest.approx(folding_fraction(field), abs=1e-6)
    assert summary["summary"]["net"]["folded_measured"] == 8
    assert "Folded % (pairs)" in (out / "summary.md").read_text()

    # summary.csv and summary.md agree with pairs.csv
    means = pd.read_csv(out / "summary.csv").set_index("method")
    averages = table[table["class"] == "average"].groupby("method")["dsc"]
    assert means.loc["identity", "dsc_mean"] == pytest.approx(averages.mean()["identity"], rel=1e-5)
    assert means.loc["net", "dsc_std"] == pytest.approx(averages.std(ddof=0)["net"], rel=1e-4)
    header, rows = _markdown_rows((out / "summary.md").read_text())
    assert header[:4] == ["Method", "DSC", "HD (mm)", "ASSD (mm)"]
    assert rows[0][0] == "identity" and rows[0][1] == f"{means.loc['identity', 'dsc_mean']:.3f} " \
                                                      f"({means.loc['identity', 'dsc_std']:.3f})"
    assert "\\begin{tabular}" in (out / "summary.tex").read_text()
    assert pd.read_csv(out / "wilcoxon_dsc.csv", index_col=0).shape == (2, 2)

    # a rerun computes nothing
    again = run("evaluate", "--dataset", toml, "--data-dir", root, "--method", "identity",
                "--method", f"net={tiny_model}", "-o", out, "--figure-pairs", 2, "--json", "--quiet")
    assert again.exit_code == 0, again.output
    timing = json.loads(again.stdout)["timing"]
    assert timing["net"]["computed_pairs"] == 0 and timing["identity"]["computed_pairs"] == 0
    assert json.loads(again.stdout)["summary"] == summary["summary"]

    # an interrupted run (3 pairs missing, a torn last line) resumes with those pairs only
    cache = out / "cache" / "net.jsonl"
    lines = cache.read_text().splitlines(keepends=True)
    cache.write_text("".join(lines[:5]) + lines[5][:20])
    resumed = evaluate(config, root, [Method("net", "model", tiny_model)], out, figure_pairs=2)
    assert resumed["timing"]["net"]["computed_pairs"] == 3
    assert resumed["summary"]["net"] == pytest.approx(summary["summary"]["net"], rel=1e-4)
    assert len(cache.read_text().splitlines()) == 8

    # another seed or another model under the same name is refused, not mixed
    refused = run("evaluate", "--dataset", toml, "--data-dir", root, "--method", "identity", "-o", out, "--seed", 1)
    assert refused.exit_code == 2 and "seed" in refused.output
    other = tmp_path / "other.weights.h5"
    other.write_bytes((tiny_model / "vector_cnn.weights.h5").read_bytes())
    import h5py

    with h5py.File(other, "r+") as handle:  # other weights (bytes alone do not count: see method_fingerprint)
        names = []
        handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        handle[names[0]][...] = handle[names[0]][()] + 0.5
    (tmp_path / "model.json").write_text((tiny_model / "model.json").read_text())
    refused = run("evaluate", "--dataset", toml, "--data-dir", root, "--method", f"net={other}", "-o", out)
    assert refused.exit_code == 2 and "another model" in refused.output


@pytest.mark.slow
def test_sharded_evaluate_merges_to_the_unsharded_tables(synthetic_256, tiny_model, tmp_path):
    root, toml = synthetic_256
    common = ["evaluate", "--dataset", toml, "--data-dir", root, "--method", "identity",
              "--method", f"net={tiny_model}", "--figure-pairs", 2, "--quiet"]
    whole = run(*common, "-o", tmp_path / "whole", "--json")
    assert whole.exit_code == 0, whole.output
    out = tmp_path / "sharded"
    first = run(*common, "-o", out, "--shard", "0/3", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["timing"]["net"]["computed_pairs"] == 3  # pairs 0, 3, 6 of 8
    assert not (out / "summary.md").exists() and (out / "shard-0-of-3.json").is_file()
    # The merge step refuses while a shard is missing, and names what is missing.
    refused = run(*common, "-o", out, "--merge-only")
    assert refused.exit_code == 2 and "shards unfinished" in refused.output and "net: 5 pairs missing (1, 2, 4, 5, 7)" in refused.output
    for shard in ("1/3", "2/3"):
        assert run(*common, "-o", out, "--shard", shard).exit_code == 0
    rerun = run(*common, "-o", out, "--shard", "1/3", "--json")
    assert json.loads(rerun.stdout)["timing"]["net"]["computed_pairs"] == 0  # finished shards are skipped
    merged = run(*common, "-o", out, "--merge-only", "--json")
    assert merged.exit_code == 0, merged.output
    summary = json.loads(merged.stdout)
    assert summary["timing"]["net"]["computed_pairs"] == 0
    for name, expected in json.loads(whole.stdout)["summary"].items():
        assert summary["summary"][name] == pytest.approx(expected, rel=1e-5)
    pd.testing.assert_frame_equal(pd.read_csv(out / "pairs.csv"), pd.read_csv(tmp_path / "whole" / "pairs.csv"),
                                  rtol=1e-5)
    assert run(*common, "-o", out, "--shard", "3/3").exit_code == 2


def test_pairs_limit_and_input_errors(synthetic_256, tmp_path):
    root, toml = synthetic_256
    out = tmp_path / "eval"
    result = run("evaluate", "--dataset", toml, "--data-dir", root, "--method", "identity", "-o", out,
                 "--pairs-limit", 3, "--figure-pairs", 0, "--json", "--quiet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["pairs"] == 3
    assert not (out / "figure_pairs.png").exists()
    full = evaluate(load_dataset_config(toml), root, [Method("identity", "identity")], out, figure_pairs=0)
    assert full["pairs"] == 8 and full["timing"]["identity"]["computed_pairs"] == 5
    for args, message in ((["--method", "regnet"], "NAME=RUN"), (["--method", f"x={tmp_path}/none"], "not found"),
                          (["--method", "identity", "--jobs", 0], "--jobs")):
        bad = run("evaluate", "--dataset", toml, "--data-dir", root, "-o", tmp_path / "bad", *args)
        assert bad.exit_code == 2 and message in bad.output, bad.output
        assert bad.output.startswith("acregnet: error:")
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_elastix_in_parallel_workers_is_cached(synthetic_256, tmp_path):
    root, toml = synthetic_256
    config = load_dataset_config(toml)
    out = tmp_path / "eval"
    methods = [Method("identity", "identity"), Method("elastix", "elastix")]
    first = evaluate(config, root, methods, out, jobs=2, pairs_limit=2, figure_pairs=1,
                     elastix_overrides=ELASTIX_QUICK)
    assert first["timing"]["elastix"]["computed_pairs"] == 2 and first["timing"]["elastix"]["jobs"] == 2
    cached = list((out / "elastix").glob("*/*.npz"))
    assert 1 <= len(cached) <= 2
    (out / "cache" / "elastix.jsonl").unlink()  # the metrics are recomputed from the cached registrations
    second = evaluate(config, root, methods, out, jobs=2, pairs_limit=2, figure_pairs=1,
                      elastix_overrides=ELASTIX_QUICK)
    assert second["summary"]["elastix"] == pytest.approx(first["summary"]["elastix"])
    assert second["timing"]["elastix"]["wall_seconds"] < 5
    # other elastix parameters are another method configuration: not mixed
    with pytest.raises(InputError, match="elastix"):
        evaluate(config, root, methods, out, pairs_limit=2, elastix_overrides={"MaximumNumberOfIterations": 11})


# --------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_elastix_improves_dice_on_a_real_jsrt_pair(data_root):
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.evaluation.elastix import register_pair

    config = load_dataset_config("jsrt")
    split = load_split(config, data_root, "test", 256)
    moving, fixed = draw_pairs(len(split), 0)
    m, f = moving[2], fixed[2]  # JPCLN068 onto JPCLN139: Dice 0.815 before, 0.946 with the full settings
    # Fewer iterations than the shipped 1000 per resolution keep the test short (about 0.94 then).
    warped, warped_labels, seconds = register_pair(split.images[m], split.images[f], split.labels[m],
                                                   config.num_classes, overrides={"MaximumNumberOfIterations": 100})
    assert warped.shape == (256, 256) and 0 <= warped.min() and warped.max() <= 1
    assert set(np.unique(warped_labels)) <= {0, 1, 2, 3}
    _, before = label_map_metrics(split.labels[m], split.labels[f], 4, config.spacing(256))
    _, after = label_map_metrics(warped_labels, split.labels[f], 4, config.spacing(256))
    assert split.names[m] == "JPCLN068" and split.names[f] == "JPCLN139"
    assert after["dsc"] > before["dsc"] + 0.05
    assert after["assd"] < before["assd"] and after["hd"] < before["hd"]


_SLOW_WORKERS = '''
import os, sys, time
from pathlib import Path

import numpy as np

from acregnet_cli.evaluation.elastix import ElastixRunner


def slow(cache_path, *args):
    Path(sys.argv[1], f"worker-{os.getpid()}").write_text("")
    time.sleep(300)  # as a worker deep inside elastix: no signal reaches it


class Slow(ElastixRunner):
    job = staticmethod(slow)


if __name__ == "__main__":
    image = np.zeros((8, 8), np.float32)
    try:
        for _ in Slow(Path(sys.argv[1], "cache"), 2, jobs=2).run([(f"k{i}", image, image, None) for i in range(4)]):
            pass
    except KeyboardInterrupt:
        sys.exit(130)
'''


@pytest.mark.slow
def test_ctrl_c_stops_elastix_workers_within_a_second(tmp_path):
    """Issue 36, item 6: Ctrl-C took about 80 s to act while elastix workers finished their pairs."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "slow_workers.py"
    script.write_text(_SLOW_WORKERS)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(path.name.split("-")[1]) for path in tmp_path.glob("worker-*")]
    assert len(workers) == 2, "the workers did not start"
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 130
    assert time.monotonic() - began < 1.5
    time.sleep(0.2)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # reaped: no worker goes on registering after the run ended
