"""Speed benchmarks of acregnet on the machine it runs on (not part of the test suite).

Measures, on JSRT (``ACREGNET_DATA``) or on phantoms when no data is there:

- registration latency of one 256x256 pair, whole process (``acregnet register``,
  NumPy and TensorFlow engines) and the network call alone;
- batch throughput in pairs per second: in process for batch sizes 1 to 64,
  ``acregnet register --pairs`` (files written) and ``acregnet evaluate`` (100 pairs,
  with metrics);
- the elastix baseline on the same pairs (one job, and ``--jobs``), and the ratios;
- training: seconds per iteration of ``train-reg`` (each variant, and AC-RegNet with
  ``--integration-steps 7``) and ``train-ae`` at batch 32, 64x64 and 256x256,
  compilation excluded, with each run's peak memory;
- the VectorCNN's achieved floating-point rate against a measured matrix-multiply peak.

Writes ``benchmarks/results/<label>.md`` and ``.csv`` with the machine described.

Usage:
    python benchmarks/run_benchmarks.py [--label NAME] [--quick] [--elastix-pairs 4] [--jobs 2]
"""

import argparse
import csv
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ACREGNET = [sys.executable, "-m", "acregnet_cli.cli"]


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 2 ** 20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(), "memory": memory,
            "gpus": ", ".join(gpus) or "none", "python": platform.python_version(), "tensorflow": tf.__version__,
            "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def timed(function, repeats, warmup=1):
    """Mean seconds per call after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    began = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - began) / repeats


def run_process(command, env=None):
    """Run a command; return (wall seconds, its peak resident memory in MiB, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        began = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=dict(os.environ, **(env or {})))
        # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if process.returncode:
            raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def matmul_peak(size=2048, repeats=10):
    """Measured float32 matrix-multiply rate (FLOP/s): the practical peak of this machine."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    run = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return 2 * size ** 3 / timed(lambda: run().numpy(), repeats, warmup=2)


def vector_cnn_flops(size=64):
    """FLOPs (2 x multiply-adds) of one VectorCNN forward pass for one pair, convolutions only."""
    from acregnet_cli.architecture import VECTOR_CNN_LAYERS

    # Resolution level (0: full size) of each convolution's output.
    levels = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 2, "6": 1, "7": 0}
    flops, channels = 0, 2
    for name, width in VECTOR_CNN_LAYERS:
        if name.startswith("deconv"):
            level = levels[name[-1]] - 1  # deconv4 upsamples level 3 to level 2
        elif name == "conv_out":
            level = 0
        else:
            level = levels[name[4]]
        side = size >> level
        flops += 2 * side * side * 9 * channels * width
        channels = width
    return flops


def write_pngs(pairs, folder):
    from PIL import Image

    rows = []
    folder.mkdir(parents=True, exist_ok=True)
    for index, (moving, fixed, mask) in enumerate(pairs):
        names = [folder / f"{index}_{kind}.png" for kind in ("moving", "fixed", "mask")]
        Image.fromarray(np.rint(moving * 255).astype(np.uint8)).save(names[0])
        Image.fromarray(np.rint(fixed * 255).astype(np.uint8)).save(names[1])
        Image.fromarray((mask * 85).astype(np.uint8)).save(names[2])
        rows.append(names)
    return rows


def load_pairs(count, data_root):
    """``count`` (moving, fixed, label map) pairs at 256x256: JSRT test pairs or phantoms."""
    if data_root:
        from acregnet_cli.datasets.config import load_dataset_config
        from acregnet_cli.datasets.layout import load_split

        config = load_dataset_config("jsrt")
        test = load_split(config, Path(data_root), "test", 256)
        rs = np.random.RandomState(0)
        moving, fixed = rs.choice(len(test), count), rs.choice(len(test), count)
        return [(test.images[m], test.images[f], test.labels[m]) for m, f in zip(moving, fixed)], "JSRT test"
    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(0)
    subjects = [make_subject(rng, 256) for _ in range(16)]
    return [(subjects[i % 16][0], subjects[(i + 1) % 16][0], subjects[i % 16][1]) for i in range(count)], "phantoms"


def train_seconds_per_iteration(run_dir):
    """Seconds per iteration from a run's log.csv, leaving out the first logged window (compilation)."""
    with open(run_dir / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    first, last = rows[0], rows[-1]
    return (float(last["seconds"]) - float(first["seconds"])) / (int(last["iteration"]) - int(first["iteration"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="jsrt", help="registration model (default: the bundled jsrt)")
    parser.add_argument("--label", help="report name (default: the host name)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--elastix-pairs", type=int, default=4, help="pairs for the elastix baseline (0: skip)")
    parser.add_argument("--jobs", type=int, default=2, help="elastix worker processes for the --jobs figure")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    from acregnet_cli.models import resolve_model as _resolve_model
    from acregnet_cli.np.vector_cnn import LiteVectorCNN
    from acregnet_cli.models.files import load_vector_cnn
    from acregnet_cli.registration import Registrar

    model_path = _resolve_model(args.model)
    data_root = os.environ.get("ACREGNET_DATA")
    repeats = 3 if args.quick else 10
    rows = []
    machine = machine_description()

    def record(group, what, value, unit, note=""):
        rows.append({"group": group, "measure": what, "value": value, "unit": unit, "note": note})
        print(f"{group:10s} {what:62s} {value:10.4g} {unit} {note}", flush=True)

    peak = matmul_peak(repeats=repeats)
    record("machine", "float32 matmul 2048x2048 (TensorFlow)", peak / 1e9, "GFLOP/s", "practical peak")
    pairs, source = load_pairs(128, data_root)
    work = Path(tempfile.mkdtemp(prefix="acregnet-bench-"))
    files = write_pngs(pairs[:64], work / "pngs")

    # Whole process, one pair: what a shell user waits for.
    for engine, count in (("numpy", 7), ("tensorflow", 3)):
        times = []
        for _ in range(count):
            command = ACREGNET + ["register", str(files[0][0]), str(files[0][1]), "--mask", str(files[0][2]),
                                  "--model", str(model_path), "-o", str(work / f"one-{engine}"), "--overwrite",
                                  "--engine", engine]
            times.append(run_process(command)[0])
        record("latency", f"register one 256x256 pair with mask, whole process, {engine} engine",
               float(np.median(times)), "s", f"median of {count}")
    one_pair = min(r["value"] for r in rows if r["group"] == "latency")

    model, description = load_vector_cnn(model_path)
    size = description["size"]
    lite = LiteVectorCNN.from_weights(model_path / description["weights"])
    pair = np.random.RandomState(0).rand(1, size, size, 2).astype(np.float32)
    record("latency", "network call alone, batch 1, NumPy", timed(lambda: lite(pair), repeats * 5), "s")
    registrar = Registrar(model, size, description.get("resize", "modern"))
    record("latency", "network call alone, batch 1, TensorFlow",
           timed(lambda: registrar.ops.predict(pair), repeats * 5, warmup=3), "s")
    record("latency", "one pair in process (pad, resize, network, warp, mask), TensorFlow",
           timed(lambda: registrar.register(*pairs[0]), repeats, warmup=2), "s")

    # In-process batches: register --pairs, evaluate and qc keep the warped label map
    # only (keep_onehot=False); segment also keeps the warped one-hot mask.
    for keep_onehot in (False, True):
        registrar.keep_onehot = keep_onehot
        kept = "label map and one-hot mask (segment)" if keep_onehot else "label map (register, evaluate)"
        for batch in (1, 2, 4, 8, 16, 32, 64):
            registrar.batch_size = batch
            registrar.register_many(pairs[:2 * batch])  # compile this batch shape
            seconds = timed(lambda: registrar.register_many(pairs), 1 if args.quick else 2, warmup=0)
            record("throughput", f"in process, 256x256 with mask, batch {batch}, keeps {kept}",
                   len(pairs) / seconds, "pairs/s", source)
    registrar.batch_size, registrar.keep_onehot = 32, False
    registrar.passes = 2
    registrar.register_many(pairs[:64])
    seconds = timed(lambda: registrar.register_many(pairs), 2, warmup=0)
    record("throughput", "in process, 256x256 with mask, batch 32, keeps label map, --passes 2",
           len(pairs) / seconds, "pairs/s", source)
    registrar.passes = 1
    no_masks = [(m, f, None) for m, f, _ in pairs]
    registrar.register_many(no_masks[:64])
    seconds = timed(lambda: registrar.register_many(no_masks), 2, warmup=0)
    record("throughput", "in process, 256x256 image only, batch 32", len(pairs) / seconds, "pairs/s", source)

    pairs_csv = work / "pairs.csv"
    with open(pairs_csv, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["moving", "fixed", "moving_mask"])
        writer.writerows([[str(p) for p in row] for row in files])
    for engine in ("numpy", "tensorflow"):
        seconds, _, _ = run_process(ACREGNET + ["register", "--pairs", str(pairs_csv), "--model", str(model_path),
                                                "-o", str(work / "registered"), "--overwrite", "--engine", engine])
        record("throughput", f"register --pairs, 64 pairs with masks, files written, whole process, {engine}",
               len(files) / seconds, "pairs/s", f"{seconds:.2f} s incl. start-up")
    # Whole process at several batch sizes: 256 pairs (the 64 files, four times over).
    with open(work / "pairs256.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["moving", "fixed", "moving_mask", "name"])
        writer.writerows([[str(p) for p in files[i % 64]] + [f"p{i}"] for i in range(256)])
    for batch in (1, 8, 32, 64):
        seconds, _, _ = run_process(ACREGNET + ["register", "--pairs", str(work / "pairs256.csv"), "--model",
                                                str(model_path), "-o", str(work / f"registered-{batch}"),
                                                "--engine", "tensorflow", "--batch-size", str(batch)])
        record("throughput", f"register --pairs, 256 pairs with masks, files written, tensorflow, batch {batch}",
               256 / seconds, "pairs/s", f"{seconds:.2f} s incl. start-up")
    if data_root:
        for batch in (1, 8, 32, 64):
            seconds, _, out = run_process(ACREGNET + [
                "evaluate", "--dataset", "jsrt", "--method", f"net={model_path}", "-o", str(work / f"evaluate-{batch}"),
                "--figure-pairs", "0", "--json", "--batch-size", str(batch)])
            summary = json.loads(out)
            record("throughput", f"evaluate, 1 model, JSRT 100 pairs with DSC/HD/ASSD, whole process, batch {batch}",
                   seconds, "s", f"DSC {summary['summary']['net']['dsc_mean']:.3f}; "
                                 f"{summary['timing']['net']['seconds_per_pair']:.4f} s/pair in its log")

    if args.elastix_pairs:
        elastix_times = {}
        for jobs in sorted({1, args.jobs}):
            folder = work / f"elastix-{jobs}"
            command = ACREGNET + ["evaluate", "--dataset", "jsrt", "--method", "elastix", "--jobs", str(jobs),
                                  "--pairs-limit", str(args.elastix_pairs), "-o", str(folder), "--figure-pairs", "0"]
            if not data_root:
                break
            seconds, _, _ = run_process(command)
            elastix_times[jobs] = seconds / args.elastix_pairs
            record("elastix", f"affine + B-spline, {args.elastix_pairs} JSRT pairs, --jobs {jobs}",
                   elastix_times[jobs], "s/pair", "whole process incl. metrics")
        if data_root:
            # The algorithm alone, in this process, by ITK thread count: with --jobs 1 the
            # worker uses every core's thread; with --jobs N each worker one.
            from acregnet_cli.evaluation import elastix

            for threads in (1, os.cpu_count() or 1):
                seconds = [elastix.register_pair(m, f, mask, 4, threads=threads)[2]
                           for m, f, mask in pairs[:args.elastix_pairs]]
                record("elastix", f"register_pair alone, {threads} ITK thread(s)", float(np.mean(seconds)), "s/pair",
                       f"mean of {args.elastix_pairs}")
                elastix_times.setdefault("best", float(np.mean(seconds)))
                elastix_times["best"] = min(elastix_times["best"], float(np.mean(seconds)))
            record("elastix", "fastest elastix single pair / acregnet register one pair (whole process)",
                   elastix_times["best"] / one_pair, "x")
        if 1 in elastix_times:
            record("elastix", "elastix one job / acregnet register one pair (whole process)",
                   elastix_times[1] / one_pair, "x")

    # Floating-point rate of the network.
    forward = vector_cnn_flops(size)
    batch_pair = np.random.rand(64, size, size, 2).astype(np.float32)
    seconds = timed(lambda: registrar.ops.predict(batch_pair), repeats, warmup=2)
    record("flops", f"VectorCNN forward {size}x{size}, batch 64", forward * 64 / seconds / 1e9, "GFLOP/s",
           f"{100 * forward * 64 / seconds / peak:.0f}% of matmul peak; {forward / 1e9:.3f} GFLOP per pair")

    if not args.skip_training:
        iterations = 12 if args.quick else 30
        train_env = {} if data_root else None
        if data_root:
            ae = work / "ae"
            run_process(ACREGNET + ["train-ae", "--dataset", "jsrt", "-o", str(ae), "--iterations", str(iterations),
                                    "--log-every", "5", "--checkpoint-every", "100000", "--quiet"], train_env)
            ae_seconds = train_seconds_per_iteration(ae)
            record("training", "train-ae iteration, batch 16, 64x64 (paper settings)", ae_seconds, "s/it")
            for ae_size in (64, 256):
                run_dir = work / f"ae-32-{ae_size}"
                _, peak_mib, _ = run_process(ACREGNET + [
                    "train-ae", "--dataset", "jsrt", "-o", str(run_dir), "--batch-size", "32", "--size", str(ae_size),
                    "--iterations", str(iterations), "--log-every", "5", "--checkpoint-every", "100000", "--quiet"])
                record("training", f"train-ae iteration, batch 32, {ae_size}x{ae_size}",
                       train_seconds_per_iteration(run_dir), "s/it", f"peak memory {peak_mib:.0f} MiB")
            for train_size in (64, 256):
                for variant in ("regnet", "ce-regnet", "ae-regnet", "ac-regnet"):
                    run_dir = work / f"reg-{variant}-{train_size}"
                    count = iterations if train_size == 64 else max(6, iterations // 4)
                    _, peak_mib, _ = run_process(ACREGNET + [
                        "train-reg", "--dataset", "jsrt", "--variant", variant, "--ae-run", str(ae),
                        "--size", str(train_size), "-o", str(run_dir), "--iterations", str(count),
                        "--log-every", "2" if train_size == 256 else "5", "--checkpoint-every", "100000", "--quiet"])
                    per_iteration = train_seconds_per_iteration(run_dir)
                    record("training", f"train-reg {variant} iteration, batch 32, {train_size}x{train_size}",
                           per_iteration, "s/it", f"peak memory {peak_mib:.0f} MiB")
                    if variant == "ac-regnet" and train_size == 64:
                        # The diffeomorphic extension: the same step with 7 squarings of the field.
                        run_dir = work / "reg-ac-regnet-velocity-64"
                        _, peak_mib, _ = run_process(ACREGNET + [
                            "train-reg", "--dataset", "jsrt", "--variant", variant, "--ae-run", str(ae),
                            "--integration-steps", "7", "-o", str(run_dir), "--iterations", str(count),
                            "--log-every", "5", "--checkpoint-every", "100000", "--quiet"])
                        record("training", "train-reg ac-regnet iteration, --integration-steps 7, batch 32, 64x64",
                               train_seconds_per_iteration(run_dir), "s/it", f"peak memory {peak_mib:.0f} MiB")
                    if variant == "regnet" and train_size == size:
                        # Forward + backward is about three forward passes.
                        rate = 3 * forward * 32 / per_iteration
                        record("flops", f"train-reg regnet step {size}x{size} (3 x forward FLOPs)", rate / 1e9,
                               "GFLOP/s", f"{100 * rate / peak:.0f}% of matmul peak")

    machine["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.output.mkdir(parents=True, exist_ok=True)
    stem = args.output / (args.label or machine["host"])
    with open(stem.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    command = "python benchmarks/run_benchmarks.py " + " ".join(sys.argv[1:])
    lines = [f"# acregnet benchmarks: {args.label or machine['host']}", "",
             *(f"- {key}: {value}" for key, value in machine.items()), "",
             f"Model: {model_path}; data: {source}; date: {time.strftime('%Y-%m-%d %H:%M')}; command: `{command}`",
             "", "| group | measure | value | unit | note |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['group']} | {r['measure']} | {r['value']:.4g} | {r['unit']} | {r['note']} |" for r in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"written {stem}.md and {stem}.csv")


if __name__ == "__main__":
    main()
