"""Can a finer field than the network's 64 px bring the heart's borders, hence the CTR,
closer to the manual masks? Two ways, each beside the plain multi-atlas result on the same
JSRT test images (training fold as atlases, the k = 5 most similar, majority vote, the
bundled default model with its two passes, 256 px; no corpus framing or band, so the
baseline differs slightly from ``ctr_jsrt.py``'s):

- ``pass SIZE``: one more pass of the same network, run at SIZE px (128 or 256) on the
  atlas warped so far and the target, its field composed with the 64 px one;
- ``optimise STEPS LAMBDA LR WINDOW``: each atlas's field optimised at 256 px (Adam) for
  local NCC over WINDOW px windows plus LAMBDA times the mean squared field gradient,
  starting from the network's.

    python experiments/ctr/finer_fields.py pass 128             # needs ACREGNET_DATA; about 2 minutes
    python experiments/ctr/finer_fields.py optimise 50 1 0.2 9 --images 10

Prints heart and lungs Dice and the CTR's mean absolute difference, bias and Pearson r
against the manual masks' CTR, for both.
"""

import argparse
import os

import numpy as np

from acregnet_cli.anatomy import measure
from acregnet_cli.applications.segmentation import AtlasSet, fuse, load_dataset_fold
from acregnet_cli.models import load_model
from acregnet_cli.registration import make_registrar

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def dice(a, b):
    return 2 * (a & b).sum() / max(a.sum() + b.sum(), 1)


def finer_pass(ops, network, size, moving, fixed, field):
    """``field`` (k, 256, 256, 2) composed with one more pass of ``network`` at ``size``."""
    side = field.shape[1]
    current = ops.resize_images(ops.warp(moving, field), size, "modern")
    target = ops.resize_images(fixed, size, "modern")
    step = ops.resize_field(np.asarray(network(np.concatenate([current, target], -1), training=False)), side, "modern")
    return step + ops.warp(field, step)


def optimised(field, moving, fixed, steps, weight, rate, window):
    """Each field of ``field`` optimised for local NCC plus ``weight`` times its mean squared gradient."""
    import tensorflow as tf

    from acregnet_cli.tf.ops import warp_bilinear

    def box(x):
        kernel = tf.ones([window, window, 1, 1], x.dtype) / window ** 2
        return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")

    @tf.function
    def gradient(u, m, f):
        with tf.GradientTape() as tape:
            tape.watch(u)
            w = warp_bilinear(m, u)
            mw, mf = box(w), box(f)
            covariance = box(w * f) - mw * mf
            ncc = covariance ** 2 / ((box(w * w) - mw ** 2) * (box(f * f) - mf ** 2) + 1e-5)
            rows, columns = u[:, 1:] - u[:, :-1], u[:, :, 1:] - u[:, :, :-1]
            loss = -tf.reduce_mean(ncc) + weight * (tf.reduce_mean(rows ** 2) + tf.reduce_mean(columns ** 2))
        return tape.gradient(loss, u)

    u = tf.Variable(np.asarray(field, np.float32))
    optimizer = tf.keras.optimizers.Adam(rate)
    m, f = tf.constant(moving, tf.float32), tf.constant(fixed, tf.float32)
    for _ in range(steps):
        optimizer.apply_gradients([(gradient(tf.convert_to_tensor(u), m, f), u)])
    return u.numpy()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("pass", "optimise"))
    parser.add_argument("values", nargs="+", type=float, help="SIZE, or STEPS LAMBDA LR WINDOW")
    parser.add_argument("--images", type=int, default=50, help="The first N test images.")
    args = parser.parse_args()
    _, names, images, labels = load_dataset_fold("jsrt:train")
    _, _, targets, truths = load_dataset_fold("jsrt:test")
    atlases = AtlasSet(list(names), [np.asarray(i, np.float32) for i in images], list(labels))
    registrar = make_registrar("jsrt", None, keep_onehot=True)
    ops = registrar.ops
    network = load_model("jsrt").keras(int(args.values[0])) if args.mode == "pass" else None
    rows = []
    for target, truth in list(zip(targets, truths))[:args.images]:
        target = np.asarray(target, np.float32)
        chosen = atlases.rank(target)[0][:5]
        prepared = [registrar.prepare(atlases.images[i], target, atlases.onehot(i), atlases.values) for i in chosen]
        fields = registrar.predict_small(np.stack([p["moving_small"] for p in prepared]),
                                         np.stack([p["fixed_small"] for p in prepared]))
        results = registrar.finish_many(prepared, fields)
        plain = atlases.values[fuse([r.warped_onehot for r in results], [r.warped for r in results], target)]
        field = np.stack([r.field for r in results]).astype(np.float32)
        moving = np.stack([atlases.images[i] for i in chosen])[..., None].astype(np.float32)
        fixed = np.repeat(target[None, ..., None], len(chosen), 0)
        if args.mode == "pass":
            field = finer_pass(ops, network, int(args.values[0]), moving, fixed, field)
        else:
            steps, weight, rate, window = args.values
            field = optimised(field, moving, fixed, int(steps), weight, rate, int(window))
        onehots = [ops.warp(atlases.onehot(i)[None], field[n:n + 1])[0] for n, i in enumerate(chosen)]
        finer = atlases.values[fuse(onehots, None, target)]
        row = []
        for labels_ in (plain, finer):
            row += [dice(labels_ == 3, truth == 3), dice(np.isin(labels_, (1, 2)), np.isin(truth, (1, 2))),
                    measure(labels_)["ctr"]]
        rows.append(row + [measure(truth)["ctr"]])
    r = np.array(rows)
    print(f"{args.mode} {' '.join(f'{v:g}' for v in args.values)}, {len(r)} JSRT test images")
    print("| fields | heart Dice | lungs Dice | CTR mean abs. difference | bias | Pearson r |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, first in (("network (64 px)", 0), (args.mode, 3)):
        difference = r[:, first + 2] - r[:, 6]
        print(f"| {name} | {r[:, first].mean():.4f} | {r[:, first + 1].mean():.4f} | {np.abs(difference).mean():.4f} | "
              f"{difference.mean():+.4f} | {np.corrcoef(r[:, first + 2], r[:, 6])[0, 1]:.3f} |")


if __name__ == "__main__":
    main()
