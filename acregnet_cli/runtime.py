"""Process-wide set-up: a quiet TensorFlow import, and whether to show its chatter.

TensorFlow is imported only where it is used, so that ``--help``, the NumPy engine
and file checks stay fast; this module imports it once, quietly, for whoever asks.
"""

import os
import sys

# Set by the command line's --debug: TensorFlow's start-up lines are then shown.
DEBUG = False


def import_tensorflow():
    """Import TensorFlow once, hiding the C++ start-up chatter unless :data:`DEBUG`.

    Some of those lines are printed before TensorFlow reads TF_CPP_MIN_LOG_LEVEL,
    so standard error is pointed at /dev/null for the duration of the import.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if DEBUG:
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            import tensorflow as tf

            # The first device query reports a missing CUDA driver on CPU machines.
            tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf
