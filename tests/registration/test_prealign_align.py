"""register --prealign align: the corpus's alignment for one pair (issue 33)."""

import numpy as np
import pytest

from acregnet_cli.errors import InputError
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import Registrar
from acregnet_cli.registration.engines import NumpyOps, choose_engine


def overlap(short_reach, prealign, shift=8):
    registrar = Registrar(short_reach, short_reach.size, ops=NumpyOps(short_reach), prealign=prealign)
    (moving, moving_disk), (fixed, fixed_disk) = short_reach.film(shift, 1), short_reach.film(0, 2)
    result = registrar.register_many([(moving, fixed, moving_disk)])[0]
    warped = result.warped_mask > 0
    return 2 * (warped & (fixed_disk > 0)).sum() / (warped.sum() + fixed_disk.sum()), result


def test_align_brings_a_pair_framed_beyond_the_networks_reach_together(short_reach):
    # The stand-in network moves 3 px a call: one pass leaves the disk 5 px off; the map its
    # fields agree on, refined over three calls, brings it within reach of the pass.
    plain, _ = overlap(short_reach, None)
    aligned, result = overlap(short_reach, "align")
    assert aligned > 0.97 > 0.85 > plain
    assert abs(float(np.median(result.field[..., 0])) - 8) < 0.5


def test_align_leaves_a_pair_within_reach_as_the_plain_network_does(short_reach):
    plain, first = overlap(short_reach, None, shift=1)
    aligned, second = overlap(short_reach, "align", shift=1)
    assert aligned == plain and np.allclose(first.field, second.field)


def test_align_needs_no_tensorflow_and_the_fitted_kinds_still_do():
    assert RegistrationOptions(prealign="align", engine="numpy").prealign == "align"
    assert choose_engine("auto", 1, "align") in ("numpy", "tensorflow")
    with pytest.raises(InputError, match="prealign fits with TensorFlow"):
        RegistrationOptions(prealign="affine", engine="numpy")
