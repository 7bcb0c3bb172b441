"""Everything that imports TensorFlow at module level: operations on fields
(:mod:`~acregnet_cli.tf.ops`), Keras layers, networks, losses, in-graph sampling and the
pre-alignment fit. Importing this package itself imports nothing."""
