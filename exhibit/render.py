"""Headless render: the show written to H.264 (.mp4), ProRes 422 HQ (.mov) or a folder of PNGs, frame-exact.

    python -m exhibit render --out show.mp4 --seconds 30 --fps 30 --size 1920x1080 --seed 7

The same Stage as the live show, with a fixed clock: frame n is show wall time n / fps. Unlike the live show
(which never waits) the render generates, before drawing a frame, every true frame that picture needs, on a
fixed grid of show times (`[render] tile_rate` per second). So the same seed, config and commands give the
same pixels, whatever the machine's speed.

Files are written through PyAV (FFmpeg's libraries; its wheels bring libx264 and prores_ks). Every limit of the
chosen format is checked by `plan` before a model loads; the output is written under a temporary name, opened
again and checked (frame count, size, frame rate), and only then renamed into place: what is reported is what
was written, and a failed render leaves no half-written file behind.
"""
import logging
import math
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pygame

from exhibit.show.clock import FixedClock
from exhibit.stage import Stage
from exhibit.generation.worker import GridSchedule

log = logging.getLogger("exhibit")

MAX_FPS = 240.0
DEFAULT_CRF = 18            # x264's constant rate factor: 0 best .. 51 worst; ~18 looks like the source


class RenderError(ValueError):
    """A render that cannot be made as asked; the one-line message names the limit and the way out."""


@dataclass(frozen=True)
class Format:
    """What a container and codec accept. Limits: H.264 level 6.2 (ITU-T H.264 Table A-1: 139,264 macroblocks
    per frame, 8192 px a side in practice); ProRes up to 8K (Apple ProRes white paper); PNG frames as large as
    --size allows."""
    name: str
    codec: str | None           # FFmpeg encoder; None: PNG files
    pix_fmt: str | None
    even_width: bool
    even_height: bool
    max_side: int
    max_pixels: int
    bytes_per_pixel: float      # disk estimate: measured on renders of the default model (crf 18), rounded up


H264 = Format("H.264 (yuv420p)", "libx264", "yuv420p", True, True, 8192, 139_264 * 256, 0.012)
PRORES = Format("ProRes 422 HQ (yuv422p10le)", "prores_ks", "yuv422p10le", True, False, 8192, 8192 * 4320, 0.45)
PNG = Format("PNG frames (lossless)", None, None, False, False, 16384, 16384 * 16384, 0.5)
FORMATS = {".mp4": H264, ".mov": PRORES}
FRAME_NAME = re.compile(r"frame_\d{6}\.png")


@dataclass(frozen=True)
class Plan:
    """A render checked against every limit, before anything is drawn. frames = round(seconds * fps)."""
    out: Path
    format: Format
    size: tuple
    seconds: float
    fps: float
    frames: int
    crf: int | None
    overwrite: bool

    @property
    def rate(self):
        """The frame rate as the exact fraction the container stores: 25 -> 25/1, and the NTSC-family rates that
        editors and media servers expect (SMPTE ST 12-1): 23.976 -> 24000/1001, 29.97 -> 30000/1001, 59.94."""
        ntsc = round(self.fps * 1001 / 1000)
        if ntsc != self.fps and abs(self.fps * 1001 / 1000 - ntsc) < 1e-3:
            return Fraction(ntsc * 1000, 1001)
        return Fraction(self.fps).limit_denominator(1001)

    def disk_bytes(self):
        width, height = self.size
        scale = 1.0 if self.format is not H264 else 2.0 ** ((DEFAULT_CRF - self.crf) / 6)   # x264: 6 crf = 2x
        return width * height * self.frames * self.format.bytes_per_pixel * scale

    def describe(self):
        """One line: what will be written, how many frames, and about how much disk it takes."""
        width, height = self.size
        codec = f"{self.format.name}, crf {self.crf}" if self.crf is not None else self.format.name
        return (f"{self.frames} frames ({self.seconds:g} s at {self.fps:g} fps), {width}x{height}, {codec}, "
                f"about {human_bytes(self.disk_bytes())} -> {self.out}")


def human_bytes(n):
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000


def human_seconds(s):
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def plan(out, size, seconds, fps, crf=None, overwrite=False):
    """Check a render against every limit of its format and destination; returns a Plan or raises RenderError.

    out: FILE.mp4 (H.264), FILE.mov (ProRes 422 HQ) or a folder (PNG frames). size: (width, height) in pixels.
    seconds, fps: > 0. crf: 0..51, .mp4 only (default 18). overwrite: replace an existing file (or a folder of
    frame_NNNNNN.png from an earlier render); without it an existing output is refused.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in FORMATS:
        format = FORMATS[suffix]
    elif suffix and not out.is_dir():
        raise RenderError(f"{out}: render cannot write '{suffix}' files; use .mp4 (H.264), .mov (ProRes 422 HQ) "
                          f"or a folder name without an extension for PNG frames")
    else:
        format = PNG
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise RenderError(f"--fps {fps:g}: the frame rate must be more than 0 and at most {MAX_FPS:g}, e.g. --fps 30")
    if not (math.isfinite(seconds) and seconds > 0):
        raise RenderError(f"--seconds {seconds:g}: the length must be more than 0 seconds, e.g. --seconds 30")
    frames = round(seconds * fps)
    if frames < 1:
        raise RenderError(f"--seconds {seconds:g} at --fps {fps:g} is less than one frame; "
                          f"render at least {1 / fps:.3g} seconds")
    if crf is not None and format is not H264:
        raise RenderError(f"--crf sets H.264 quality: it applies to .mp4 only, not to {format.name}")
    if format is H264:
        crf = DEFAULT_CRF if crf is None else crf
        if not (isinstance(crf, int) and 0 <= crf <= 51):
            raise RenderError(f"--crf {crf}: H.264 quality runs from 0 (best) to 51 (worst); 18 looks like "
                              f"the source, 23 is x264's default")
    _check_size(out, format, size)
    _check_destination(out, format, overwrite)
    return Plan(out, format, tuple(size), float(seconds), float(fps), frames, crf, overwrite)


def _check_size(out, format, size):
    width, height = size
    odd = [name for name, value, even in (("width", width, format.even_width), ("height", height, format.even_height))
           if even and value % 2]
    if odd:
        nearest = f"{width + width % 2 * format.even_width}x{height + height % 2 * format.even_height}"
        subsampling = "4:2:0" if format is H264 else "4:2:2"
        prores = " or .mov (ProRes 4:2:2 takes an odd height)," if format is H264 and width % 2 == 0 else ""
        raise RenderError(f"--size {width}x{height}: {format.name} needs an even {' and '.join(odd)} ({subsampling} "
                          f"colour); pad to --size {nearest},{prores} or render a folder of PNG frames (any size)")
    if max(width, height) > format.max_side or width * height > format.max_pixels:
        raise RenderError(f"--size {width}x{height}: larger than {format.name} allows (at most {format.max_side} px "
                          f"a side and {format.max_pixels / 1e6:.1f} megapixels); render a smaller --size or "
                          f"a folder of PNG frames")


def _check_destination(out, format, overwrite):
    if out.exists():
        if format is PNG and out.is_dir():
            others = [p.name for p in out.iterdir() if not FRAME_NAME.fullmatch(p.name)]
            if others:
                raise RenderError(f"{out}: the folder holds other files ({others[0]}, ...); render into a new or "
                                  f"empty folder")
            if any(out.iterdir()) and not overwrite:
                raise RenderError(f"{out}: the folder already holds frames; add --overwrite to replace them, or "
                                  f"choose another --out")
        elif out.is_dir():
            raise RenderError(f"{out}: is a folder; choose a file name for {format.name}")
        elif format is PNG:
            raise RenderError(f"{out}: is a file, not a folder; choose a folder name for PNG frames")
        elif not overwrite:
            raise RenderError(f"{out}: already exists; add --overwrite to replace it, or choose another --out")
    folder = out.parent.absolute()
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise RenderError(f"{out}: {existing} is a file, not a folder; choose another --out")
    try:                                  # permission bits do not tell (root, read-only mounts): try it
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".render-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise RenderError(f"{out}: cannot write in {existing} ({error.strerror}); choose another --out") from None


def check_disk(plan):
    """A warning line if the render may not fit on its disk, else None (the estimate is rough: no refusal)."""
    existing = plan.out.parent.absolute()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if plan.disk_bytes() > free:
        return (f"the render needs about {human_bytes(plan.disk_bytes())} and {existing} has "
                f"{human_bytes(free)} free; it stops cleanly if the disk fills up")
    return None


# -- drawing --------------------------------------------------------------------------------------------------

class Timing:
    """What the render has spent generating so far (seconds, grid steps): for the time estimate."""

    def __init__(self):
        self.generate_seconds = 0.0
        self.grid_steps = 0


def frames(config, generator, size, seconds, fps, seed, commands=(), timing=None, loop=False):
    """Yield (index, surface) for every frame of the render. commands: [(wall seconds, Command)], in order.

    loop: the walks close on themselves over the render's length and there is no fade in, so frame N (one past
    the last) would be frame 0 again: played on repeat, the last frame flows into the first.
    The surface is reused between frames: copy it if you keep it.
    """
    pygame.font.init()                     # no display needed: everything is drawn offscreen
    surface = pygame.Surface(size)
    stage = Stage(config, generator, size, surface, seed, notices=False)
    if loop:
        stage.show.fade_in = 0.0
        stage.show.choreography.close_loop(round(seconds * fps) / fps * config.show.speed)
    grid = config.grid.rows * config.grid.cols
    schedule = GridSchedule(grid, 1.0 / config.render.tile_rate, config.worker.batch)
    pending = sorted(commands, key=lambda item: item[0])
    clock = FixedClock(fps)
    timing = timing or Timing()
    for index in range(round(seconds * fps)):
        wall = clock.tick()
        while pending and pending[0][0] <= wall:
            stage.apply(pending.pop(0)[1])
        stage.show.update(wall)
        while schedule.covered() < stage.show.time or not stage.ready():
            start = time.perf_counter()
            for tiles, t in schedule.next_frames():
                stage.add([stage.generation.run(tiles, t, stage.show.psi_at(t))], retime=False)
            timing.generate_seconds += time.perf_counter() - start
            timing.grid_steps += 1
        stage.draw(surface)
        yield index, surface


def pixels(surface):
    """The surface as uint8 [H, W, 3] RGB."""
    return np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(surface.get_height(),
                                                                                  surface.get_width(), 3)


# -- writing --------------------------------------------------------------------------------------------------

class VideoSink:
    """H.264 or ProRes through PyAV. RGB is converted with BT.709 coefficients and tagged so (HD video's colours)."""

    def __init__(self, path, plan):
        self.path = path
        # faststart: the index goes first, so a browser starts playing before the whole file has arrived.
        self.container = av.open(str(path), mode="w", format="mov" if plan.format is PRORES else "mp4",
                                 options={} if plan.format is PRORES else {"movflags": "+faststart"})
        stream = self.container.add_stream(plan.format.codec, rate=plan.rate)
        stream.width, stream.height = plan.size
        stream.pix_fmt = plan.format.pix_fmt
        if plan.format is H264:
            stream.options = {"crf": str(plan.crf), "preset": "medium"}
        else:
            stream.options = {"profile": "3", "vendor": "apl0"}     # prores_ks profile 3: 422 HQ
        context = stream.codec_context
        context.colorspace, context.color_primaries, context.color_trc = 1, 1, 1       # ITU-R BT.709
        context.color_range = 1                                                        # limited (video) range
        self.stream = stream

    def write(self, index, surface):
        frame = av.VideoFrame.from_ndarray(pixels(surface), format="rgb24")
        frame = frame.reformat(format=self.stream.pix_fmt, dst_colorspace="ITU709", dst_color_range="MPEG")
        frame.pts = index
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self, ok):
        if self.container is None:
            return
        container, self.container = self.container, None
        try:
            if ok:
                for packet in self.stream.encode():       # flush the encoder's delayed frames
                    container.mux(packet)
        finally:
            container.close()


class PngSink:
    """One PNG per frame: frame_000000.png, ... (lossless: the master for any encoder)."""

    def __init__(self, folder, plan):
        self.path = folder
        self.path.mkdir()

    def write(self, index, surface):
        pygame.image.save(surface, str(self.path / f"frame_{index:06d}.png"))

    def close(self, ok):
        pass


@dataclass(frozen=True)
class Written:
    """What a written file holds, read back from it."""
    frames: int
    size: tuple
    fps: float


def read_back(path, format):
    """Open a written render again and count what it holds: Written. Raises RenderError if it does not open."""
    if format is PNG:
        from PIL import Image

        names = sorted(p for p in Path(path).iterdir() if FRAME_NAME.fullmatch(p.name))
        sizes = set()
        for p in (names[0], names[-1]) if names else ():
            with Image.open(p) as image:
                sizes.add(image.size)
        return Written(len(names), sizes.pop() if len(sizes) == 1 else None, None)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            size = (stream.codec_context.width, stream.codec_context.height)
            rate = stream.average_rate
            count = sum(1 for packet in container.demux(stream) if packet.size)
    except (av.FFmpegError, IndexError) as error:
        raise RenderError(f"{path}: the written file does not open as video ({error})") from None
    return Written(count, size, float(rate) if rate else None)


def _temporary(out):
    """A hidden name next to `out` (same disk: the rename is atomic), free of any leftover from a killed render."""
    temp = out.with_name(f".{out.stem}.partial{out.suffix}")
    if temp.is_dir():
        shutil.rmtree(temp)
    elif temp.exists():
        temp.unlink()
    return temp


def _replace(temp, out):
    if out.is_dir():                      # a folder of an earlier render's frames (plan checked it holds only those)
        shutil.rmtree(out)
    os.replace(temp, out)


def render(config, generator, plan, seed, commands=(), progress=None, timing=None, loop=False):
    """Write the render described by `plan` (see `plan()`). Returns Written, as read back from the output.

    loop: a seamless loop (see `frames`).
    progress: called with the number of frames done after each frame. Raises RenderError if the output does not
    hold what was asked (nothing is left at plan.out then), OSError if writing fails (the same).
    """
    plan.out.parent.mkdir(parents=True, exist_ok=True)
    temp = _temporary(plan.out)
    sink = (PngSink if plan.format is PNG else VideoSink)(temp, plan)
    try:
        for index, surface in frames(config, generator, plan.size, plan.seconds, plan.fps, seed, commands, timing,
                                     loop):
            sink.write(index, surface)
            if progress:
                progress(index + 1)
        sink.close(ok=True)
        written = read_back(temp, plan.format)
        wanted = Written(plan.frames, plan.size, float(plan.rate) if plan.format is not PNG else None)
        if written != wanted:
            raise RenderError(f"{plan.out}: the file holds {written.frames} frames of {written.size} at "
                              f"{written.fps} fps, not the {wanted.frames} frames of {wanted.size} at "
                              f"{wanted.fps} fps asked for; nothing was kept")
        _replace(temp, plan.out)
    except BaseException as error:
        try:
            sink.close(ok=False)
        except Exception:            # the encoder's own complaint must not hide why the render stopped
            pass
        _remove(temp)
        if isinstance(error, av.FFmpegError) and not isinstance(error, OSError):
            raise RenderError(f"{plan.out}: the encoder failed ({error}); nothing was kept") from None
        raise
    return written


def _remove(path):
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class Progress:
    """Frames done, as a tqdm bar with ETA on a terminal and as a plain line every 10% (or minute) in a log.

    After the first frames it prints one estimate of the whole render's time, from what generating a grid step
    and drawing and encoding a frame have cost so far (tqdm's own ETA is thrown off by the slow first frame).
    """

    def __init__(self, plan, config, timing, stream):
        self.plan, self.timing, self.stream = plan, timing, stream
        # Grid steps the render will generate: every 1 / tile_rate seconds of show time, plus the first.
        self.steps = math.ceil(plan.seconds * config.show.speed * config.render.tile_rate) + 2
        self.start = time.perf_counter()
        self.estimated = False
        self.last_line = self.start
        self.bar = None
        if stream.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=plan.frames, unit="frame", file=stream, dynamic_ncols=True, desc="render")

    def __call__(self, done):
        now = time.perf_counter()
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
        elif (done == self.plan.frames or done % max(1, self.plan.frames // 10) == 0
              or now - self.last_line > 60):
            self.last_line = now
            left = (now - self.start) / done * (self.plan.frames - done)
            print(f"render: {done}/{self.plan.frames} frames, {human_seconds(now - self.start)} so far, "
                  f"about {human_seconds(left)} left", file=self.stream, flush=True)
        if not self.estimated and done >= min(3, self.plan.frames) and self.timing.grid_steps >= 2:
            self.estimated = True
            elapsed = now - self.start
            per_step = self.timing.generate_seconds / self.timing.grid_steps
            per_frame = max(elapsed - self.timing.generate_seconds, 0.0) / done
            total = per_step * max(self.steps, self.timing.grid_steps) + per_frame * self.plan.frames
            self.write(f"render: about {human_seconds(total)} in all (estimated from the first {done} frames)")

    def write(self, line):
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
