"""Build a synthetic corpus for ``acregnet corpus`` benchmarks (ChestX-ray14 cannot be fetched here).

Real radiographs: the test images of JSRT, Montgomery and Shenzhen (``ACREGNET_DATA``,
256x256), each resampled to SIZE and written as it is and in three variants (gamma
0.8, gamma 1.25, a small rotation and zoom); phantoms fill the rest; a few broken files,
noise images and a constant image exercise the failure rows. Files go into a nested
tree (``real/<dataset>/``, ``phantom/<block>/``, ``bad/``).

Usage:
    python benchmarks/make_corpus.py OUT [--count 2000] [--size 1024]
"""

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image


def variants(image, rng):
    """The image and three variants, as float arrays in [0, 1]."""
    from scipy import ndimage

    yield "orig", image
    yield "g080", image ** 0.8
    yield "g125", image ** 1.25
    angle, zoom = rng.uniform(-4, 4), rng.uniform(0.94, 1.06)
    turned = ndimage.rotate(image, angle, reshape=False, order=1, mode="nearest")
    side = image.shape[0]
    zoomed = ndimage.zoom(turned, zoom, order=1)
    start = (zoomed.shape[0] - side) // 2
    if start >= 0:
        zoomed = zoomed[start:start + side, start:start + side]
    else:
        zoomed = np.pad(zoomed, ((-start, side - zoomed.shape[0] + start),) * 2, mode="edge")
    yield "rot", zoomed


def save(path, image, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8))
    if picture.size != (size, size):
        picture = picture.resize((size, size), Image.BILINEAR)
    picture.save(path, compress_level=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    from acregnet_cli.datasets.phantom import make_subject

    data = Path(os.environ["ACREGNET_DATA"])
    rng = np.random.RandomState(0)
    written = 0
    for dataset in ("JSRT", "Montgomery", "Shenzhen"):
        names = [line.strip() for line in (data / "data" / dataset / "split" / "test_images_256.txt").read_text()
                 .splitlines() if line.strip()]
        for name in names:
            image = np.asarray(Image.open(data / name).convert("L"), np.float64) / 255
            for tag, variant in variants(image, rng):
                if written < args.count - 8:
                    save(args.out / "real" / dataset.lower() / f"{Path(name).stem}_{tag}.png", variant, args.size)
                    written += 1
    bad = args.out / "bad"
    bad.mkdir(parents=True, exist_ok=True)
    for index in range(3):
        (bad / f"broken{index}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randint(0, 256, 64, dtype=np.uint8)))
    for index in range(4):
        save(bad / f"noise{index}.png", rng.rand(256, 256), args.size)
    save(bad / "constant.png", np.full((8, 8), 0.5), args.size)
    written += 8
    block = 0
    while written < args.count:
        image, _ = make_subject(rng, 256)
        save(args.out / "phantom" / f"b{block // 200:02d}" / f"phantom{block:05d}.png", image, args.size)
        block += 1
        written += 1
    print(f"{written} files in {args.out} ({args.size}x{args.size})")


if __name__ == "__main__":
    main()
