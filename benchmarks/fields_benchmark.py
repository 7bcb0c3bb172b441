"""Speed and accuracy of what users do with a field after ``register`` (issue 25's goals).

Whole processes, timed from outside with ``farm-bench`` when it is on the PATH (medians
of 5 runs after a warm-up), else with this script's own clock (medians of 5):

- ``acregnet warp`` of a 2048x2048 image and its label map (one process; goal <= 1 s);
- ``acregnet invert`` of a 256x256 field (goal <= 1 s);
- ``register --figures`` against ``register`` on the same 256x256 pair, paired
  (goal: the figure adds <= 0.5 s per pair);

and, in process, ``invert_field`` on the JSRT protocol pairs' fields (the bundled model):
the residual where an inverse exists (mean, 95th percentile, max) and seconds per field.

Needs ``ACREGNET_DATA`` (JSRT). Writes ``benchmarks/results/fields-<label>.md``.

Usage:
    python benchmarks/fields_benchmark.py [--label NAME] [--fields 100]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ACREGNET = shutil.which("acregnet") or f"{sys.executable} -m acregnet_cli.cli"


def time_command(command, runs=5):
    """Median wall seconds of a whole command (farm-bench's median when available)."""
    if shutil.which("farm-bench"):
        out = subprocess.run(["farm-bench", "-n", str(runs), "--timeout", "600", "--", *command.split()],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"^A wall s\s+([\d.]+)\s+([\d.]+)", out, re.MULTILINE)
        if match:
            return float(match.group(2)), "farm-bench: " + out.splitlines()[0]
    times = []
    subprocess.run(command.split(), check=True, capture_output=True)
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(command.split(), check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times), "own clock"


def protocol_fields(data, folder, count):
    """Fields of the JSRT protocol pairs (the bundled model), registered in one process."""
    from acregnet_cli.evaluation.protocol import draw_pairs
    from acregnet_cli.io.images import read_image
    from acregnet_cli.registration import make_registrar

    root = Path(data) / "data" / "JSRT" / "LR_256" / "images"
    names = [line.split("/")[-1].strip() for line in
             (Path(data) / "data" / "JSRT" / "split" / "test_images_256.txt").read_text().splitlines() if line.strip()]
    moving, fixed = draw_pairs(len(names), 0)
    registrar = make_registrar("jsrt")
    images = {name: read_image(root / name)[0] for name in names}
    pairs = [(images[names[m]], images[names[f]]) for m, f in list(zip(moving, fixed))[:count]]
    return [result.field for result in registrar.register_many(pairs)], [root / names[m] for m in moving[:1]] + \
        [root / names[f] for f in fixed[:1]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--fields", type=int, default=100)
    args = parser.parse_args()
    data = os.environ.get("ACREGNET_DATA")
    if not data:
        sys.exit("set ACREGNET_DATA to the data root (acrn)")
    from PIL import Image

    from acregnet_cli.fields import inversion_report, invert_field

    work = Path(tempfile.mkdtemp(prefix="fields-bench-"))
    fields, (moving, fixed) = protocol_fields(data, work, args.fields)
    rows = []
    for field in fields:
        began = time.perf_counter()
        inverse, residual = invert_field(field)
        seconds = time.perf_counter() - began
        report = inversion_report(field, inverse, residual)
        rows.append((report["residual_mean_px"], report["residual_p95_px"], report["residual_max_px"],
                     report["evaluated_fraction"], report["folded_fraction"], seconds))
    table = np.array(rows)

    # One 256x256 registration to invert, and a 2048x2048 pair to warp.
    mask = Path(str(moving).replace("/images/", "/labels/"))
    subprocess.run([*ACREGNET.split(), "register", str(moving), str(fixed), "--mask", str(mask), "-o",
                    str(work / "small")], check=True, capture_output=True)
    for name, source, method in (("big_m.png", moving, Image.BILINEAR), ("big_f.png", fixed, Image.BILINEAR),
                                 ("big_mask.png", mask, Image.NEAREST)):
        Image.open(source).resize((2048, 2048), method).save(work / name)
    subprocess.run([*ACREGNET.split(), "register", str(work / "big_m.png"), str(work / "big_f.png"), "-o",
                    str(work / "big")], check=True, capture_output=True)
    warp, clock = time_command(f"{ACREGNET} warp {work / 'big'} {work / 'big_m.png'} --mask {work / 'big_mask.png'} "
                               f"-o {work / 'warped'} --overwrite")
    invert, _ = time_command(f"{ACREGNET} invert {work / 'small'} -o {work / 'inverse'} --overwrite")
    base = f"{ACREGNET} register {moving} {fixed} --mask {mask} -o {work / 'again'} --overwrite"
    plain, _ = time_command(base)
    figures, _ = time_command(base + " --figures")

    import platform

    lines = [
        f"# Fields after register: speed and inversion ({args.label})", "",
        (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; timing by {clock} "
         "(median of 5 whole processes)."), "",
        "| what | median s | goal |", "| --- | ---: | ---: |",
        f"| `warp` 2048x2048 image + label map, one process | {warp:.2f} | 1.0 |",
        f"| `invert` 256x256 field | {invert:.2f} | 1.0 |",
        f"| `register` one 256x256 pair | {plain:.2f} | |",
        f"| `register --figures` same pair | {figures:.2f} | |",
        f"| added by `--figures` | {figures - plain:.2f} | 0.5 |", "",
        (f"`invert_field` on {len(fields)} JSRT protocol fields (bundled model), residual in px over the pixels "
         "where an inverse exists (reached by the field, not within a pixel of a fold):"), "",
        "| | mean over fields | worst field |", "| --- | ---: | ---: |",
        f"| residual mean | {table[:, 0].mean():.4f} | {table[:, 0].max():.4f} |",
        f"| residual p95 | {table[:, 1].mean():.4f} | {table[:, 1].max():.4f} |",
        f"| residual max | {table[:, 2].mean():.3f} | {table[:, 2].max():.3f} |",
        f"| share of pixels evaluated | {table[:, 3].mean():.3f} | {table[:, 3].min():.3f} |",
        f"| share with a folded preimage | {table[:, 4].mean():.4f} | {table[:, 4].max():.4f} |",
        f"| seconds per field (in process) | {table[:, 5].mean():.3f} | {table[:, 5].max():.3f} |", "",
        f"Command: `python benchmarks/fields_benchmark.py --label {args.label}`",
    ]
    out = HERE / "results" / f"fields-{args.label}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
