"""The NumPy engine: :mod:`acregnet_cli.np.ops` (the operations of
:mod:`acregnet_cli.tf.ops` under the same names) and the NumPy VectorCNN; no TensorFlow."""
