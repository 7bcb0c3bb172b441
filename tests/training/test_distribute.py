"""tf.distribute: mirrored over logical CPU devices and two workers on localhost train like one device."""

import csv
import json
import os
import socket
import subprocess
import sys

import pytest

# Training runs, subprocesses or real-data sweeps: outside the quick subset.
pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def train_command(root, config, run_dir, *extra):
    return [sys.executable, "-m", "acregnet_cli.cli", "train-reg", "--dataset", str(config), "--data-dir", str(root),
            "-o", str(run_dir), "--variant", "ce-regnet", "--batch-size", "8", "--log-every", "1",
            "--checkpoint-every", "3", "--config", str(run_dir.parent / "nodrop.toml"), "--quiet", "--json", *extra]


def losses(run_dir):
    with open(run_dir / "log.csv") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def assert_same_trajectory(got, expected):
    # Before any update the two must agree to rounding: split batch statistics would not.
    assert got[0] == pytest.approx(expected[0], rel=1e-5)
    # Afterwards rounding differences grow through Adam (whose first steps are sign-like
    # for tiny gradients) and through the single device's fused batch norm kernel, which
    # rounds differently from the synchronized Keras batch norm of the replicas.
    assert got == pytest.approx(expected, rel=5e-3)


@pytest.fixture()
def setup(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    (tmp_path / "nodrop.toml").write_text("dropout = 0.0\n")  # dropout is not seeded across replicas
    return root, config, tmp_path


def run_ok(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_mirrored_on_two_cpu_devices_follows_the_single_device_trajectory(setup):
    root, config, tmp = setup
    single = json.loads(run_ok(train_command(root, config, tmp / "single", "--iterations", "6")))
    mirrored = json.loads(run_ok(train_command(root, config, tmp / "mirrored", "--iterations", "6",
                                               "--strategy", "mirrored", "--cpu-devices", "2")))
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert_same_trajectory(losses(tmp / "mirrored"), losses(tmp / "single"))


def test_two_workers_on_localhost_train_resume_and_only_the_chief_writes(setup):
    root, config, tmp = setup
    run_ok(train_command(root, config, tmp / "single", "--iterations", "6"))
    ports = [free_port(), free_port()]

    def launch(iterations, *extra):
        processes = []
        for index in range(2):
            env = dict(os.environ, TF_CONFIG=json.dumps({
                "cluster": {"worker": [f"localhost:{port}" for port in ports]},
                "task": {"type": "worker", "index": index}}))
            processes.append(subprocess.Popen(
                train_command(root, config, tmp / "workers", "--iterations", str(iterations),
                              "--strategy", "multi-worker", *extra),
                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outputs = [p.communicate(timeout=600) for p in processes]
        for process, (_, err) in zip(processes, outputs):
            assert process.returncode == 0, err[-2000:]
        return [out for out, _ in outputs]

    chief_out, worker_out = launch(3)
    assert json.loads(chief_out)["replicas"] == 2 and worker_out.strip() == ""
    chief_out, _ = launch(6, "--resume")
    assert json.loads(chief_out)["resumed_from"] == 3
    assert (tmp / "workers" / "vector_cnn.weights.h5").exists()
    assert_same_trajectory(losses(tmp / "workers"), losses(tmp / "single"))
    assert sorted(p.name for p in (tmp / "workers").iterdir()) == [
        "checkpoints", "config.toml", "log.csv", "model.json", "summary.json", "tensorboard", "vector_cnn.weights.h5"]


def test_batch_must_split_over_replicas(setup):
    root, config, tmp = setup
    command = train_command(root, config, tmp / "odd", "--iterations", "2", "--strategy", "mirrored",
                            "--cpu-devices", "2")
    command[command.index("--batch-size") + 1] = "7"
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "does not split evenly over 2 replicas" in result.stderr
    assert not (tmp / "odd").exists()  # a failed start leaves nothing that would refuse the corrected command
