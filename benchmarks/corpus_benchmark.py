"""Speed and memory of ``acregnet corpus``, whole processes (issue 28's goals).

On a corpus built by ``benchmarks/make_corpus.py`` (at least 2000 images at 1024x1024):

- throughput at 1024x1024 over N images (default 500 and the whole corpus), QC included,
  start-up included, with each run's peak memory (the same command at two corpus sizes:
  memory should not grow with the corpus);
- shards: N = 2 processes on the same 500 images against N = 1 (the sum of their rates);
- 2048x2048 over a smaller corpus (``--big``, built with ``--size 2048``);
- the baseline in the same run: today's ``acregnet segment`` (no quality control) on
  the first 30 images at 1024x1024.

Each command is timed from outside (wall seconds; peak resident memory of the process
from the kernel, through ``/usr/bin/time``-like ``wait4``). Writes
``benchmarks/results/corpus-<label>.md``.

Usage:
    python benchmarks/corpus_benchmark.py CORPUS [--big CORPUS2048] [--label NAME] [--sizes 500 2000]
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACREGNET = [sys.executable, "-m", "acregnet_cli.cli"]


def subset(corpus, count, folder):
    """A folder of links to the first ``count`` images of ``corpus`` (sorted), tree kept."""
    from acregnet_cli.workflows.corpus_files import list_corpus

    relpaths = list_corpus(corpus)
    if len(relpaths) < count:
        sys.exit(f"{corpus} has {len(relpaths)} images, fewer than {count}")
    for relpath in relpaths[:count]:
        target = folder / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(corpus).resolve() / relpath, target)
    return folder


def timed(commands):
    """Run commands at once; wall seconds until the last ends, and each one's peak MiB."""
    began = time.perf_counter()
    processes = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=dict(os.environ, OPENBLAS_NUM_THREADS="1")) for c in commands]
    peaks = []
    for process in processes:
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) not in (0,):
            sys.exit(f"failed: {' '.join(map(str, process.args))}")
        peaks.append(usage.ru_maxrss / 1024)
    return time.perf_counter() - began, peaks


def corpus_command(folder, out, *extra):
    return ACREGNET + ["corpus", str(folder), "-o", str(out), *map(str, extra)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--big", type=Path, help="a corpus at 2048x2048")
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 2000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="corpus-bench-"))
    rows = []

    for count in args.sizes:
        folder = subset(args.corpus, count, work / f"in{count}")
        wall, (peak,) = timed([corpus_command(folder, work / f"out{count}")])
        summary = json.loads((work / f"out{count}" / "summary.json").read_text())
        rows.append((f"corpus, {count} images at 1024x1024, QC (10 references)", count, wall, count / wall, peak,
                     summary))
        print(rows[-1][:5], flush=True)

    folder = work / f"in{args.sizes[0]}"
    count = args.sizes[0]
    wall, peaks = timed([corpus_command(folder, work / "sharded", "--shard", f"{i}/2") for i in range(2)])
    rows.append((f"corpus, {count} images, 2 shards in 2 processes", count, wall, count / wall, max(peaks), None))
    print(rows[-1][:5], flush=True)
    # One process already keeps both cores busy, so shards can only show their scaling
    # when each has its own core(s): one process pinned to one core, then two shards
    # pinned to a core each (as two machines would run them).
    small = subset(args.corpus, 200, work / "in200")
    wall, peaks = timed([["taskset", "-c", "0"] + corpus_command(small, work / "pinned1")])
    rows.append(("corpus, 200 images, 1 process on 1 core", 200, wall, 200 / wall, max(peaks), None))
    print(rows[-1][:5], flush=True)
    wall, peaks = timed([["taskset", "-c", str(i)] + corpus_command(small, work / "pinned2", "--shard", f"{i}/2")
                         for i in range(2)])
    rows.append(("corpus, 200 images, 2 shards, 1 core each", 200, wall, 200 / wall, max(peaks), None))
    print(rows[-1][:5], flush=True)

    if args.big is not None:
        from acregnet_cli.workflows.corpus_files import list_corpus

        big = len(list_corpus(args.big))
        wall, (peak,) = timed([corpus_command(args.big, work / "big")])
        rows.append((f"corpus, {big} images at 2048x2048, QC", big, wall, big / wall, peak, None))
        print(rows[-1][:5], flush=True)

    baseline = subset(args.corpus / "real", 30, work / "in30")  # segment stops at a bad file: real images only
    from acregnet_cli.workflows.corpus_files import list_corpus

    files = [str(baseline / relpath) for relpath in list_corpus(baseline)]
    wall, (peak,) = timed([ACREGNET + ["segment", *files, "--atlases", "jsrt:train", "-o", str(work / "segment"),
                                       "--no-overlay"]])
    rows.append(("today: segment, 30 images at 1024x1024, no QC", 30, wall, 30 / wall, peak, None))

    first = rows[0][5]
    lines = [f"# acregnet corpus: speed and memory ({args.label})", "",
             (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"Python {platform.python_version()}; whole processes, start-up included."), "",
             "| run | images | wall s | images/s | peak MiB |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {name} | {n} | {wall:.1f} | {rate:.2f} | {peak:.0f} |" for name, n, wall, rate, peak, _ in rows]
    lines += ["", f"Estimated Dice over the first {rows[0][1]} images ({first['ok']} segmented, {first['failed']} "
                  f"failed, {first['not_chest']} not chest radiographs): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in first["estimated_dice"].items())
              + "; the authors' ChestX-ray14: mean 0.935, median 0.944, 11.0% below 0.90, 0.35% below 0.80.", ""]
    last = rows[len(args.sizes) - 1][5]
    lines += [f"Over all {rows[len(args.sizes) - 1][1]} images: " + ", ".join(
        f"{k} {v:.3f}" for k, v in last["estimated_dice"].items()) + f"; {last['ok']} segmented, {last['failed']} "
        f"failed, {last['not_chest']} not chest radiographs, {last['accepted']} accepted at 0.92.", "",
        f"Command: `python benchmarks/make_corpus.py {args.corpus}; python benchmarks/corpus_benchmark.py "
        f"{args.corpus} --label {args.label}" + (f" --big {args.big}" if args.big else "") + "`"]
    out = HERE / "results" / f"corpus-{args.label}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
