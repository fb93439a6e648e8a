"""The live show: a game loop around a Stage.

Each frame: turn input into Commands, apply the queued Commands, take what the generation thread finished,
advance the show to the clock, draw, present, wait for the next frame. Nothing in the loop waits on generation.

Plug-in points for live control (exhibit/osc/ and friends):
  app.queue       CommandQueue: put Commands from any thread
  app.on_change   [fn(snapshot)]: called on this thread after each frame in which Commands changed the show
  app.snapshot()  the state as a dict, from any thread
  app.frames      display frames drawn so far
  app.config      the loaded config
"""
import collections
import logging
import statistics
import time
from pathlib import Path

import pygame

import model
from exhibit import commands as c
from exhibit.show.clock import RealClock
from exhibit.screen.compositor import Compositor
from exhibit.stage import Stage
from exhibit.generation.worker import Worker
from exhibit.service.notify import Notifier

log = logging.getLogger("exhibit")


class App:
    """The show on a display. It owns its child processes: the generator process it is given, any it loads for
    /exhibit/model, the OSC receiver; `run` closes them all on its way out, however it leaves."""

    def __init__(self, config, generator, display, seed, osc=True, open_model=None):
        from exhibit.control import keyboard, scenes

        self.config = config
        self.open_model = open_model or self._open_model       # how /exhibit/model loads a file
        self.display = display
        self.queue = c.CommandQueue()
        self.on_change = []
        self.frames = 0
        self.osc = osc and config.osc.enabled
        self.keyboard = keyboard.Keyboard(quit=config.keys.quit)
        self.scenes = scenes.SceneStore(config.paths.scenes)
        from exhibit.screen.gpu import GpuCompositor, GpuDisplay
        kind = GpuCompositor if isinstance(display, GpuDisplay) else Compositor
        self.stage = Stage(config, generator, display.size, display.surface, seed, help_lines=keyboard.HELP,
                           compositor=kind)
        tiles = config.grid.rows * config.grid.cols
        self.worker = Worker(self.stage.generation, self.stage.show, tiles, config.worker.batch)
        self.inputs = []
        self.notifier = Notifier()                          # systemd: READY, WATCHDOG, STATUS, STOPPING
        self._announced = False                             # READY=1 sent
        self.frame_times = collections.deque(maxlen=240)    # seconds between presented frames, for fps
        self.work_times = collections.deque(maxlen=240)     # seconds of each frame spent working, not waiting
        self._loading = None                                # (name, generator still loading): at most one
        self._shoot = False                                 # a screenshot is due after this frame is drawn
        self._started = None                                # clock time the show began (all tiles had a frame)
        self._status_mark = (0.0, 0)                        # (clock time, tiles generated) at the last status

    def snapshot(self):
        return {**self.stage.snapshot(), "fullscreen": self.display.fullscreen}

    # -- the loop -----------------------------------------------------------------------------------------

    def run(self, seconds=None, on_frame=None):
        """Run until Quit (after its fade), or for `seconds`. on_frame(app, now) is called after every frame."""
        self.worker.start()
        self._start_inputs()
        clock, period = RealClock(), 1.0 / self.config.display.fps
        deadline = last = clock.now()
        try:
            while True:
                begun = clock.now()
                changed = self._input()
                if not self._update(clock.now()):
                    break
                self._render()
                now = clock.now()
                self.frames += 1
                self.frame_times.append(now - last)
                self.work_times.append(now - begun)
                last = now
                self._report(now, changed)
                if on_frame is not None and on_frame(self, now) is False:
                    break
                if self.stage.show.finished() or seconds is not None and now >= seconds:
                    break
                deadline += period
                if now > deadline + period:          # fell behind (a stall): start pacing afresh, no burst
                    deadline = now
                elif deadline > now:
                    time.sleep(deadline - now)
        finally:
            self.close()

    def close(self):
        """End what the show started: OSC receiver, generator processes (loading, pending and drawing), the
        generation thread. Safe to call more than once."""
        self.notifier.stopping()
        for source in self.inputs:
            source.stop()
        self.inputs = []
        self.worker.stop(then=self._close_generators)
        self.stage.compositor.release()

    def _close_generators(self):
        if self._loading is not None:
            _close(self._loading[1])
            self._loading = None
        for generator in self.worker.generators():
            _close(generator)

    def _input(self):
        """Keys become Commands; all queued Commands are applied. Returns True if the show changed."""
        for event in pygame.event.get():
            for command in self.keyboard.commands_for(event):
                self.queue.put(command)
        changed = False
        for command in self.queue.drain():
            changed |= self._apply(command)
        if changed:
            self.worker.wake()
        self._finish_model_load()
        return changed

    def _update(self, now):
        """Take the newly generated frames and advance the show. False: quit before the show even began."""
        stage = self.stage
        stage.add(self.worker.take(), retime=True)
        if self._started is None and stage.ready():
            self._started = now              # the show's clock starts when every tile has a first frame
            log.info("showing %d tiles on a %dx%d screen", len(stage.compositor.frames.tracks), *self.display.size)
        if self._started is not None:
            stage.show.update(now - self._started)
        return self._started is not None or stage.show.quit_at is None

    def _render(self):
        self.stage.draw(self.display.surface)
        if self._shoot:
            self._shoot = False
            self.screenshot()
        self.display.present()

    def _report(self, now, changed):
        """Status twice a second; the new state to on_change listeners after a change; the watchdog ping."""
        if now - self._status_mark[0] >= 0.5:
            self._measure(now, self._status_mark)
            self._status_mark = (now, self.worker.generated)
        if changed:
            self._notify_change()
        # From this loop and nowhere else: if it freezes, the pings stop and systemd restarts the show.
        self.notifier.ping(now)
        if self._started is not None:
            stats = self.stage.stats
            text = f"{stats['fps']:.1f} fps, model {self.stage.model_name}, {stats['tiles_per_s']:.0f} fresh tiles/s"
            if not self._announced:
                self._announced = True      # the first full grid is on screen
                self.notifier.ready(text)
            self.notifier.status(now, text)

    def _measure(self, now, mark):
        stats = self.stage.stats
        stats["fps"] = 1.0 / statistics.median(self.frame_times) if self.frame_times else 0.0
        stats["tiles_per_s"] = (self.worker.generated - mark[1]) / max(now - mark[0], 1e-6)
        stats["frames"] = self.frames
        self.stage.refresh_status()

    def _notify_change(self):
        self.stage.stats["frames"] = self.frames
        snapshot = self.snapshot()
        for listener in list(self.on_change):
            try:
                listener(snapshot)
            except Exception:                      # a feedback peer's trouble must not stop the show
                log.exception("on_change listener failed")

    def _start_inputs(self):
        if not self.osc:
            return
        from exhibit.control import osc
        try:
            self.inputs.append(osc.start(self))
        except (OSError, ValueError) as error:     # e.g. the port is taken: show anyway, say so
            log.error("%s", error)
            self.stage.notify(f"OSC is off: {error}", 15.0)

    # -- commands the app applies -------------------------------------------------------------------------

    def _apply(self, command):
        """Apply one Command; returns True if the show's state changed."""
        match command:
            case c.Screenshot():
                self._shoot = True          # taken once this frame is drawn, before it is presented
                return False
            case c.ToggleFullscreen():
                surface = self.display.toggle_fullscreen()
                self.stage.resize(surface.get_size(), surface)
                return True
            case c.SaveScene(slot=slot):
                self.scenes.save(slot, self.snapshot())
                self.stage.notify(f"scene {slot} saved")
                return False
            case c.RecallScene(slot=slot):
                restore = self.scenes.recall(slot)
                if not restore:
                    self.stage.notify(f"scene {slot} is empty")
                return any([self.stage.apply(command) for command in restore])
            case c.LoadModel(name=name):
                self.load_model(name)
                return False
        return self.stage.apply(command)

    def screenshot(self):
        """The frame on screen as a PNG in the screenshots folder; returns its path."""
        folder = Path(self.config.paths.screenshots)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"permeation-{time.strftime('%Y%m%d-%H%M%S')}-{self.frames:07d}.png"
            pygame.image.save(self.display.picture(), str(path))
        except (OSError, pygame.error) as error:
            log.error("screenshot failed: %s", error)
            self.stage.notify(f"screenshot failed: {error}")
            return None
        log.info("screenshot: %s", path)
        self.stage.notify(f"screenshot {path.name}", 3.0)
        return path

    def _open_model(self, path):
        from exhibit.generation.process import RemoteGenerator
        return RemoteGenerator(path, threads=self.config.worker.threads, wait=False)

    def load_model(self, name):
        """Load a generator from the models folder in a generator process; the show goes on with the old one.

        At most one load is in flight: a newer request ends the one still loading (its process is killed and
        reaped at once), so a button pressed six times starts one process, not six."""
        folder = Path(self.config.paths.models).resolve()
        path = (folder / name).resolve()
        if not path.exists() and path.suffix != ".keras":
            path = path.with_name(path.name + ".keras")
        if path.parent != folder:
            log.warning("LoadModel: %r is not a file inside %s", name, folder)
            return
        if not path.is_file():               # said at once; whatever is loading goes on loading
            self._model_failed(f"{path}: no such model file")
            return
        if self._loading is not None:
            log.info("model %s: replaced by %s before it finished loading", self._loading[0], name)
            _close(self._loading[1])
            self._loading = None
        log.info("loading model %s (%s)", name, path)
        self.stage.notify(f"loading model {name} …", 3.0)
        try:
            self._loading = (name, self.open_model(path))
        except model.ModelFileError as error:
            self._model_failed(error)

    def _finish_model_load(self):
        """Each frame: has the model being loaded arrived? Never waits."""
        if self._loading is None:
            return
        name, generator = self._loading
        try:
            if hasattr(generator, "ready") and not generator.ready():
                return
        except model.ModelFileError as error:
            self._loading = None
            self._model_failed(error)
            return
        self._loading = None
        self.worker.set_generator(generator)
        self.stage.set_model(generator)
        log.info("model %s loaded (%d px); showing it now", name, generator.resolution)
        self.stage.notify(f"model {name}")
        self._notify_change()

    def _model_failed(self, error):
        log.error("model not loaded: %s", error)
        self.stage.notify(f"model not loaded: {error}", 10.0)


def _close(generator):
    if hasattr(generator, "close"):        # a generator process; one drawn in this process has nothing to end
        generator.close()
