"""Choosing where training runs: one device, several devices on one machine, or several machines.

All three run the very same training step through `strategy.run`; only the strategy object differs.
"""
import json
import os


class StrategyError(Exception):
    """A distribution setting that cannot work on this machine; the message says what to do."""


def split_cpu(replicas):
    """Present the CPU as `replicas` logical devices, so MirroredStrategy can run without GPUs.

    Must happen before TensorFlow touches any device, i.e. before the first op of the process.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != replicas:
            raise StrategyError(f"cannot split the CPU into {replicas} devices after TensorFlow has started") from None


def make_strategy(name, cpu_replicas=0):
    """Return (strategy, description). `name` is auto, mirrored, multiworker or single.

    Raises StrategyError for a setting that cannot work; those that can be told without TensorFlow (a missing
    TF_CONFIG, --cpu-replicas with another strategy) are raised before it loads, so the mistake is told at once.
    """
    if name == "multiworker":
        if cpu_replicas:
            raise StrategyError("--cpu-replicas does not apply to multiworker: each worker uses its GPUs or its CPU")
        return _multiworker()
    if cpu_replicas and name not in ("mirrored", "auto"):
        raise StrategyError(f"--cpu-replicas {cpu_replicas} needs --strategy mirrored, not {name}")
    import tensorflow as tf

    if cpu_replicas:
        split_cpu(cpu_replicas)
        devices = [f"/cpu:{i}" for i in range(cpu_replicas)]
        # NCCL needs GPUs; on CPUs the gradients are summed on one device, which is cheap at this scale.
        strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
        return strategy, f"mirrored over {cpu_replicas} CPU devices"
    gpus = tf.config.list_physical_devices("GPU")
    if name == "mirrored" or (name == "auto" and len(gpus) >= 2):
        if not gpus:
            raise StrategyError("--strategy mirrored found no GPU: add --cpu-replicas N to mirror over the CPU")
        return tf.distribute.MirroredStrategy(), f"mirrored over {len(gpus)} GPUs"
    device = "/gpu:0" if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device), f"single device {device}"


def _multiworker():
    """MultiWorkerMirroredStrategy, configured by TF_CONFIG as on any TensorFlow cluster."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise StrategyError("--strategy multiworker needs TF_CONFIG (the cluster and this worker's index): "
                            "see README, 'Several machines'")
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        index = int(tf_config["task"]["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise StrategyError(f"TF_CONFIG is not valid ({error}): it needs cluster.worker and task.index") from None
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    return strategy, f"multiworker: worker {index} of {len(workers)}, {strategy.num_replicas_in_sync} replicas"


def is_chief(strategy):
    """Only the chief writes files; on one machine that is the only worker."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in (None, "chief") or (resolver.task_type == "worker" and resolver.task_id == 0)
