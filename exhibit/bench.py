"""python -m exhibit bench [--size WxH] [--seconds S] [--osc] [--display]: the real live loop, measured.

Runs the App on the dummy video driver (with --display: in a real window on the screen DISPLAY names, through
SDL's x11 driver, so the cost of handing every frame to the window system is counted) with generation running, waits until the show is up and generation
has warmed up, then measures for S seconds: frame intervals (what a visitor sees), freshly generated tiles
per second, and CPU use. The last line is for machines: `fps_median=… frame_p99_ms=… tiles_per_s=…`.
"""
import threading
import time

import numpy as np

from exhibit.live import App
from exhibit.screen.gpu import open_display

WARMUP = 3.0     # seconds after the first full grid before measuring: graph tracing, rate learning


def run(args, config, generator, seed):
    display = open_display(config.display, windowed=True)
    app = App(config, generator, display, seed, osc=args.osc)
    marks = {}
    intervals, work = [], []
    presents = []             # each frame's app.presented_at: the OSC probe counts the frames on screen from them

    def on_frame(app, now):
        presents.append(app.presented_at)
        if not app.stage.ready() or app.stage.show.wall < WARMUP:
            return True
        if not marks:
            marks.update(now=now, cpu=time.process_time(), tiles=app.worker.generated)
            if args.osc:
                threading.Thread(target=_osc, args=(app, args.seconds, marks, presents), daemon=True).start()
            return True
        intervals.append(app.frame_times[-1])
        work.append(app.work_times[-1])
        if now - marks["now"] >= args.seconds and (not args.osc or "osc" in marks):
            marks.update(end=now, cpu_end=time.process_time(), tiles_end=app.worker.generated)
            return False
        return True

    size, driver = display.size, display.driver
    try:
        app.run(on_frame=on_frame)
    finally:
        display.close()
    if "end" not in marks:
        print("bench: the show ended before measuring")
        return 1
    elapsed = marks["end"] - marks["now"]
    frame_ms = np.array(intervals) * 1000.0
    fps_median = 1000.0 / np.median(frame_ms)
    p99 = float(np.percentile(frame_ms, 99))
    tiles_per_s = (marks["tiles_end"] - marks["tiles"]) / elapsed
    cpu = (marks["cpu_end"] - marks["cpu"]) / elapsed
    w, h = size
    print(f"bench: {w}x{h}, {config.grid.rows}x{config.grid.cols} tiles of {app.stage.compositor.layout.tile} px, "
          f"model {app.stage.model_name} ({generator.resolution} px), {display.kind} renderer, "
          f"{driver} video driver, "
          f"cap {config.display.fps} fps, "
          f"{elapsed:.1f} s measured, {len(frame_ms)} frames")
    print(f"frame time: median {np.median(frame_ms):.2f} ms, p90 {np.percentile(frame_ms, 90):.2f} ms, "
          f"p99 {p99:.2f} ms, max {frame_ms.max():.2f} ms")
    work_ms = np.array(work) * 1000.0
    print(f"render loop work per frame (the rest is waiting for the next frame or for a CPU): "
          f"median {np.median(work_ms):.2f} ms, p99 {np.percentile(work_ms, 99):.2f} ms")
    print(f"fresh tiles: {tiles_per_s:.0f}/s   cpu: {cpu * 100:.0f}% of one core (whole process), "
          f"{cpu * elapsed / max(len(frame_ms), 1) * 1000:.1f} ms a frame")
    print(f"fps_median={fps_median:.1f} frame_p99_ms={p99:.1f} tiles_per_s={tiles_per_s:.0f}")
    if args.osc:          # with --osc the latency line is the last one
        result = marks.get("osc")
        print(" ".join(f"{k}={v}" for k, v in result.items()) if isinstance(result, dict) else result)
    return 0


def _osc(app, seconds, marks, presents):
    from exhibit.control import osc_bench
    try:
        marks["osc"] = osc_bench.bench(app, seconds, presents)
    except Exception as error:          # the frame numbers still stand; say what failed
        marks["osc"] = f"osc bench failed: {error}"
