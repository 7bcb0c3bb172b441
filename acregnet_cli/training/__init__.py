"""Two-stage training: the mask autoencoder, then the registration network."""

from acregnet_cli.training.autoencoder import (
           evaluate_autoencoder,
           train_autoencoder,
)
from acregnet_cli.training.loop import affine_augmentation, learning_rate_schedule
from acregnet_cli.training.registration import (
           VARIANTS,
           train_registration,
           variant_weights,
)

__all__ = ["VARIANTS", "affine_augmentation", "evaluate_autoencoder", "learning_rate_schedule", "train_autoencoder",
           "train_registration", "variant_weights"]
