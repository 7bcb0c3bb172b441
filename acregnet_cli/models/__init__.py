"""Trained networks on disk: model files, bundled models, one :class:`Model` handle."""

from acregnet_cli.models.files import bundled_models, resolve_model
from acregnet_cli.models.model import Model, load_model

__all__ = ["Model", "bundled_models", "load_model", "resolve_model"]
