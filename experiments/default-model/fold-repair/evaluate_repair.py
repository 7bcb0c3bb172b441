"""Issue 27 check: can folds be repaired after the network instead of trained away?

Runs ``acregnet evaluate`` with each network-size field repaired before it is upsampled:
while some pixel's Jacobian determinant is at most ``--eps``, the field is replaced, on
those pixels grown by ``--grow`` pixels, by its Gaussian smoothing (``--sigma`` pixels),
at most ``--iterations`` times. A study script, not a product feature.

usage: python experiments/default-model/fold-repair/evaluate_repair.py [--eps E] [--sigma S] [--grow G]
       -- EVALUATE-ARGUMENTS...
"""

import argparse
import sys

import numpy as np
from scipy import ndimage


def repair(field, eps, sigma, grow, iterations):
    from acregnet_cli.fields.core import jacobian_determinant

    field = field.copy()
    for _ in range(iterations):
        bad = jacobian_determinant(field) <= eps
        if not bad.any():
            break
        region = ndimage.binary_dilation(bad, iterations=grow)
        smooth = np.stack([ndimage.gaussian_filter(field[..., k], sigma, mode="nearest") for k in range(2)], -1)
        field[region] = smooth[region]
    return field


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--grow", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("evaluate", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    rest = args.evaluate[1:] if args.evaluate[:1] == ["--"] else args.evaluate

    from acregnet_cli.cli import main as cli
    from acregnet_cli.registration import registrar

    plain = registrar.Registrar.predict_small

    def predict_small(self, moving_small, fixed_small):
        fields = plain(self, moving_small, fixed_small)
        return np.stack([repair(f, args.eps, args.sigma, args.grow, args.iterations) for f in fields]).astype(np.float32)

    registrar.Registrar.predict_small = predict_small
    cli.main(args=["evaluate", *rest], prog_name="acregnet")


if __name__ == "__main__":
    sys.exit(main())
