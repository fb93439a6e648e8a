"""Run a few real 2-replica MirroredStrategy steps and report whether every replica holds the same variables.

Run as a separate process (`python tests/replica_probe.py`): splitting the CPU into logical devices must happen
before TensorFlow starts, which a pytest process importing other tests cannot promise.
"""
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train.strategy import make_strategy  # noqa: E402


def main():
    strategy, _ = make_strategy("mirrored", 2)
    import numpy as np
    import tensorflow as tf

    from train.config import load_config
    from train.loop import Models, make_step

    config = load_config(flags={"model": {"resolution": 32, "width": 16}, "train": {"batch_size": 8, "r1_every": 2}})
    images = tf.data.Dataset.from_tensors(tf.random.uniform([8, 32, 32, 3], -1, 1, seed=1)).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(images))
    models = Models(config, strategy)
    step = make_step(models, strategy, config, 8)
    losses, broken = [], []
    before = models.generator.trainable_variables[0].numpy().copy()
    for i in range(4):
        metrics = step(iterator, tf.constant(0.5), tf.constant(0.9), i % 2 == 0)
        losses.append({k: float(v) for k, v in metrics.items() if k != "broken_replicas"})
        broken.append({k: int(v) for k, v in metrics["broken_replicas"].items()})
    differences = {}
    for group, variables in models.groups().items():
        worst = 0.0
        for variable in variables:
            copies = [np.asarray(c.numpy()) for c in strategy.experimental_local_results(variable.value)]
            worst = max(worst, max(float(np.abs(c - copies[0]).max()) for c in copies))
        differences[group] = worst
    moved = float(np.abs(models.generator.trainable_variables[0].numpy() - before).max())
    # A NaN in the second replica's copy of one generator weight: the step must say which replica, not just "NaN".
    kernel = models.generator.trainable_variables[0]
    second = strategy.experimental_local_results(kernel.value)[1]
    second.assign(np.full(second.shape, np.nan, np.float32))
    poisoned = step(iterator, tf.constant(0.5), tf.constant(0.9), False)["broken_replicas"]
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "losses": losses, "differences": differences,
                      "moved": moved, "finite": all(math.isfinite(v) for d in losses for v in d.values()),
                      "broken_replicas": broken, "poisoned": {k: int(v) for k, v in poisoned.items()}}))


if __name__ == "__main__":
    main()
