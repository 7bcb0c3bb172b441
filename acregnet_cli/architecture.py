"""Facts of the original release's networks, shared by the Keras and NumPy implementations.

Kept free of TensorFlow so that the NumPy inference path imports nothing heavy.
"""

# Batch norm with decay 0.9 and epsilon 1e-5; kernels drawn from a truncated
# normal of standard deviation 0.01 (the original graph's settings).
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
KERNEL_STDDEV = 0.01

# VectorCNN convolutions in the order they are built (and stored by Keras), with widths.
VECTOR_CNN_LAYERS = (
    ("conv1_a", 16), ("conv1_b", 16),
    ("conv2_a", 32), ("conv2_b", 32),
    ("conv3_a", 64), ("conv3_b", 64),
    ("conv4_a", 128), ("conv4_b", 128),
    ("deconv4", 64), ("conv5_a", 64), ("conv5_b", 64),
    ("deconv5", 32), ("conv6_a", 32), ("conv6_b", 32),
    ("deconv6", 16), ("conv7_a", 16), ("conv7_b", 16),
    ("conv_out", 2),
)
