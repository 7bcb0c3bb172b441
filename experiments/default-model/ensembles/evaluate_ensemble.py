"""Issue 27 check: do test-time ensembles close Montgomery's HD gap?

Runs ``acregnet evaluate`` with the registrar's network call replaced by the mean of
several networks' fields (``--member RUN``, on top of the method's own model) and, with
``--flip``, of each network's field for the left-right mirrored pair (mirrored back).
A study script, not a product feature: nothing here is bundled.

usage: python experiments/default-model/ensembles/evaluate_ensemble.py [--member RUN]... [--flip]
       -- EVALUATE-ARGUMENTS...
"""

import argparse
import sys

import numpy as np


def mean_field(networks, pair, flip):
    fields = []
    for ops in networks:
        fields.append(ops.predict(pair))
        if flip:
            # Mirror the pair left-right, predict, and mirror the field back: its
            # column component changes sign.
            mirrored = ops.predict(np.ascontiguousarray(pair[:, :, ::-1]))[:, :, ::-1].copy()
            mirrored[..., 1] *= -1
            fields.append(mirrored)
    return np.mean(fields, axis=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--member", action="append", default=[], help="another model whose field joins the mean")
    parser.add_argument("--flip", action="store_true", help="add each network's mirrored prediction")
    parser.add_argument("evaluate", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.evaluate[1:] if args.evaluate[:1] == ["--"] else args.evaluate

    from acregnet_cli.cli import main as cli
    from acregnet_cli.models import load_model
    from acregnet_cli.registration import registrar
    from acregnet_cli.registration.engines import TensorFlowOps

    members = [TensorFlowOps(load_model(run, kind="registration").keras()) for run in args.member]

    def predict_small(self, moving_small, fixed_small):
        moving_small = np.asarray(moving_small, np.float32)
        fixed_small = np.asarray(fixed_small, np.float32)
        networks = [self.ops, *members]
        field = mean_field(networks, np.stack([moving_small, fixed_small], -1), args.flip)
        for _ in range(self.passes - 1):
            current = self.ops.warp(moving_small[..., None], field)[..., 0]
            step = mean_field(networks, np.stack([current, fixed_small], -1).astype(np.float32), args.flip)
            field = step + self.ops.warp(field, step)
        return np.asarray(field, np.float32)

    registrar.Registrar.predict_small = predict_small
    cli.main(args=["evaluate", *rest], prog_name="acregnet")


if __name__ == "__main__":
    sys.exit(main())
