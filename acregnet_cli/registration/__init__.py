"""Registering pairs with a trained network: the registrar and its two engines."""

from acregnet_cli.registration.engines import (
           NUMPY_ENGINE_MAX_PAIRS,
           NumpyOps,
           TensorFlowOps,
           choose_engine,
)
from acregnet_cli.registration.registrar import PairResult, Registrar, make_registrar

__all__ = ["NUMPY_ENGINE_MAX_PAIRS", "NumpyOps", "PairResult", "Registrar", "TensorFlowOps", "choose_engine",
           "make_registrar"]
