"""python -m train bench: training images/s with 1 and 2 replicas, generator images/s at 64 and 128 px.

Runs the real training step (the one python -m train uses) on random images, so the figure is what a run will see
minus data loading. Reports medians over several timed rounds: the machine may be shared, and a median shrugs off
the round in which something else ran.
"""
import argparse
import statistics
import time



def _median_rate(fn, items, rounds):
    fn()  # trace and warm up
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        rates.append(items / (time.perf_counter() - start))
    return statistics.median(rates)


def training_rate(strategy, config, steps, rounds):
    import tensorflow as tf

    from train.loop import Models, make_step

    batch = config["train"]["batch_size"]
    res = config["model"]["resolution"]
    images = tf.data.Dataset.from_tensors(tf.random.uniform([batch, res, res, 3], -1, 1)).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(images))
    models = Models(config, strategy)
    step = make_step(models, strategy, config, batch)
    r1_every = config["train"]["r1_every"]
    p, beta = tf.constant(0.2), tf.constant(0.99)

    def run():
        for i in range(steps):
            metrics = step(iterator, p, beta, i % r1_every == 0)
        float(metrics["d_loss"])  # wait for the last step to finish

    step(iterator, p, beta, True)  # trace before timing (one graph serves the steps with and without R1)
    return _median_rate(run, steps * batch, rounds)


def generation_rate(resolution, width, batch, rounds):
    import model

    generator = model.new_generator(resolution, width=width)
    z = model.seeded_latents(0, batch, generator.z_dim)
    return _median_rate(lambda: generator.generate(z), batch, rounds)


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m train bench")
    parser.add_argument("--steps", type=int, default=8, help="training steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from train.strategy import split_cpu
    split_cpu(2)  # before any TensorFlow op: two logical CPU devices for the 2-replica figure

    import tensorflow as tf

    from train.config import load_config

    config = load_config(flags={"train": {"batch_size": args.batch_size}, "model": {"resolution": 64}})
    width = config["model"]["width"]
    print(f"training at 64 px, width {width}, global batch {args.batch_size}, median of {args.rounds} rounds")
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    two = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"], cross_device_ops=tf.distribute.ReductionToOneDevice())
    train_1 = training_rate(one, config, args.steps, args.rounds)
    print(f"  1 replica : {train_1:7.1f} images/s")
    train_2 = training_rate(two, config, args.steps, args.rounds)
    print(f"  2 replicas: {train_2:7.1f} images/s  ({train_2 / train_1:.2f}x)")
    gen = {}
    for res in (64, 128):
        gen[res] = generation_rate(res, width, 196, args.rounds)
        print(f"generator {res} px, batch 196: {gen[res]:7.1f} images/s")
    print(f"train_1replica={train_1:.1f} train_2replicas={train_2:.1f} gen64={gen[64]:.1f} gen128={gen[128]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(None))
