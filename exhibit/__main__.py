"""python -m exhibit [live options] | render ... | bench ... | send ADDRESS [ARGS...]

    python -m exhibit                          the live show, fullscreen (--windowed for a window)
    python -m exhibit render --out show.mp4    the show written to H.264 (.mov: ProRes; a folder: PNGs)
    python -m exhibit bench                    frame rate and generation rate of the real loop
    python -m exhibit soak --minutes 30        the live loop fast-forwarded, watched for memory and fd leaks
    python -m exhibit send /exhibit/mode wave  one OSC message to a running show
    python -m exhibit controller --out show.tosc   a TouchOSC layout for the show
    python -m exhibit service install --user   start the show at login, restart it if it ends or hangs
"""
import argparse
import logging
import os
import signal
import threading
import sys
from pathlib import Path

log = logging.getLogger("exhibit")


def _size(text):
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 1920x1080") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be 16..16384")
    return width, height


def _minutes(text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected minutes, 0 or more, e.g. 1 or 0.5")
    return value


def _common(parser):
    parser.add_argument("--config", type=Path, help="TOML settings (default: configs/exhibit.toml)")
    parser.add_argument("--model", type=Path, help="generator file (default: the bundled one in assets/)")
    parser.add_argument("--seed", type=int, help="fix the show: the same seed gives the same show")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key, e.g. --set show.mode=wave (repeatable)")


def parse(argv):
    command = argv[0] if argv and argv[0] in ("render", "bench", "soak") else None
    program = "permeation-exhibit" if Path(sys.argv[0]).name == "permeation-exhibit" else "python -m exhibit"
    parser = argparse.ArgumentParser(prog=f"{program}{' ' + command if command else ''}",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    if command is None:
        from exhibit.config import OSC_FEEDBACK_PORT, OSC_PORT
        parser.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
        parser.add_argument("--display", type=int, help="which screen (0 is the primary)")
        parser.add_argument("--osc-port", type=int, help=f"UDP port to listen for OSC on (default {OSC_PORT})")
        parser.add_argument("--feedback-port", type=int,
                            help=f"port state changes go back to (default {OSC_FEEDBACK_PORT})")
        parser.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
        parser.add_argument("--fresh", action="store_true",
                            help="start afresh: ignore the state saved by the last run (paths.state)")
    elif command == "render":
        parser.add_argument("--out", type=Path, required=True,
                            help="FILE.mp4 (H.264), FILE.mov (ProRes 422 HQ), or a folder for PNG frames")
        parser.add_argument("--seconds", type=float, default=30.0, help="length (default 30)")
        parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
        parser.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
        parser.add_argument("--crf", type=int, help="H.264 quality for .mp4: 0 best .. 51 worst (default 18)")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
        parser.add_argument("--loop", action="store_true",
                            help="a seamless loop: the last frame flows into the first (no fade in)")
    elif command == "soak":
        parser.add_argument("--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
        parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
        parser.add_argument("--swap-minutes", type=_minutes, default=1.0,
                            help="a model swap every MINUTES (default 1); 0: none, one generator process for "
                                 "the whole run, so its own growth over hours can be measured")
        parser.add_argument("--trace", action="store_true", help="also diff tracemalloc snapshots of the show")
    else:
        parser.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
        parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds (default 20)")
        parser.add_argument("--osc", action="store_true", help="also measure OSC-to-screen latency")
        parser.add_argument("--display", action="store_true",
                            help="draw to a real window on the screen in DISPLAY (default: SDL's dummy driver)")
    args = parser.parse_args(argv[1:] if command else argv)
    args.command = command
    return args


def overrides(args):
    """Flags -> {section: {key: value}}, checked by config.load like the file."""
    from exhibit.config import parse_override

    out = {}
    for text in args.set:
        section, key, value = parse_override(text)
        out.setdefault(section, {})[key] = value
    flags = {("show", "seed"): args.seed, ("model", "path"): str(args.model) if args.model else None,
             ("display", "display"): args.display if args.command is None else None,
             ("osc", "port"): getattr(args, "osc_port", None),
             ("osc", "feedback_port"): getattr(args, "feedback_port", None)}
    if getattr(args, "windowed", False):
        flags[("display", "fullscreen")] = False
    if getattr(args, "no_osc", False):
        flags[("osc", "enabled")] = False
    if args.command in ("bench", "soak"):
        flags[("display", "fullscreen")] = False
        flags[("display", "window_size")] = list(args.size)
        flags[("osc", "enabled")] = getattr(args, "osc", True)
        from exhibit.show.schedule import DAYS
        flags.update({("schedule", day): "open" for day in DAYS})    # a measurement at night measures the show
        flags[("schedule", "restart")] = ""
    for (section, key), value in flags.items():
        if value is not None:
            out.setdefault(section, {})[key] = value
    return out


UPSCALE_TOLERANCE = 1.1   # a bundled model may be shown up to 10% larger than it was trained


def model_path(config, screen_size, bundled=None):
    """The configured model (`model.path`), else the bundled one that best fits the tiles, else None (untrained).

    screen_size: (width, height) in pixels of the window or screen the grid fills. Of the bundled generators
    ({resolution: path}, default: model.bundled_generators()), the smallest that covers the tile's side in pixels
    (scaled down, or up by at most UPSCALE_TOLERANCE, which nobody sees: at 1920x1080 the tiles are 67 px and the
    64 px model is a quarter of the 128 px one's work); if none does, the largest. Logs which and why.
    """
    import model
    from exhibit.screen.compositor import Layout

    if config.model.path:
        log.info("model: %s (model.path)", config.model.path)
        return Path(config.model.path)
    bundled = model.bundled_generators() if bundled is None else bundled
    if not bundled:
        return None
    g = config.grid
    tile = Layout.fit(screen_size, g.rows, g.cols, g.gutter, g.margin).tile
    fitting = [r for r in bundled if r * UPSCALE_TOLERANCE >= tile]
    resolution = min(fitting) if fitting else max(bundled)
    why = "the smallest bundled one that covers" if fitting else "the largest bundled one, for"
    log.info("model: %s (%s the %d px tiles at %dx%d; bundled: %s px)", bundled[resolution], why, tile,
             *screen_size, ", ".join(map(str, bundled)))
    return bundled[resolution]


def screen_size(args, config):
    """(width, height) in pixels the show will fill, known before the display opens: the desktop size when
    fullscreen, else the window (or the --size of render and bench)."""
    if args.command in ("render", "bench"):
        return tuple(args.size)
    if not config.display.fullscreen:
        return tuple(config.display.window_size)
    import pygame

    pygame.display.init()
    sizes = pygame.display.get_desktop_sizes()
    return tuple(sizes[min(config.display.display, len(sizes) - 1)]) if sizes else tuple(config.display.window_size)


def load_generator(config, separate_process, path):
    """The live show draws in a separate process (see exhibit/generation/process.py); a render in this one.
    path: the model file (model_path's choice, or a model loaded over OSC before a restart); None: untrained."""
    import model

    if separate_process:
        from exhibit.generation.process import RemoteGenerator
        return RemoteGenerator(path, threads=config.worker.threads)
    if config.worker.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(config.worker.threads)
    return model.load_generator(path) if path else model.new_generator()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "send":                 # no TensorFlow, no pygame: answer fast
        from exhibit.control import send
        return send.main(argv[1:])
    if argv and argv[0] == "controller":
        from exhibit.control.osc import touchosc
        return touchosc.main(argv[1:])
    if argv and argv[0] == "service":              # start at boot: systemd, launchd, Task Scheduler
        from exhibit.service import command
        return command.main(argv[1:])
    logging.basicConfig(level=logging.INFO, format="exhibit: %(message)s")
    # Ctrl-C and `kill -INT` end the show however it was started: a shell starting it in the background (`&`, an
    # .xinitrc, a script) hands it SIGINT ignored, and Python then leaves it ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from exhibit import heap
    heap.tune()          # before pygame and the first tiles allocate: a C heap that does not creep over weeks
    args = parse(argv)
    if args.command in ("render", "soak") or args.command == "bench" and not args.display:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")    # no screen needed: render draws offscreen
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    _runtime_dir()

    from exhibit import config as settings
    from exhibit.screen.display import DisplayError
    import model

    errors = (settings.ConfigError, model.ModelFileError)
    if args.command == "render":              # only a render needs PyAV and the encoders
        from exhibit.render import RenderError
        errors += (RenderError,)
    try:
        config = settings.load(args.config, overrides(args))
        if args.command == "render":          # every limit of the output is checked before the model loads
            args.plan = _plan(args)
        if args.command is None:          # no screen: say so now, not after the generator process has loaded
            from exhibit.screen.display import init_video
            init_video(config.display)
        configured = model_path(config, screen_size(args, config))     # chosen (and logged) once
        state, path = _saved_state(args, config, configured)
        try:
            generator = load_generator(config, args.command != "render", path or configured)
        except model.ModelFileError as error:
            if path is None:
                raise
            log.warning("state: the model it was drawing cannot be loaded (%s); a fresh start", error)
            state, generator = None, load_generator(config, True, configured)
    except errors + (DisplayError,) as error:
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    if state is not None and state["z_dim"] != generator.z_dim:
        log.warning("state: %s is from a model with latents of %d, this one has %d; a fresh start",
                    config.paths.state, state["z_dim"], generator.z_dim)
        state = None
    from exhibit.show.state import initial_seed
    seed = state["seed"] if state is not None else initial_seed(config.show.seed)
    if args.command is not None:      # render, bench, soak: SIGTERM unwinds like Ctrl-C, so the finally below runs
        signal.signal(signal.SIGTERM, _terminate)
    try:
        if args.command == "render":
            return _render(args, config, generator, seed)
        if args.command == "bench":
            from exhibit import bench
            return bench.run(args, config, generator, seed)
        if args.command == "soak":
            from exhibit import soak
            return soak.run(args, config, generator, seed)
        return _live(config, generator, seed, configured, state)
    except DisplayError as error:
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        generator.close()     # every way out ends the generator process (the app closes those it swapped in)


def _runtime_dir():
    """SDL warns "XDG_RUNTIME_DIR is invalid or not set" when a service or container starts the show without one
    (a technician reads it as a fault): give it a private folder of our own then."""
    current = os.environ.get("XDG_RUNTIME_DIR")
    if sys.platform != "linux" or current and os.path.isdir(current):
        return
    import tempfile
    folder = Path(tempfile.gettempdir()) / f"permeation-runtime-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        if folder.stat().st_uid == os.getuid():
            os.environ["XDG_RUNTIME_DIR"] = str(folder)
    except OSError:
        pass


def _terminate(signum, frame):
    raise KeyboardInterrupt


def _saved_state(args, config, configured):
    """(state to resume or None, model file to draw with or None for the configured one): the live show only.
    configured: model_path's choice (None: untrained)."""
    if args.command is not None:
        return None, None
    if args.fresh:
        log.info("--fresh: starting afresh; the state in %s will be replaced", config.paths.state)
        return None, None
    from exhibit.show import resume
    state, path = resume.load(config.paths.state, configured, config.grid.rows, config.grid.cols)
    if state is None or resume.same_file(path, configured):
        return state, None
    log.info("state: drawing %s again (loaded over OSC before the restart)", path)
    return state, path


def _show_files(config):
    """Say where the show keeps its files, make the models folder, and point at files an older version left here."""
    try:        # the folder a technician drops generator files into for /exhibit/model: make it easy to find
        Path(config.paths.models).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        log.warning("models folder %s cannot be made (%s)", config.paths.models, error)
    log.info("the show's files (state, scenes, screenshots, models) are in %s", config.paths.data)
    for old, now in ((Path("scenes.json"), Path(config.paths.scenes)), (Path("models"), Path(config.paths.models))):
        if old.exists() and old.resolve() != now.resolve():    # left by a version that kept its files here
            log.warning("%s in this folder is not used: the show's files are kept in %s now; move it there (or set "
                        "paths.%s)", old.resolve(), now, old.stem)


def _live(config, generator, seed, configured, state=None):
    from exhibit.live import App
    from exhibit.commands import Quit
    from exhibit.screen.gpu import open_display

    _show_files(config)
    display = open_display(config.display)
    code = 0
    try:
        app = App(config, generator, display, seed)
        app.upkeep.keep_state(config.paths.state, configured, resumed=state)
        # A service manager stopping the show (SIGTERM) gets the same fade-out as the Quit key.
        # Put from a thread of its own: a handler runs on the show's thread, between any two of its steps, and
        # that thread may be holding the queue's lock (applying Commands, queueing a key) at that very moment.
        signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(
            target=app.queue.put, args=(Quit(),), name="sigterm", daemon=True).start())
        app.run()                 # closes every process the show started, however it ends
        code = app.exit_code      # RESTART_EXIT_CODE after the daily restart (exhibit/show/schedule.py)
    except KeyboardInterrupt:
        pass
    finally:
        display.close()
    return code


def _plan(args):
    from exhibit import render

    plan = render.plan(args.out, args.size, args.seconds, args.fps, crf=args.crf, overwrite=args.overwrite)
    print(f"render: {plan.describe()}", file=sys.stderr, flush=True)
    warning = render.check_disk(plan)
    if warning:
        print(f"render: warning: {warning}", file=sys.stderr, flush=True)
    return plan


def _render(args, config, generator, seed):
    from exhibit import render

    plan, timing = args.plan, render.Timing()
    progress = render.Progress(plan, config, timing, sys.stderr)
    try:
        written = render.render(config, generator, plan, seed, progress=progress, timing=timing, loop=args.loop)
    except (OSError, render.RenderError) as error:
        progress.close()
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        progress.close()
        print("exhibit: render stopped; nothing was written", file=sys.stderr)
        return 130
    progress.close()
    width, height = written.size
    rate = f", {written.fps:g} fps" if written.fps else f", {plan.fps:g} fps"
    print(f"wrote {written.frames} frames ({width}x{height}{rate}, seed {seed}) to {plan.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
