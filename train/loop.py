"""The training loop: a folder of images in, RUN_DIR/generator.keras out.

Read top to bottom: build the models inside the strategy's scope, define one distributed step (discriminator, then
generator, then the moving average), then loop: step, report, sample, checkpoint. Runs unchanged on one CPU, on
several GPUs (MirroredStrategy) and on several machines (MultiWorkerMirroredStrategy).
"""
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import model
from model import atomic
from model.networks import build_discriminator, build_generator
from train import checkpoint, sheets
from train.augment import adjust_probability, augment
from train.checkpoint import ARCHITECTURE_KEYS
from train.data import make_tf_dataset
from train.stop import StopRequest
from train.strategy import is_chief

SAMPLE_SEED = 2021  # the sample sheets always show the same latents, so you watch the same pictures improve


class Models:
    """Everything that trains, created inside the strategy's scope so each variable is mirrored on every replica."""

    def __init__(self, config, strategy):
        m, t = config["model"], config["train"]
        architecture = {k: m[k] for k in ARCHITECTURE_KEYS}
        with strategy.scope():
            self.generator = build_generator(**architecture, seed=t["seed"])
            self.discriminator = build_discriminator(m["resolution"], m["width"], seed=t["seed"] + 1)
            self.ema = build_generator(**architecture, seed=t["seed"])   # same seed: starts equal to the generator
            # Adam with beta_1 = 0, as in StyleGAN2: momentum makes the two-player game oscillate.
            self.g_opt = keras.optimizers.Adam(t["g_lr"], beta_1=0.0, beta_2=0.99, epsilon=1e-8)
            self.d_opt = keras.optimizers.Adam(t["d_lr"], beta_1=0.0, beta_2=0.99, epsilon=1e-8)
            # Built eagerly inside the scope: a lazily built optimizer fails inside the traced step (Keras 3).
            self.g_opt.build(self.generator.trainable_variables)
            self.d_opt.build(self.discriminator.trainable_variables)

    def groups(self):
        """Every variable a checkpoint must hold, by name, in a fixed order."""
        return {"generator": self.generator.weights, "discriminator": self.discriminator.weights,
                "ema": self.ema.weights, "g_opt": self.g_opt.variables, "d_opt": self.d_opt.variables}


def make_step(models, strategy, config, global_batch):
    """The distributed training step: returns step(iterator, p, ema_beta, with_r1) -> metrics.

    p and ema_beta: float32 scalar tensors; with_r1: a bool (or bool tensor), whether this step adds the R1 penalty.
    The step is traced once, on its first call, and the same graph serves steps with and without R1.
    """
    G, D, ema = models.generator, models.discriminator, models.ema
    t = config["train"]
    local_batch = global_batch // strategy.num_replicas_in_sync
    r1_weight = t["r1_gamma"] / 2 * t["r1_every"]

    def average(per_sample):
        # Divide by the global batch, not the local one: the optimizer sums gradients across replicas.
        return tf.nn.compute_average_loss(per_sample, global_batch_size=global_batch)

    def judge(images):
        # Logits in float32 even under mixed precision: the losses need the range.
        return tf.cast(D(images)[:, 0], tf.float32)

    def discriminator_step(real, p, with_r1):
        z = tf.random.normal([local_batch, G.z_dim])
        with tf.GradientTape() as tape:
            fake_logits = judge(augment(G(z, training=True), p))
            real_augmented = augment(real, p)
            with tf.GradientTape() as r1_tape:
                r1_tape.watch(real_augmented)
                real_logits = judge(real_augmented)
                real_total = tf.reduce_sum(real_logits)

            def r1_penalty():
                # R1 (Mescheder et al. 2018): penalise the slope of D at real images, so it cannot grow arbitrarily
                # sharp. Float32 [local_batch].
                slope = r1_tape.gradient(real_total, real_augmented)
                return tf.reduce_sum(tf.square(slope), axis=[1, 2, 3])

            # Lazy R1 (StyleGAN2, Karras et al. 2020): a tf.cond on the flag tensor, so one trace serves the steps
            # with and without it, and a step without R1 skips its cost.
            r1 = tf.cond(with_r1, r1_penalty, lambda: tf.zeros([local_batch]))
            adversarial = tf.nn.softplus(fake_logits) + tf.nn.softplus(-real_logits)
            loss = average(adversarial + r1_weight * r1)
        grads = tape.gradient(loss, D.trainable_variables)
        models.d_opt.apply_gradients(zip(grads, D.trainable_variables))
        return average(adversarial), average(r1), tf.reduce_sum(tf.sign(real_logits))

    def generator_step(p):
        z = tf.random.normal([local_batch, G.z_dim])
        with tf.GradientTape() as tape:
            w = G.map(z)
            logits = judge(augment(G.synthesize(w, training=True), p))
            loss = average(tf.nn.softplus(-logits))
        grads = tape.gradient(loss, G.trainable_variables)
        models.g_opt.apply_gradients(zip(grads, G.trainable_variables))
        return loss, tf.reduce_sum(w, axis=0)

    def update_average(ema_beta, w_sum):
        # In cross-replica context: the same value is written to every replica's copy, so they stay identical.
        for average_var, var in zip(ema.trainable_variables, G.trainable_variables):
            average_var.assign(var + (average_var - var) * ema_beta)
        ema.w_avg.assign(w_sum / global_batch + (ema.w_avg - w_sum / global_batch) * 0.995)

    def reduce(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

    def count_broken(*values):
        # 1 on a replica where a loss or a weight is NaN or infinite; summed, the number of such replicas.
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(tf.cast(v, tf.float32))) for v in values])
        return tf.cast(tf.logical_not(finite), tf.int32)

    def check_weights():
        # In replica context each replica reads its own copy: one pass over the weights and the optimisers' moments
        # (which can overflow while the weights still look fine), cheap next to a step.
        return count_broken(*G.weights, *D.weights, *ema.weights, *models.g_opt.variables, *models.d_opt.variables)

    def step(iterator, p, ema_beta, with_r1):
        real = next(iterator)
        d_loss, r1, real_signs = strategy.run(discriminator_step, args=(real, p, with_r1))
        g_loss, w_sum = strategy.run(generator_step, args=(p,))
        w_sum = reduce(w_sum)
        update_average(ema_beta, w_sum)
        broken = {"D loss": strategy.run(count_broken, args=(d_loss,)),
                  "G loss": strategy.run(count_broken, args=(g_loss,)),
                  "R1 penalty": strategy.run(count_broken, args=(r1,)),
                  "weights": strategy.run(check_weights)}
        return {"d_loss": reduce(d_loss), "g_loss": reduce(g_loss), "r1": reduce(r1),
                "real_sign": reduce(real_signs) / global_batch,
                "broken_replicas": {name: reduce(count) for name, count in broken.items()}}

    traced = tf.function(step)

    def run_step(iterator, p, ema_beta, with_r1):
        # A Python bool would trace one graph per value; a tensor keeps it to one.
        return traced(iterator, p, ema_beta, tf.constant(with_r1, tf.bool))

    return run_step


def format_duration(seconds):
    seconds = int(max(seconds, 0))
    h, m = divmod(seconds // 60, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{seconds % 60:02d}s"


class TrainingDiverged(Exception):
    """A loss or weight became NaN or infinite; nothing from that step on was saved. The message says what to try."""


LOSS_KEYS = ("d_loss", "g_loss", "r1")


def train(config, dataset, run_dir, strategy, strategy_description, log=print):
    """Train (or resume) a run on `dataset` (data.load_dataset's, at the model's resolution). Returns 0 when the run
    reached its steps, 130 when stopped by a signal.

    Raises ValueError for settings a run folder cannot take and TrainingDiverged at the first NaN or infinity,
    leaving the last good checkpoint and generator file as they were.
    """
    run_dir = Path(run_dir)
    chief = is_chief(strategy)
    m, t, o, a = config["model"], config["train"], config["output"], config["augment"]
    replicas = strategy.num_replicas_in_sync
    global_batch = t["batch_size"]
    if global_batch % replicas:
        raise ValueError(f"--batch-size {global_batch} must be a multiple of the {replicas} replicas")

    # `python -m train` refused a resume that cannot work before TensorFlow loaded; this says what else changed.
    latest = checkpoint.check_resume(run_dir, config, log)
    if chief:
        _remove_leftovers(run_dir, log)
    log(f"{strategy_description}; global batch {global_batch} ({global_batch // replicas} per replica)")

    models = Models(config, strategy)
    state = {"images_seen": 0, "augment_p": 0.0, "wall_seconds": 0.0}
    if latest is not None:
        state.update(checkpoint.restore(latest, models.groups()))
        # The restore brought back the optimisers' old learning rates with their moments; the configured ones win.
        models.g_opt.learning_rate.assign(t["g_lr"])
        models.d_opt.learning_rate.assign(t["d_lr"])
        log(f"resuming from {latest.name} at step {state['step']}")
    state.pop("settings", None)
    state.update(dataset=dataset.name, images=len(dataset.images))
    start_step = int(state.get("step", 0))
    last_saved = start_step if latest is not None else None
    if start_step >= t["steps"]:
        log(f"already at step {start_step} of {t['steps']}: nothing to do (raise --steps to train longer)")
        return 0

    # A resumed run shuffles anew from its step, so it does not replay the start of the data.
    data = make_tf_dataset(dataset.images, global_batch, seed=t["seed"] + start_step, mirror=config["data"]["mirror"])
    iterator = iter(strategy.experimental_distribute_dataset(data))
    step_fn = make_step(models, strategy, config, global_batch)
    drawer = model.LoadedGenerator(models.ema)
    sample_z = model.seeded_latents(SAMPLE_SEED, 64, m["z_dim"])
    writer = tf.summary.create_file_writer(str(run_dir / "logs")) if chief else tf.summary.create_noop_writer()
    stop = StopRequest(log)

    def metadata(step):
        return {"steps": step, "images_seen": state["images_seen"], "dataset": state["dataset"],
                "images": state["images"], "strategy": strategy_description, "replicas": replicas,
                "training": {k: config[k] for k in ("model", "train", "augment")}}

    def save(step):
        nonlocal last_saved
        last_saved = step
        if not chief:
            return
        # The settings bind the folder only now that there is a checkpoint to resume: a start that failed earlier
        # leaves nothing that would refuse a corrected command.
        _write_settings(run_dir, config)
        checkpoint.save(run_dir, step, models.groups(), {**state, "settings": config}, keep=o["keep_checkpoints"])
        model.save_generator(models.ema, run_dir / "generator.keras", metadata(step))

    step, p = start_step, float(state["augment_p"])
    last_report = time.monotonic()
    # The first step traces the training step: speed is measured from its end, over at least one R1 cycle, so the
    # first figures are not dominated by tracing.
    speed_from = None   # (time, images seen) where the speed measurement starts
    session_start = time.monotonic()
    wall_at_start = state["wall_seconds"]
    metrics = {}
    while step < t["steps"] and stop.signal is None:
        stop.step, stop.last_saved = step, last_saved
        # The average's half-life ramps up with training, so early samples are not a blur of random weights.
        ema_images = min(t["ema_images"], max(state["images_seen"] * 0.1, global_batch))
        ema_beta = 0.5 ** (global_batch / ema_images)
        with_r1 = step % t["r1_every"] == 0
        metrics = step_fn(iterator, tf.constant(p, tf.float32), tf.constant(ema_beta, tf.float32), with_r1)
        step += 1
        _check_finite(metrics, step, replicas, last_saved, run_dir, t)
        metrics = {k: v for k, v in metrics.items() if k in LOSS_KEYS or k == "real_sign"}
        state["images_seen"] += global_batch
        real_sign = float(metrics["real_sign"])
        p = adjust_probability(p, real_sign, global_batch, a["target"], a["speed_images"], a["max_p"])
        state["augment_p"] = p
        state["wall_seconds"] = wall_at_start + time.monotonic() - session_start

        now = time.monotonic()
        if step == start_step + 1:
            speed_from = (now, state["images_seen"])
            log(f"step {step}/{t['steps']}  training step ready after {now - last_report:.0f} s")
            last_report = now
        elif (speed_from and now - last_report >= o["log_every_seconds"]) or step == t["steps"]:
            values = {k: float(v) for k, v in metrics.items() if k in LOSS_KEYS}
            measured = state["images_seen"] - speed_from[1] if speed_from else 0
            rate = measured / max(now - speed_from[0], 1e-9) if speed_from else 0.0
            speed_known = measured >= t["r1_every"] * global_batch
            eta = (t["steps"] - step) * global_batch / max(rate, 1e-9)
            log(f"step {step}/{t['steps']}" + (f"  {rate:.0f} img/s" if speed_known else "")
                + f"  D {values['d_loss']:.3f}  G {values['g_loss']:.3f}  R1 {values['r1']:.3f}  aug {p:.2f}"
                + (f"  ETA {format_duration(eta)}" if speed_known else ""))
            with writer.as_default(step=step):
                for k, v in values.items():
                    tf.summary.scalar(f"loss/{k}", v)
                tf.summary.scalar("augment/p", p)
                if speed_known:
                    tf.summary.scalar("speed/images_per_second", rate)
            last_report = now
        if chief and (step % o["sample_every"] == 0 or step == t["steps"]):
            sheet = sheets.grid(drawer.generate(sample_z, noise=np.arange(len(sample_z))), columns=8)
            sheet = sheets.labelled(sheet, f"step {step:,}")
            sheets.save_png(sheet, run_dir / "samples" / f"step-{step:08d}.png")
            sheets.save_png(sheets.progress_strip((run_dir / "samples").glob("step-*.png"), m["resolution"]),
                            run_dir / "progress.png")
            with writer.as_default(step=step):
                tf.summary.image("samples", sheet[None], max_outputs=1)
        if step % o["checkpoint_every"] == 0:
            save(step)

    save(step)
    finished = step >= t["steps"]
    if chief:
        quality = {}
        if finished:
            _final_pictures(drawer, run_dir)
            quality = _quality(drawer, dataset.images)
            log("quality: " + "  ".join(f"{k} {v:.3g}" for k, v in quality.items()))
        learning_rates = {"g": float(models.g_opt.learning_rate.numpy()), "d": float(models.d_opt.learning_rate.numpy())}
        _write_summary(run_dir, step, state, replicas, strategy_description, metrics, finished, quality,
                       learning_rates)
    if not finished:
        log(f"stopped at step {step}: checkpoint saved. Run the same command to resume.")
        return 130
    log(f"done: {run_dir / 'generator.keras'} (step {step}, {state['images_seen']} images seen, "
        f"{format_duration(state['wall_seconds'])})")
    log(f"next: python -m exhibit --model {run_dir / 'generator.keras'}")
    return 0


def _check_finite(metrics, step, replicas, last_saved, run_dir, t):
    """Raise TrainingDiverged if any replica saw a NaN or infinite loss or weight in this step.

    Checked every step, before anything is drawn or saved, so no checkpoint, sample sheet or generator file is ever
    written from a broken model.
    """
    broken = {name: int(count) for name, count in metrics["broken_replicas"].items() if int(count)}
    if not broken:
        return
    values = {"D loss": metrics["d_loss"], "G loss": metrics["g_loss"], "R1 penalty": metrics["r1"]}
    what = ", ".join(f"{name} {float(values[name]) if name in values else 'NaN/inf'} on {count} of {replicas} "
                     f"replica{'s' if replicas > 1 else ''}" for name, count in broken.items())
    kept = (f"{run_dir / 'checkpoints'} and {run_dir / 'generator.keras'} still hold step {last_saved}"
            if last_saved else "nothing was saved")
    raise TrainingDiverged(
        f"training diverged at step {step}: {what}. Stopped without saving; {kept}. Try a lower learning rate "
        f"(train.g_lr {t['g_lr']:g} and train.d_lr {t['d_lr']:g}, e.g. ten times lower) or a larger R1 gamma "
        f"(train.r1_gamma {t['r1_gamma']:g}, e.g. ten times larger) in a --config file, then run again"
        + (f": it resumes from step {last_saved}" if last_saved else ""))


def _write_settings(run_dir, config):
    """RUN_DIR/run.json: the settings of the latest checkpoint, for people and `python -m train export`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = run_dir / "run.json"
    atomic.write_text(settings, json.dumps(config, indent=2) + "\n")   # other workers may be reading it


def _remove_leftovers(run_dir, log):
    """Delete the temporary files a killed run left half-written; files of a writer still running are kept."""
    found = []
    for folder in (run_dir, checkpoint.checkpoint_dir(run_dir), run_dir / "samples"):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = atomic.TEMPORARY.match(path.name)   # the atomic writers' temporary names carry the writer's pid
            if match and path.is_file() and not _process_alive(int(match["pid"])):
                found.append((path, path.stat().st_size))
                path.unlink(missing_ok=True)
    if found:
        megabytes = sum(size for _, size in found) / 1e6
        names = ", ".join(str(path.relative_to(run_dir)) for path, _ in found)
        log(f"removed {len(found)} temporary file{'s' if len(found) > 1 else ''} left by an interrupted run "
            f"({megabytes:.0f} MB): {names}")


def _process_alive(pid):
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _final_pictures(drawer, run_dir):
    """A 14x14 contact sheet, as the exhibit shows it, and an interpolation strip."""
    tiles = drawer.generate(model.seeded_latents(SAMPLE_SEED + 1, 196, drawer.z_dim), noise=np.arange(196))
    sheets.save_png(sheets.grid(tiles, columns=14), run_dir / "contact-sheet.png")
    strip, steps = sheets.interpolation_images(drawer, SAMPLE_SEED + 2)
    sheets.save_png(sheets.grid(strip, columns=steps), run_dir / "interpolation.png")


def _quality(drawer, real, samples=512):
    """Quick figures of `python -m train evaluate` on a few hundred samples, so a finished run says how it did."""
    from train import evaluate

    pick = np.random.default_rng(0).permutation(len(real))[:samples]
    real = real[pick]
    fake = drawer.generate(model.seeded_latents(SAMPLE_SEED + 3, len(real), drawer.z_dim), noise=np.arange(len(real)))
    return {"swd": evaluate.sliced_wasserstein(real, fake)["swd"],
            "memorisation_ratio": evaluate.memorisation(fake, real)["ratio"],
            "smoothness_max_over_mean": evaluate.interpolation_smoothness(drawer, seed=SAMPLE_SEED)["max_over_mean"]}


def _write_summary(run_dir, step, state, replicas, strategy_description, metrics, finished, quality,
                   learning_rates):
    summary = {"step": step, "finished": finished, "images_seen": state["images_seen"], "replicas": replicas,
               "strategy": strategy_description, "wall_seconds": round(state["wall_seconds"], 1),
               "augment_p": round(state["augment_p"], 4), "learning_rates": learning_rates,
               "last_losses": {k: round(float(v), 5) for k, v in metrics.items()},
               "quality": {k: round(float(v), 4) for k, v in quality.items()}}
    atomic.write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
