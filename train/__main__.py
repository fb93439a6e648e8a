"""python -m train --data DIR --out RUN_DIR [flags]   (and: export, evaluate, bench)"""
import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

USAGE = """python -m train --data DIR --out RUN_DIR [--config FILE] [flags]   train, or resume a run
       python -m train export RUN_DIR --out PATH [--step N]               write a generator file
       python -m train evaluate MODEL --data DIR                           quality figures
       python -m train bench                                               training and generation speed"""

FLAGS = {  # flag -> (section, key, type)
    "steps": ("train", "steps", int), "batch_size": ("train", "batch_size", int), "seed": ("train", "seed", int),
    "resolution": ("model", "resolution", int), "width": ("model", "width", int),
    "strategy": ("distribution", "strategy", str), "cpu_replicas": ("distribution", "cpu_replicas", int),
    "checkpoint_every": ("output", "checkpoint_every", int), "sample_every": ("output", "sample_every", int),
}


def train_main(argv):
    parser = argparse.ArgumentParser(prog="python -m train", usage=USAGE,
                                     description="Train a generator on a folder of images.")
    parser.add_argument("--data", required=True, help="folder of images (searched recursively; never written to)")
    parser.add_argument("--out", required=True, help="run folder: checkpoints, samples, logs, generator.keras")
    parser.add_argument("--config", help="TOML file of settings (see configs/train/default.toml)")
    for flag, (section, key, kind) in FLAGS.items():
        parser.add_argument("--" + flag.replace("_", "-"), type=kind, help=f"overrides {section}.{key}")
    parser.add_argument("--mixed-precision", action="store_true", default=None,
                        help="bfloat16 compute on GPUs (ignored on CPU)")
    args = parser.parse_args(argv)

    from train.checkpoint import check_resume
    from train.config import ConfigError, load_config
    from train.data import DataError, load_dataset
    from train.strategy import StrategyError, make_strategy

    flags = {}
    for flag, (section, key, _) in FLAGS.items():
        if getattr(args, flag) is not None:
            flags.setdefault(section, {})[key] = getattr(args, flag)
    if args.mixed_precision:
        flags.setdefault("distribution", {})["mixed_precision"] = True
    try:
        config = load_config(args.config, flags)
        # Told before TensorFlow loads (seconds, not the ten it takes to start): a run folder whose checkpoints
        # cannot take these settings (train() says what else changed), a data folder that is missing or holds too
        # few usable images. The images are decoded here, once: training never reads the folder again.
        check_resume(args.out, config, log=lambda line: None)
        dataset = load_dataset(args.data, config["model"]["resolution"], min_images=config["data"]["min_images"],
                               background=tuple(config["data"]["background"]))
        distribution = config["distribution"]
        strategy, description = make_strategy(distribution["strategy"], distribution["cpu_replicas"])
    except (ConfigError, StrategyError, DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    _set_precision(distribution["mixed_precision"])

    from train.checkpoint import CheckpointError
    from train.loop import TrainingDiverged, train

    try:
        return train(config, dataset, args.out, strategy, description)
    except (CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:   # before the first step there is nothing to save
        print("stopped before training began; nothing was written", file=sys.stderr)
        return 130


def _set_precision(mixed):
    import keras
    import tensorflow as tf

    if not mixed:
        return
    if not tf.config.list_physical_devices("GPU"):
        print("note: mixed precision needs a GPU; training in float32")
        return
    # bfloat16 keeps float32's range, so no loss scaling is needed.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")


def main(argv=None):
    from train.children import from_environment
    from_environment()        # started by an owner (a cluster launcher): end with it, even after its kill -9
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv else ""
    if command == "export":
        from train.export import main as export_main
        return export_main(argv[1:])
    if command == "evaluate":
        from train.evaluate import main as evaluate_main
        return evaluate_main(argv[1:])
    if command == "bench":
        from train.bench import main as bench_main
        return bench_main(argv[1:])
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
