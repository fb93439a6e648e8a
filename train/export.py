"""python -m train export RUN_DIR --out PATH [--step N]: a generator file from any checkpoint of a run.

RUN_DIR/generator.keras is refreshed at every checkpoint already; this is for an earlier checkpoint you liked better,
or for a run whose export went missing. Only the averaged generator is read, on the CPU, without a strategy.
"""
import argparse
import json
import sys
from pathlib import Path


def main(argv):
    parser = argparse.ArgumentParser(prog="python -m train export")
    parser.add_argument("run_dir", help="a run folder made by python -m train")
    parser.add_argument("--out", required=True, help="where to write the generator (.keras)")
    parser.add_argument("--step", type=int, help="export this checkpoint's step (default: the latest)")
    args = parser.parse_args(argv)

    from train import checkpoint
    from train.checkpoint import ARCHITECTURE_KEYS

    run_dir = Path(args.run_dir)
    settings = run_dir / "run.json"
    if not settings.exists():
        print(f"error: {run_dir} is not a run folder (no run.json): give the --out folder of python -m train",
              file=sys.stderr)
        return 2
    config = json.loads(settings.read_text())
    if args.step is None:
        path = checkpoint.latest(run_dir)
        if path is None:
            print(f"error: {run_dir} has no usable checkpoint yet", file=sys.stderr)
            return 2
    else:
        path = checkpoint.checkpoint_dir(run_dir) / f"step-{args.step:08d}.npz"
        if not path.exists():
            steps = [int(p.stem.split("-")[1]) for p in checkpoint.all_checkpoints(run_dir)]
            print(f"error: no checkpoint at step {args.step} in {run_dir}; there are {steps}", file=sys.stderr)
            return 2
    if not args.out.endswith(".keras"):
        print(f"error: --out {args.out} must end in .keras", file=sys.stderr)
        return 2

    # Every mistake above, a broken checkpoint and a diverged one are told before TensorFlow loads (seconds, not ten).
    try:
        checkpoint.read_state(path)             # raises for an incomplete or corrupt file
        finite = checkpoint.finite(path, "ema")
    except checkpoint.CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not finite:
        print(f"error: {path}: the weights hold NaN or infinite values (its training diverged); export an earlier "
              f"step (--step N)", file=sys.stderr)
        return 2

    import model
    from model.networks import build_generator

    ema = build_generator(**{k: config["model"][k] for k in ARCHITECTURE_KEYS})
    try:
        state = checkpoint.restore(path, {"ema": ema.weights})
    except checkpoint.CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    metadata = {"steps": state["step"], "images_seen": state.get("images_seen"), "dataset": state.get("dataset"),
                "images": state.get("images"),
                "training": {k: config[k] for k in ("model", "train", "augment")}}
    out = model.save_generator(ema, args.out, metadata)
    print(f"wrote {out} (step {state['step']})")
    return 0
