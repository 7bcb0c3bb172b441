"""The results scripts that read `acregnet evaluate` folders, on folders with known answers."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from acregnet_cli.evaluation import METRICS, averages, summarize, wilcoxon_tests

# Training runs, subprocesses or real-data sweeps: outside the quick subset.
pytestmark = pytest.mark.slow

RESULTS = Path(__file__).resolve().parents[2] / "experiments"


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, RESULTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_evaluation(folder, dice):
    """An evaluate folder (pairs.csv, summary.csv, wilcoxon.csv) from per-method Dice lists.

    HD and ASSD fall as Dice rises (100 (1 - DSC) and 10 (1 - DSC)), so a better
    method is better on every metric.
    """
    rows = []
    for method, values in dice.items():
        for pair, value in enumerate(values):
            for label in ("lungs", "average"):
                rows.append({"pair": pair, "moving": f"m{pair}", "fixed": f"f{pair}", "method": method,
                             "class": label, "dsc": value, "hd": 100 * (1 - value), "assd": 10 * (1 - value)})
    table = pd.DataFrame(rows)
    methods = list(dice)
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "pairs.csv", index=False)
    summarize(table, methods).to_csv(folder / "summary.csv", index=False)
    wilcoxon_tests(averages(table), methods).to_csv(folder / "wilcoxon.csv", index=False)


@pytest.fixture
def seeded_folder(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.uniform(0.90, 0.94, 30)
    jitter = rng.uniform(-1e-4, 1e-4, (4, 30))
    # Seed 0: AC equals AE up to jitter; seed 1: AC 0.02 better than AE, and AE 0.01 worse than seed 0.
    folder = tmp_path / "seed-study"
    write_evaluation(folder, {"ac-regnet": base + jitter[0], "ae-regnet": base + jitter[1],
                              "ac-regnet-seed1": base + 0.01 + jitter[2], "ae-regnet-seed1": base - 0.01 + jitter[3]})
    return folder


def test_seed_study_parses_method_names():
    study = load_script("seed_study")
    assert study.parse_method("ac-regnet") == ("ac-regnet", 0)
    assert study.parse_method("ae-regnet-seed12") == ("ae-regnet", 12)
    assert study.parse_method("elastix") is None
    assert study.parse_method("ac-regnet-2pass") is None


def test_seed_study_known_differences(seeded_folder):
    study = load_script("seed_study")
    result = study.seed_study(seeded_folder)
    methods, spread, ac_ae, shared, pooled = result
    assert [row[0] for row in methods] == ["ac-regnet", "ac-regnet-seed1", "ae-regnet", "ae-regnet-seed1"]
    spread = {(variant, seed): cells for variant, seed, cells in spread}
    assert spread[("ac-regnet", 1)][0][0] == pytest.approx(0.01, abs=1e-4)
    assert spread[("ae-regnet", 1)][0][0] == pytest.approx(-0.01, abs=1e-4)
    assert spread[("ae-regnet", 1)][1][0] == pytest.approx(1.0, abs=1e-2)  # HD = 100 (1 - DSC)
    assert shared == [0, 1]
    ac_ae = dict(ac_ae)
    assert ac_ae[0][0][0] == pytest.approx(0.0, abs=1e-4)
    assert ac_ae[0][0][1] > 0.05  # equal methods: not significant
    assert ac_ae[1][0][0] == pytest.approx(0.02, abs=1e-4)
    assert ac_ae[1][0][1] < 1e-3
    dsc = {metric: (ac, ae, p) for metric, ac, ae, p in pooled}["dsc"]
    assert dsc[0] - dsc[1] == pytest.approx(0.01, abs=1e-4)
    assert dsc[2] < 1e-3
    text = study.render(seeded_folder, *result)
    assert "| ae-regnet | 1 | -0.01" in text


def test_seed_study_without_two_seeds_has_no_pooled_test(tmp_path):
    study = load_script("seed_study")
    folder = tmp_path / "one-seed"
    base = np.linspace(0.9, 0.95, 12)
    write_evaluation(folder, {"ac-regnet": base, "ae-regnet": base - 0.005})
    methods, spread, ac_ae, shared, pooled = study.seed_study(folder)
    assert spread == [] and pooled == [] and shared == [0]


def test_ordering_holds_and_fails(tmp_path):
    ordering = load_script("ordering")
    base = np.random.default_rng(1).uniform(0.85, 0.90, 30)
    folder = tmp_path / "evaluation"
    # AC = AE (jitter only), AE > CE > RegNet by clear margins.
    jitter = np.random.default_rng(2).uniform(-1e-4, 1e-4, (2, 30))
    write_evaluation(folder, {"ac-regnet": base + 0.05 + jitter[0], "ae-regnet": base + 0.05 + jitter[1],
                              "ce-regnet": base + 0.03, "regnet": base})
    present, rows = ordering.ordering_table(folder)
    assert present == ordering.ORDER
    holds = {(better, metric): ok for better, worse, metric, a, b, p, ok in rows}
    assert not any(holds[("ac-regnet", m)] for m in METRICS)
    assert all(holds[(v, m)] for v in ("ae-regnet", "ce-regnet") for m in METRICS)


@pytest.fixture
def stub_acregnet(tmp_path):
    """A stand-in `acregnet` on PATH that logs each call and, for a training, writes what a
    finished run holds (summary.json, weights), so train.sh's bookkeeping runs for real."""
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    stub = bin_dir / "acregnet"
    stub.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
while [ $# -gt 0 ]; do
  if [ "$1" = -o ]; then mkdir -p "$2"; echo '{{}}' > "$2/summary.json"; touch "$2/vector_cnn.weights.h5" \\
    "$2/encoder.weights.h5" "$2/decoder.weights.h5" "$2/config.toml"; fi
  shift
done
""")
    stub.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", RUNS=str(tmp_path / "runs"),
               RECORDS=str(tmp_path / "records"))
    return env, calls


def run_train_script(env, calls, **settings):
    import subprocess

    calls.unlink(missing_ok=True)
    result = subprocess.run(["bash", str(RESULTS / "train.sh"), "montgomery"], env=dict(env, **settings),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # Run directories are shown relative to RUNS.
    return [line.replace("--dataset montgomery ", "").replace(env["RUNS"] + "/", "")
            for line in (calls.read_text().splitlines() if calls.exists() else [])]


def test_train_script_names_each_kind_of_run_and_passes_its_options(stub_acregnet):
    env, calls = stub_acregnet
    ae = "data/models/montgomery-ae"
    assert run_train_script(env, calls, VARIANTS="regnet ac-regnet", AE_RUN=ae) == [
        "train-reg --variant regnet -o montgomery-regnet --quiet",
        f"train-reg --variant ac-regnet --ae-run {ae} -o montgomery-ac-regnet --quiet",
    ]
    assert run_train_script(env, calls, VARIANTS="ae-regnet", AE_RUN=ae, SEED="1") == [
        f"train-reg --variant ae-regnet --seed 1 --ae-run {ae} -o montgomery-ae-regnet-seed1 --quiet"]
    assert run_train_script(env, calls, VARIANTS="ac-regnet", AE_AUGMENT="5 0.1 0.05", LAMBDA_AE="0.33") == [
        "train-ae -o montgomery-ae-aug --augment-rotation 5 --augment-scale 0.1 --augment-shift 0.05 --quiet",
        "train-reg --variant ac-regnet --ae-run montgomery-ae-aug --lambda-ae 0.33 "
        "-o montgomery-ac-regnet-aeaug-lae0.33 --quiet",
    ]
    assert run_train_script(env, calls, VARIANTS="regnet", INTEGRATION_STEPS="7") == [
        "train-reg --variant regnet --integration-steps 7 -o montgomery-regnet-svf7 --quiet"]
    assert run_train_script(env, calls, VARIANTS="ac-regnet", AE_RUN=ae, LR_SCHEDULE="cosine") == [
        f"train-reg --variant ac-regnet --ae-run {ae} --lr-schedule cosine -o montgomery-ac-regnet-cosine --quiet"]
    # Finished runs are not trained again; their records (weights kept for all but the
    # plain AC-RegNet, which is bundled instead) sit under RECORDS.
    assert run_train_script(env, calls, VARIANTS="regnet ac-regnet", AE_RUN=ae) == []
    records = Path(env["RECORDS"]) / "montgomery" / "runs"
    assert (records / "montgomery-regnet-svf7" / "vector_cnn.weights.h5").is_file()
    assert (records / "montgomery-ac-regnet-cosine" / "vector_cnn.weights.h5").is_file()
    assert (records / "montgomery-ae-aug" / "encoder.weights.h5").is_file()
    assert not (records / "montgomery-ac-regnet" / "vector_cnn.weights.h5").exists()
    assert (records / "montgomery-ac-regnet" / "machine.txt").is_file()


def still_model(untrained_model, folder, **description):
    """A copy of ``untrained_model`` whose output layer is zeroed (its field is 0 everywhere,
    det 1), with ``description`` entries added to its model.json."""
    import json

    import h5py

    from acregnet_cli.architecture import VECTOR_CNN_LAYERS

    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({**json.loads((untrained_model / "model.json").read_text()),
                                                   **description}))
    weights = folder / "vector_cnn.weights.h5"
    weights.write_bytes((untrained_model / "vector_cnn.weights.h5").read_bytes())
    last = len(VECTOR_CNN_LAYERS) - 1  # conv_out, stored as conv2d_17 with its batch norm
    with h5py.File(weights, "r+") as handle:
        handle["layers"][f"conv2d_{last}"]["vars"]["0"][...] = 0
        handle["layers"][f"batch_normalization_{last}"]["vars"]["1"][...] = 0
    return folder


def test_field_regularity_of_a_network_that_predicts_no_motion(synthetic_dataset_256, untrained_model, tmp_path):
    root, config = synthetic_dataset_256
    still = still_model(untrained_model, tmp_path / "still")
    module = load_script("field_regularity")
    out = tmp_path / "out"
    assert module.main([str(config), "--data-dir", str(root), "--method", f"still={still}",
                        "--method", f"random={untrained_model}", "-o", str(out)]) == 0
    table = pd.read_csv(out / "regularity.csv")
    still_rows, random_rows = table[table.method == "still"], table[table.method == "random"]
    assert len(still_rows) == 8 == len(random_rows)  # 2n pairs of the 4 test images
    assert (still_rows.folding == 0).all() and np.allclose(still_rows.min_det, 1) and np.allclose(still_rows.std_det, 0)
    assert (random_rows.std_det > 0).all()
    text = (out / "regularity.md").read_text()
    assert "| still | 0.0000 | 0.0000 | 0 / 8 | - | 1.000 | 1.000 | 0.000 |" in text
    assert (random_rows.folded_in_mask <= random_rows.folded_pixels).all()

    assert module.main([str(config), "--data-dir", str(root), "--method", "identity", "-o", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_folding_sources_by_integration_steps(synthetic_dataset_256, untrained_model, tmp_path):
    import json
    import shutil

    from acregnet_cli.evaluation import draw_pairs
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar

    root, config = synthetic_dataset_256
    module = load_script("folding_sources")
    # The random network's output taken as a velocity (4 steps, added to those asked for);
    # 0 steps must give back the plain network's field.
    velocity = tmp_path / "velocity"
    shutil.copytree(untrained_model, velocity)
    description = json.loads((velocity / "model.json").read_text())
    (velocity / "model.json").write_text(json.dumps(dict(description, integration_steps=4)))
    out = tmp_path / "out"
    assert module.main([str(config), "--data-dir", str(root), "--model", str(velocity), "--steps", "8,0",
                        "-o", str(out)]) == 0
    table = pd.read_csv(out / "folding-sources.csv")
    assert list(table.groupby("steps").size().items()) == [(0, 8), (4, 8), (8, 8)]
    plain = make_registrar(untrained_model, RegistrationOptions(engine="numpy"))
    split = module.load_split(module.load_dataset_config(str(config)), root, "test", 256)
    moving, fixed = draw_pairs(len(split))
    expected = [plain.register(split.images[m], split.images[f]).folding_fraction for m, f in zip(moving, fixed)]
    assert np.allclose(table[table.steps == 0].folding_image, expected)
    assert "| 4 (trained) |" in (out / "folding-sources.md").read_text()
    assert table[table.steps == 0].folding_integrated_at_image.isna().all()

    # No motion: no folding at any step count, and the warped masks are the moving masks.
    still = still_model(untrained_model, tmp_path / "still", integration_steps=4)
    assert module.main([str(config), "--data-dir", str(root), "--model", str(still), "--steps", "4,8",
                        "-o", str(tmp_path / "still-out")]) == 0
    table = pd.read_csv(tmp_path / "still-out" / "folding-sources.csv")
    assert (table.folding_network == 0).all() and (table.folding_image == 0).all()
    assert np.allclose(table.min_det_image, 1)
    assert (table.folding_integrated_at_image == 0).all() and np.allclose(table.min_det_integrated_at_image, 1)
    identity = [module.dice(split.labels[m], split.labels[f]) for m, f in zip(moving, fixed)]
    assert np.allclose(table[table.steps == 4].dice, identity, atol=1e-6)

    # A displacement model, bad step counts: refused, nothing written.
    for model, steps in ((untrained_model, "0,7"), (velocity, "7,x"), (velocity, "65")):
        assert module.main([str(config), "--data-dir", str(root), "--model", str(model), "--steps", steps,
                            "-o", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()


def test_run_helpers_collect_finished_runs_and_evaluate(stub_acregnet, tmp_path):
    import subprocess

    env, calls = stub_acregnet
    runs = tmp_path / "records"
    for name, finished in (("montgomery-ac-regnet-cosine", True), ("montgomery-regnet-cosine", False),
                           ("montgomery-ac-regnet-seed1", True)):
        (runs / name).mkdir(parents=True)
        (runs / name / "vector_cnn.weights.h5").touch()
        if finished:
            (runs / name / "summary.json").write_text("{}")
    script = f"""set -euo pipefail
DATASET=montgomery
source {RESULTS / "runs.sh"}
methods=()
TWIN_PASSES=2 add_finished {runs}/montgomery-*-cosine
add_finished {runs}/montgomery-ac-regnet-seed1 {runs}/montgomery-ae-regnet-seed1
if add_finished {runs}/montgomery-regnet-cosine {runs}/missing; then echo "unfinished runs added"; exit 3; fi
mkdir -p {tmp_path}/out && echo "| table |" > {tmp_path}/out/summary.md
evaluate_methods {tmp_path}/out
"""
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "| table |\n"
    assert calls.read_text().split() == [
        "evaluate", "--dataset", "montgomery",
        "--method", f"ac-regnet-cosine={runs}/montgomery-ac-regnet-cosine",
        "--method", f"ac-regnet-cosine-2pass={runs}/montgomery-ac-regnet-cosine,passes=2",
        "--method", f"ac-regnet-seed1={runs}/montgomery-ac-regnet-seed1",
        "-o", f"{tmp_path}/out", "--quiet"]


def test_pair_sampling_recomputes_the_protocol_for_every_draw(synthetic_dataset_256, untrained_model, tmp_path):
    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.evaluation import draw_pairs, evaluate, parse_methods
    from acregnet_cli.metrics import label_map_metrics

    root, config = synthetic_dataset_256
    still = still_model(untrained_model, tmp_path / "still")
    module = load_script("pair_sampling")
    out = tmp_path / "out"
    assert module.main([str(config), "--data-dir", str(root), "--method", f"random={untrained_model}",
                        "--method", f"still={still}", "--method", "identity", "--draws", "12",
                        "--reference", "0,1e9,1e9", "-o", str(out)]) == 0
    draws = pd.read_csv(out / "draws.csv")
    pairs = pd.read_csv(out / "pairs.csv")
    assert list(draws.groupby("method", sort=False).size().items()) == [("random", 12), ("still", 12), ("identity", 12)]
    seen = {(m, f) for seed in range(12) for m, f in zip(*draw_pairs(4, seed))}
    assert len(pairs[pairs.method == "random"]) == len(seen) <= 16

    # Identity, by hand: each draw's mean of the moving vs fixed masks' metrics.
    dataset = load_dataset_config(str(config))
    split = module.load_split(dataset, root, "test", 256)
    spacing = dataset.spacing(256)
    identity = draws[draws.method == "identity"].set_index("draw")
    for seed in (0, 5, 11):
        values = [label_map_metrics(split.labels[m], split.labels[f], dataset.num_classes, spacing)[1]
                  for m, f in zip(*draw_pairs(4, seed))]
        for metric in METRICS:
            # draws.csv keeps 6 significant digits.
            assert identity.loc[seed, metric] == pytest.approx(np.mean([v[metric] for v in values]), rel=1e-5)
            assert identity.loc[seed, f"{metric}_std"] == pytest.approx(np.std([v[metric] for v in values]), rel=1e-5)
    # A network that predicts no motion scores as identity in every draw.
    still_draws = draws[draws.method == "still"].set_index("draw")
    for metric in METRICS:
        assert np.allclose(still_draws[metric], identity[metric], atol=1e-5)
    # Draw 0 is the published protocol: the means `acregnet evaluate` reports.
    summary = evaluate(dataset, root, parse_methods([f"random={untrained_model}"]), tmp_path / "evaluate",
                       figure_pairs=0)
    random0 = draws[(draws.method == "random") & (draws.draw == 0)].iloc[0]
    for metric in METRICS:
        assert random0[metric] == pytest.approx(summary["summary"]["random"][f"{metric}_mean"], rel=1e-5)
    text = (out / "pair-sampling.md").read_text()
    assert "| identity | HD |" in text and "100.0% (vs 1e+09) |" in text and "| random | DSC |" in text
    # The worst moving image (random network's pairs) and the draws without it.
    first = pairs[pairs.method == "random"]
    worst = first.groupby("moving").hd.mean().idxmax()
    expected = [int((draw_pairs(4, seed)[0] == worst).sum()) for seed in range(12)]
    assert draws[draws.method == "identity"].worst_moving_pairs.tolist() == expected
    assert f"without {split.names[worst]} as moving image" in text

    # Elastix (too slow for every pair), no draws, a malformed reference: refused, nothing written.
    for extra in (["--method", "elastix"], ["--method", "identity", "--draws", "0"],
                  ["--method", "identity", "--reference", "0.9,12"]):
        assert module.main([str(config), "--data-dir", str(root), *extra, "-o", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()


def _write_segmentation(folder, targets, dice):
    folder.mkdir(parents=True)
    pd.DataFrame({"target": targets, "dsc_mean": dice, "hd_mean": 100 * (1 - np.asarray(dice)),
                  "assd_mean": 10 * (1 - np.asarray(dice))}).to_csv(folder / "segmentation.csv", index=False)


def test_compare_segmentations_pairs_targets_by_name(tmp_path):
    module = load_script("compare_segmentations")
    rng = np.random.default_rng(0)
    dice = rng.uniform(0.90, 0.95, 20)
    targets = [f"t{i:02d}" for i in range(20)]
    # The second run lists its targets in reverse order, 0.01 better each, plus one extra target.
    _write_segmentation(tmp_path / "a", targets, dice)
    _write_segmentation(tmp_path / "b", targets[::-1] + ["extra"], list(dice[::-1] + 0.01) + [0.5])
    output = tmp_path / "out" / "comparison.md"
    module.main([f"none={tmp_path / 'a'}", f"affine={tmp_path / 'b'}", "-o", str(output)])
    means, tests, shared = module.compare({"none": module.read_segmentation(tmp_path / "a"),
                                           "affine": module.read_segmentation(tmp_path / "b")})
    assert shared == 20
    assert means.loc["affine", "dsc"] == pytest.approx(means.loc["none", "dsc"] + 0.01)
    assert means.loc["affine", "hd"] == pytest.approx(means.loc["none", "hd"] - 1.0)
    # Every target better: the smallest two-sided p of 20 pairs, times one comparison.
    assert (tests["p_bonferroni"] < 1e-4).all()
    text = output.read_text()
    assert "| dsc | none | affine | affine |" in text and "| hd | none | affine | affine |" in text
    assert "over 20 targets" in text


def test_compare_segmentations_refuses_bad_input(tmp_path):
    module = load_script("compare_segmentations")
    _write_segmentation(tmp_path / "a", ["t0", "t1"], [0.9, 0.8])
    _write_segmentation(tmp_path / "b", ["u0", "u1"], [0.9, 0.8])
    with pytest.raises(SystemExit, match="no target in common"):
        module.main([f"a={tmp_path / 'a'}", f"b={tmp_path / 'b'}", "-o", str(tmp_path / "x.md")])
    with pytest.raises(SystemExit, match="segmentation.csv: not found"):
        module.main([f"a={tmp_path / 'a'}", f"c={tmp_path / 'missing'}", "-o", str(tmp_path / "x.md")])
    with pytest.raises(SystemExit, match="expected NAME=FOLDER"):
        module.main([str(tmp_path / "a"), f"b={tmp_path / 'b'}", "-o", str(tmp_path / "x.md")])
    assert not (tmp_path / "x.md").exists()


def test_displacement_reach_of_a_still_and_a_random_network(synthetic_dataset_256, untrained_model, tmp_path):
    root, config = synthetic_dataset_256
    still = still_model(untrained_model, tmp_path / "still")
    module = load_script("displacement_reach")
    assert np.allclose(module.displacement_lengths(str(config), still, root), 0)
    moving = module.displacement_lengths(str(config), untrained_model, root)
    assert moving.shape == (8, 2) and (moving[:, 0] > 0).all() and (moving[:, 1] >= moving[:, 0]).all()
    output = tmp_path / "reach.md"
    module.main([str(config), str(still), "--data-dir", str(root), "-o", str(output)])
    assert f"| {still} | 0.00 | 0.00 |" in output.read_text()
