"""Speed benchmarks of acregnet on the machine it runs on (not part of the test suite).

Measures registration latency and throughput, training seconds per iteration, the
achieved floating-point rate of the VectorCNN against a matrix-multiply peak, and
optionally the elastix baseline; writes ``benchmarks/results/<host>.{md,csv}``.

Usage:
    python benchmarks/run_benchmarks.py [--model RUN] [--quick] [--elastix-pairs 2]

Needs ACREGNET_DATA for the real-data parts (JSRT); falls back to phantoms otherwise.
"""

import argparse
import csv
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def machine_description():
    import tensorflow as tf

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "tensorflow": tf.__version__, "gpus": [g.name for g in gpus] or "none"}


def timed(function, repeats, warmup=2):
    for _ in range(warmup):
        function()
    began = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - began) / repeats


def matmul_peak(size=2048, repeats=10):
    """Measured float32 matrix-multiply rate (FLOP/s): the practical peak of this machine."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    run = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    seconds = timed(lambda: run().numpy(), repeats)
    return 2 * size ** 3 / seconds


def vector_cnn_flops(size=64):
    """Multiply-adds x 2 of one VectorCNN forward pass per pair (convolutions only)."""
    from acregnet_cli.networks import vector_cnn

    model = vector_cnn(size)
    flops = 0
    for layer in model.layers:
        if layer.__class__.__name__ == "Conv2D":
            out_h, out_w = layer.output.shape[1:3]
            kh, kw, cin, cout = layer.kernel.shape
            flops += 2 * out_h * out_w * kh * kw * cin * cout
    return flops


def load_pairs(count, data_root):
    if data_root:
        from acregnet_cli.configuration import load_dataset_config
        from acregnet_cli.datasets import load_split

        test = load_split(load_dataset_config("jsrt"), Path(data_root), "test", 256)
        rs = np.random.RandomState(0)
        moving, fixed = rs.choice(len(test), count), rs.choice(len(test), count)
        return [(test.images[m], test.images[f], test.labels[m]) for m, f in zip(moving, fixed)], "JSRT test"
    from acregnet_cli.phantom import make_subject

    rng = np.random.RandomState(0)
    subjects = [make_subject(rng, 256) for _ in range(16)]
    return [(subjects[i % 16][0], subjects[(i + 1) % 16][0], subjects[i % 16][1]) for i in range(count)], "phantoms"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="registration model (default: bundled jsrt)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--elastix-pairs", type=int, default=0, help="also time elastix on this many pairs")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()

    import tensorflow as tf

    from acregnet_cli import training
    from acregnet_cli.configuration import load_training_settings
    from acregnet_cli.datasets import Split
    from acregnet_cli.modelfiles import load_vector_cnn
    from acregnet_cli.registration import Registrar
    from acregnet_cli.resources import data_dir

    model_path = Path(args.model) if args.model else data_dir() / "models" / "jsrt"
    data_root = os.environ.get("ACREGNET_DATA")
    repeats = 3 if args.quick else 10
    rows = []

    def record(group, what, value, unit, note=""):
        rows.append({"group": group, "measure": what, "value": value, "unit": unit, "note": note})
        print(f"{group:12s} {what:55s} {value:12.4f} {unit} {note}", flush=True)

    machine = machine_description()
    peak = matmul_peak(repeats=repeats)
    record("machine", "float32 matmul 2048^3", peak / 1e9, "GFLOP/s")

    # Registration: whole process for one pair, then the model call, then batches.
    pairs, source = load_pairs(256, data_root)
    with tempfile.TemporaryDirectory() as tmp:
        from PIL import Image

        for name, image in (("m.png", pairs[0][0]), ("f.png", pairs[0][1])):
            Image.fromarray((image * 255).astype(np.uint8)).save(Path(tmp) / name)
        command = [sys.executable, "-m", "acregnet_cli.cli", "register", f"{tmp}/m.png", f"{tmp}/f.png",
                   "--model", str(model_path), "-o", f"{tmp}/out", "--overwrite"]
        times = []
        for _ in range(3):
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - began)
        record("register", "one 256x256 pair, whole process (median of 3)", float(np.median(times)), "s")

    model, description = load_vector_cnn(model_path)
    registrar = Registrar(model, description["size"], description.get("resize", "modern"))
    prepared = registrar.prepare(*pairs[0])
    small = (prepared["moving_small"][None], prepared["fixed_small"][None])
    record("register", "model call alone, batch 1", timed(lambda: registrar.predict_small(*small), repeats * 5), "s")
    record("register", "one pair in process (prepare, model, warp, mask)",
           timed(lambda: registrar.register(*pairs[0]), repeats), "s")
    forward = vector_cnn_flops(description["size"])
    for batch in (1, 4, 16, 32, 64):
        registrar.batch_size = batch
        chunk = pairs[:max(batch, 64)]
        seconds = timed(lambda: registrar.register_many(chunk), max(1, repeats // 3), warmup=1)
        record("throughput", f"register_many at 256x256, batch {batch}", len(chunk) / seconds, "pairs/s", source)
    batch_pair = np.random.rand(64, description["size"], description["size"], 2).astype(np.float32)
    call = tf.function(lambda x: model(x, training=False))
    seconds = timed(lambda: call(batch_pair).numpy(), repeats)
    record("flops", "VectorCNN forward, batch 64", forward * 64 / seconds / 1e9, "GFLOP/s",
           f"{100 * forward * 64 / seconds / peak:.1f}% of matmul peak")

    # Training steps at batch 32: each variant, 64 and 256.
    rng = np.random.RandomState(0)
    for size in (64, 256):
        split = Split(names=[str(i) for i in range(64)], images=rng.rand(64, size, size).astype(np.float32),
                      labels=rng.randint(0, 4, (64, size, size)).astype(np.int32), image_paths=[], label_paths=[])
        with tempfile.TemporaryDirectory() as tmp:
            ae_settings = load_training_settings("train_ae", iterations=repeats + 5, log_every=1000,
                                                 checkpoint_every=100000, size=64)
            ae_split = split if size == 64 else Split(split.names, split.images[:, ::4, ::4],
                                                      split.labels[:, ::4, ::4], [], [])
            outcome = training.train_autoencoder(ae_split, 4, ae_settings, Path(tmp) / "ae", progress=False)
            if size == 64:
                record("training", "train-ae iteration, batch 16, 64x64",
                       outcome["seconds"] / outcome["iterations"], "s/it", "includes compile")
            for variant in training.VARIANTS:
                settings = load_training_settings("train_reg", iterations=repeats + 3, log_every=1000,
                                                  checkpoint_every=100000, size=size)
                began_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                outcome = training.train_registration(split, 4, settings, variant, Path(tmp) / f"reg-{variant}",
                                                      ae_run=Path(tmp) / "ae", progress=False)
                # Timing from the log: skip the first logged window (compilation).
                record("training", f"train-reg {variant} iteration, batch 32, {size}x{size}",
                       outcome["seconds"] / outcome["iterations"], "s/it", "includes compile")
                del began_rss
    record("memory", "peak resident memory of this process", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "MiB")

    if args.elastix_pairs:
        from acregnet_cli import elastix

        began = time.perf_counter()
        for moving, fixed, mask in pairs[:args.elastix_pairs]:
            elastix.register_pair(moving, fixed, np.searchsorted([0, 1, 2, 3], mask), 4)
        per_pair = (time.perf_counter() - began) / args.elastix_pairs
        record("elastix", "affine + B-spline, one job", per_pair, "s/pair")

    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / machine["host"]
    with open(stem.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = [f"# acregnet benchmarks on {machine['host']}", "",
             "; ".join(f"{k}: {v}" for k, v in machine.items()), "",
             f"Model: {model_path}; data: {source}; command: `python benchmarks/run_benchmarks.py"
             f"{' --quick' if args.quick else ''}`", "",
             "| group | measure | value | unit | note |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['group']} | {r['measure']} | {r['value']:.4g} | {r['unit']} | {r['note']} |" for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"written {stem}.md and .csv")


if __name__ == "__main__":
    main()
