"""python -m exhibit [live options] | render ... | bench ... | send ADDRESS [ARGS...]

    python -m exhibit                          the live show, fullscreen (--windowed for a window)
    python -m exhibit render --out show.mp4    the show written to a video (or a folder of PNGs)
    python -m exhibit bench                    frame rate and generation rate of the real loop
    python -m exhibit soak --minutes 30        the live loop fast-forwarded, watched for memory and fd leaks
    python -m exhibit send /exhibit/mode wave  one OSC message to a running show
    python -m exhibit service install --user   start the show at login, restart it if it ends or hangs
"""
import argparse
import logging
import os
import signal
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


def _common(parser):
    parser.add_argument("--config", type=Path, help="TOML settings (default: configs/exhibit.toml)")
    parser.add_argument("--model", type=Path, help="generator file (default: the bundled one in assets/)")
    parser.add_argument("--seed", type=int, help="fix the show: the same seed gives the same show")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override any config key, e.g. --set show.mode=wave (repeatable)")


def parse(argv):
    command = argv[0] if argv and argv[0] in ("render", "bench", "soak") else None
    parser = argparse.ArgumentParser(prog=f"python -m exhibit{' ' + command if command else ''}",
                                     description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    if command is None:
        parser.add_argument("--windowed", action="store_true", help="a window instead of fullscreen")
        parser.add_argument("--display", type=int, help="which screen (0 is the primary)")
        parser.add_argument("--osc-port", type=int, help="UDP port to listen for OSC on (default 8000)")
        parser.add_argument("--feedback-port", type=int, help="port state changes go back to (default 9000)")
        parser.add_argument("--no-osc", action="store_true", help="do not listen for OSC")
    elif command == "render":
        parser.add_argument("--out", type=Path, required=True, help="FILE.mp4, or a folder for PNG frames")
        parser.add_argument("--seconds", type=float, default=30.0, help="length (default 30)")
        parser.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
        parser.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
    elif command == "soak":
        parser.add_argument("--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
        parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
        parser.add_argument("--trace", action="store_true", help="also diff tracemalloc snapshots of the show")
    else:
        parser.add_argument("--size", type=_size, default=(1920, 1080), help="WIDTHxHEIGHT (default 1920x1080)")
        parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds (default 20)")
        parser.add_argument("--osc", action="store_true", help="also measure OSC-to-screen latency")
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
             ("display", "display"): getattr(args, "display", None),
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
    for (section, key), value in flags.items():
        if value is not None:
            out.setdefault(section, {})[key] = value
    return out


def model_path(config):
    """The configured model, else the bundled default, else None: an untrained one (the show says so)."""
    import model

    if config.model.path:
        return Path(config.model.path)
    default = model.default_generator_path()
    return default if default.exists() else None


def load_generator(config, separate_process):
    """The live show draws in a separate process (see exhibit/generator_process.py); a render in this one."""
    import model

    path = model_path(config)
    if separate_process:
        from exhibit.generation.process import RemoteGenerator
        return RemoteGenerator(path, threads=config.worker.threads)
    if config.worker.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(config.worker.threads)
    return model.load_generator(path) if path else model.new_generator(64)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "send":                 # no TensorFlow, no pygame: answer fast
        from exhibit.control import send
        return send.main(argv[1:])
    if argv and argv[0] == "service":              # start at boot: systemd, launchd, Task Scheduler
        from exhibit.service import command
        return command.main(argv[1:])
    logging.basicConfig(level=logging.INFO, format="exhibit: %(message)s")
    args = parse(argv)
    if args.command in ("render", "bench", "soak"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")    # no screen needed: render draws offscreen
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    _runtime_dir()

    from exhibit import config as settings
    from exhibit.screen.display import DisplayError
    import model

    try:
        config = settings.load(args.config, overrides(args))
        if args.command is None:          # no screen: say so now, not after the generator process has loaded
            from exhibit.screen.display import init_video
            init_video(config.display)
        generator = load_generator(config, separate_process=args.command != "render")
    except (settings.ConfigError, model.ModelFileError, DisplayError) as error:
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    from exhibit.show.state import initial_seed
    seed = initial_seed(config.show.seed)
    if args.command is not None:      # render and bench: SIGTERM unwinds like Ctrl-C, so the finally below runs
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
        return _live(config, generator, seed)
    except DisplayError as error:
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if hasattr(generator, "close"):     # every way out ends the generator process (the app closes it too)
            generator.close()


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


def _live(config, generator, seed):
    from exhibit.live import App
    from exhibit.commands import Quit
    from exhibit.screen.gpu import open_display

    display = open_display(config.display)
    try:
        app = App(config, generator, display, seed)
        # A service manager stopping the show (SIGTERM) gets the same fade-out as the Quit key.
        signal.signal(signal.SIGTERM, lambda signum, frame: app.queue.put(Quit()))
        app.run()                 # closes every process the show started, however it ends
    except KeyboardInterrupt:
        pass
    finally:
        display.close()
    return 0


def _render(args, config, generator, seed):
    from exhibit.render import render

    total = round(args.seconds * args.fps)
    width, height = args.size

    def progress(n):
        if n % max(1, total // 20) == 0 or n == total:
            print(f"\rrender: {n}/{total} frames", end="" if n < total else "\n", file=sys.stderr, flush=True)

    try:
        count = render(config, generator, args.out, args.size, args.seconds, args.fps, seed, progress=progress)
    except OSError as error:
        print(f"exhibit: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {count} frames ({width}x{height}, {args.fps:g} fps, seed {seed}) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
