"""tf.distribute strategies for training: one device, mirrored local devices, several workers.

- ``default``: TensorFlow's default strategy (one device).
- ``mirrored``: ``MirroredStrategy`` over the local GPUs, or over logical CPU
  devices when there is no GPU (``cpu_devices`` splits the CPU, for trials and tests).
- ``multi-worker``: ``MultiWorkerMirroredStrategy`` across machines described by
  the ``TF_CONFIG`` environment variable; every worker runs the same command.

The global batch is split evenly across replicas; only the chief writes the run
directory (the other workers checkpoint to a temporary folder, as tf.distribute
requires every worker to take part in a save).
"""

import json
import os

from acregnet_cli.options import STRATEGIES


def configure_cpu_devices(count):
    """Split the first CPU into ``count`` logical devices (before TensorFlow starts its runtime)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)


def make_strategy(name="default", cpu_devices=None):
    """The strategy called ``name`` (see :data:`STRATEGIES`)."""
    import tensorflow as tf

    from acregnet_cli.errors import InputError

    if name not in STRATEGIES:
        raise InputError(f"unknown strategy '{name}': choose one of {', '.join(STRATEGIES)}")
    if cpu_devices and cpu_devices > 1:
        configure_cpu_devices(cpu_devices)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = [device.name for device in tf.config.list_logical_devices("GPU")]
        return tf.distribute.MirroredStrategy(gpus or [d.name for d in tf.config.list_logical_devices("CPU")])
    if not os.environ.get("TF_CONFIG"):
        raise InputError("--strategy multi-worker needs TF_CONFIG describing the cluster and this worker")
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_identity(strategy):
    """(is_chief, task name) of this process in the strategy's cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not os.environ.get("TF_CONFIG"):
        return True, "chief"
    task_type, task_id = resolver.task_type, resolver.task_id
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    if task_type == "chief" or task_type is None:
        return True, "chief"
    chief = task_type == "worker" and task_id == 0 and "chief" not in cluster
    return chief, f"{task_type}-{task_id}"
