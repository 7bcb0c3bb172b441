"""A/B benchmark of the with-mask registration step: how the label map is warped and
how the network's field is upsampled (not part of the test suite).

Four settings of the TensorFlow engine, measured interleaved in one process on the
same 128 JSRT test pairs at 256x256 (phantoms without ``ACREGNET_DATA``):

- ``onehot+kernel``: the mask as one-hot channels warped bilinearly and arg-maxed,
  the field upsampled by TensorFlow's resize kernel (the engine before 2026-11-28);
- ``votes+kernel``: the labels by corner votes (:func:`acregnet_cli.tf.tf_ops.warp_labels`);
- ``onehot+matrices``: the field upsampled by two matrix products
  (:func:`acregnet_cli.tf.tf_ops.resize_field_by_matrices`);
- ``votes+matrices``: both (the engine now).

Reports pairs per second (best and median of ``--rounds``) at batch 32 and 64, and
checks that every setting gives the same label maps and images and fields within
float tolerance. Writes ``benchmarks/results/<label>-label-warp.md``.

Usage:
    python benchmarks/label_warp_ab.py --label cpu-2core-epyc [--rounds 6]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", help="report name (default: the host name)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf
    from run_benchmarks import load_pairs, machine_description

    from acregnet_cli.tf import ops as tf_ops
    from acregnet_cli.models import resolve_model as _resolve_model
    from acregnet_cli.models.files import load_vector_cnn
    from acregnet_cli.registration.engines import folding_fractions_tf
    from acregnet_cli.registration import Registrar

    machine = machine_description()
    model, description = load_vector_cnn(_resolve_model("jsrt"))
    pairs, source = load_pairs(128, os.environ.get("ACREGNET_DATA"))
    registrar = Registrar(model, description["size"], description.get("resize", "modern"), keep_onehot=False)

    def onehot_graph(images, indices, fields, classes):
        stacks = tf.concat([images[..., None], tf.one_hot(tf.cast(indices, tf.int32), classes)], axis=-1)
        warped = tf_ops.warp_bilinear(stacks, fields)
        return warped[..., 0], tf.cast(tf.argmax(warped[..., 1:], axis=-1), tf.uint8), folding_fractions_tf(fields)

    kernel = tf.function(lambda small, side, method: tf_ops.resize_field(small, side, method))
    matrices, votes = registrar.ops._resize_fields, registrar.ops._warp_labels
    onehot = tf.function(onehot_graph, jit_compile=True)
    settings = {"onehot+kernel": (kernel, onehot), "votes+kernel": (kernel, votes),
                "onehot+matrices": (matrices, onehot), "votes+matrices": (matrices, votes)}

    def use(name):
        registrar.ops._resize_fields, registrar.ops._warp_labels = settings[name]

    rows = []
    for batch in (32, 64):
        registrar.batch_size = batch
        for name in settings:
            use(name)
            registrar.register_many(pairs[:2 * batch])  # compile this batch shape
        seconds = {name: [] for name in settings}
        for _ in range(args.rounds):
            for name in settings:
                use(name)
                began = time.perf_counter()
                registrar.register_many(pairs)
                seconds[name].append(time.perf_counter() - began)
        for name in settings:
            rows.append((batch, name, len(pairs) / min(seconds[name]), len(pairs) / np.median(seconds[name])))
            print(f"batch {batch} {name:16s} best {rows[-1][2]:6.1f} median {rows[-1][3]:6.1f} pairs/s", flush=True)

    registrar.batch_size = 32
    outputs = {}
    for name in settings:
        use(name)
        outputs[name] = registrar.register_many(pairs)
    reference = outputs["onehot+kernel"]
    checks = []
    for name in settings:
        ours = outputs[name]
        checks.append((name,
                       sum(int(np.sum(a.warped_mask != b.warped_mask)) for a, b in zip(ours, reference)),
                       max(float(np.abs(a.warped - b.warped).max()) for a, b in zip(ours, reference)),
                       max(float(np.abs(a.field - b.field).max()) for a, b in zip(ours, reference))))
        if checks[-1][1] or checks[-1][2] > 1e-4 or checks[-1][3] > 1e-3:
            raise SystemExit(f"{name} differs from onehot+kernel: {checks[-1]}")

    machine["load average after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    args.output.mkdir(parents=True, exist_ok=True)
    label = args.label or machine["host"]
    command = "python benchmarks/label_warp_ab.py " + " ".join(sys.argv[1:])
    lines = [f"# acregnet label-warp A/B: {label}", "", *(f"- {k}: {v}" for k, v in machine.items()), "",
             f"Data: {source}, {len(pairs)} pairs at 256x256 with masks, register_many, TensorFlow engine, "
             f"labels kept as maps (register, evaluate); {args.rounds} interleaved rounds; "
             f"date: {time.strftime('%Y-%m-%d %H:%M')}; command: `{command}`", "",
             "| batch | setting | best pairs/s | median pairs/s |", "| ---: | --- | ---: | ---: |"]
    lines += [f"| {b} | {name} | {best:.1f} | {median:.1f} |" for b, name, best, median in rows]
    lines += ["", "Against onehot+kernel, all 128 pairs:", "",
              "| setting | label pixels that differ | max image difference | max field difference (px) |",
              "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {n} | {image:.2g} | {field:.2g} |" for name, n, image, field in checks]
    path = args.output / f"{label}-label-warp.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"written {path}")


if __name__ == "__main__":
    main()
