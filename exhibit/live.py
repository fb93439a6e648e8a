"""The live show: a game loop around a Stage.

Each frame reads events -> update -> render -> tick:
  events  keys and window events become Commands on the queue (OSC puts its own there from another thread)
  update  the queued Commands are applied, a finished model load is taken, newly generated tile frames are
          filed, and the show advances to the wall clock
  render  the stage draws, a due screenshot is taken, the frame is presented
  tick    wait for the next frame's time
Nothing in the loop waits on generation: that runs in the worker's thread (and the generator process).

Plug-in points for live control (exhibit/control/osc/ and friends):
  app.queue       CommandQueue: put Commands from any thread
  app.on_change   [fn(snapshot)]: called on this thread after each frame in which Commands changed the show
  app.on_result   [fn(command, error, done)]: how a Command ended when it failed (error: the reason) or when
                  a slow one finished (done), so the controller that asked hears it
  app.snapshot()  the state as a dict, from any thread
  app.frames      display frames drawn so far
  app.inputs      sources started with the show; each frame calls their poll() just before the queue is drained
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
from exhibit.screen.compositor import MIN_TILE, Layout
from exhibit.screen.display import DisplayError
from exhibit.stage import Stage
from exhibit.generation.worker import Worker
from exhibit.service.notify import Notifier

log = logging.getLogger("exhibit")


def check_fits(size, grid):
    """DisplayError naming the screen and what to do if the grid's tiles would be under MIN_TILE pixels there."""
    layout = Layout.fit(size, grid.rows, grid.cols, grid.gutter, grid.margin)
    if layout.tile < MIN_TILE:
        need = Layout.smallest_screen(grid.rows, grid.cols, grid.gutter, grid.margin)
        raise DisplayError(f"the screen is {size[0]}x{size[1]}: a {grid.rows}x{grid.cols} grid needs at least "
                           f"{need[0]}x{need[1]} (tiles of {MIN_TILE} px); use a larger screen or window "
                           f"(display.window_size), or fewer tiles (grid.rows, grid.cols)")


class App:
    """The live show: one Stage on a display, driven by the wall clock, fed by a Worker thread and by input.

    It owns its child processes: the generator process it is given, any it loads for /exhibit/model, the OSC
    receiver; `run` closes them all on its way out, however it leaves.

    config: from config.load. generator: a model.ImageGenerator. display: a screen.display.Display or
    screen.gpu.GpuDisplay. seed: the show's seed. osc: listen for OSC if the config enables it. open_model(path) ->
    generator: how LoadModel opens a file (a generator process unless given; tests pass model.load_generator).
    wallclock: () -> local datetime for opening hours (default datetime.now; tests inject their own).
    """

    def __init__(self, config, generator, display, seed, osc=True, open_model=None, wallclock=None):
        from exhibit.control import keyboard, scenes
        from exhibit.upkeep import Upkeep

        self.config = config
        self.open_model = open_model or self._open_model       # how /exhibit/model loads a file
        self.display = display
        self.queue = c.CommandQueue()
        self.on_change = []
        self.on_result = []
        self._outcomes = []          # (command, error, done) for on_result, sent after this frame's feedback
        self.frames = 0
        self.presented_at = 0.0      # time.perf_counter() (seconds) just after the last frame went to the screen
        self.osc = osc and config.osc.enabled
        self.keyboard = keyboard.Keyboard(quit=config.keys.quit, rows=config.grid.rows, cols=config.grid.cols)
        self.scenes = scenes.SceneStore(config.paths.scenes)
        check_fits(display.size, config.grid)
        self.stage = Stage(config, generator, display.size, display.surface, seed, help_lines=keyboard.HELP,
                           compositor=display.compositor)
        tiles = config.grid.rows * config.grid.cols
        self.worker = Worker(self.stage.generation, self.stage.show, tiles, config.worker.batch)
        self.inputs = []
        self.notifier = Notifier()                          # systemd: READY, WATCHDOG, STATUS, STOPPING
        self._announced = False                             # READY=1 sent
        self.frame_times = collections.deque(maxlen=240)    # seconds between presented frames, for fps
        self.work_times = collections.deque(maxlen=240)     # seconds of each frame spent working, not waiting
        self._loading = None                                # (name, generator still loading, asked): at most one
        self._waiting = None                                # (name, path, asked): the newest request, held while
                                                            # a swap's replaced process is still being ended
        self._shoot = False                                 # a screenshot is due after this frame is drawn
        self._started = None                                # clock time the show began (all tiles had a frame)
        self._status_mark = (0.0, 0)                        # (clock time, tiles generated) at the last status
        self.exit_code = 0                                  # the process's exit code once run() returns
        self.upkeep = Upkeep(self, wallclock)               # opening hours, state file, heartbeat

    def snapshot(self):
        return {**self.stage.snapshot(), "fullscreen": self.display.fullscreen}

    # -- the loop -----------------------------------------------------------------------------------------

    def run(self, seconds=None, on_frame=None):
        """Run until Quit (after its fade), or for `seconds` of wall time.

        on_frame(app, now) is called after every frame; returning a false value (False, numpy's False, 0) ends the
        run, returning None goes on. On every way out the inputs, the generation thread and the compositor's images
        are released.
        """
        self.worker.start()
        self._start_inputs()
        clock, period = RealClock(), 1.0 / self.config.display.fps
        deadline = last = clock.now()
        try:
            while True:
                begun = clock.now()
                self._events()
                changed = self._update(clock.now())
                if self._started is None and self.stage.show.quit_at is not None:
                    break                            # quit before the first frames arrived: nothing to fade
                self._render()
                now = clock.now()
                self.presented_at = time.perf_counter()
                self.frames += 1
                self.frame_times.append(now - last)
                self.work_times.append(now - begun)
                last = now
                self._report(now, changed)
                self.upkeep.tick(now)
                if on_frame is not None:
                    going_on = on_frame(self, now)
                    if going_on is not None and not going_on:
                        break
                if self.stage.show.finished() or seconds is not None and now >= seconds:
                    break
                deadline = self._tick(now, deadline, self.upkeep.period(period))
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
        self.upkeep.close()           # the state file, last written as the show ends
        self.stage.compositor.release()

    def _close_generators(self):
        self._waiting = None
        if self._loading is not None:
            self._loading[1].close()
            self._loading = None
        for generator in self.worker.generators():
            generator.close()

    def _events(self):
        """Input: keys and window events become Commands on the queue, beside those from OSC and other threads."""
        for event in pygame.event.get():
            if event.type == pygame.WINDOWSIZECHANGED:
                self._resized()
            elif event.type == pygame.WINDOWEXPOSED:      # uncovered: what was there is gone, draw it all
                self.stage.compositor.invalidate()
            for command in self.keyboard.commands_for(event):
                self.queue.put(command)

    def _resized(self):
        """A window manager (or a new screen) gave the window another size: lay the grid out for what is there."""
        surface = self.display.resized()
        layout = self.stage.compositor.layout
        if surface.get_size() != (layout.width, layout.height):
            log.info("the window is now %dx%d; laying the grid out for it", *surface.get_size())
            self.stage.resize(surface.get_size(), surface)

    def _update(self, now):
        """Apply the queued Commands, take a finished model load and the newly generated frames, advance the show
        to wall time `now` (seconds). Returns True if the show's state changed (controllers are told)."""
        changed = False
        for source in self.inputs:            # what OSC has received so far, read here rather than waited for
            source.poll()
        for command in self.queue.drain():
            changed |= self._apply(command)
        if changed:
            self.worker.wake()
        changed |= self._finish_model_load()
        stage = self.stage
        stage.add(self.worker.take(), retime=True)
        if self._started is None and stage.ready():
            self._started = now              # the show's clock starts when every tile has a first frame
            log.info("showing %d tiles on a %dx%d screen (%s renderer)", len(stage.compositor.frames.tracks),
                     *self.display.size, self.display.kind)
        if self._started is not None:
            stage.show.update(now - self._started)
        return changed

    def _render(self):
        changed = self.stage.draw(self.display.surface)
        if self._shoot:
            asked, self._shoot = self._shoot, False
            path = self.screenshot()
            if path is None:
                self._result(asked, error="screenshot failed (see the log)")
        self.display.present(changed)

    @staticmethod
    def _tick(now, deadline, period):
        """Wait for the next frame's time; returns it. After a stall, pace afresh from now rather than burst."""
        deadline += period
        if now > deadline + period:
            return now
        if deadline > now:
            time.sleep(deadline - now)
        return deadline

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
        outcomes, self._outcomes = self._outcomes, []
        for command, error, done in outcomes:    # after the new state: a controller hears the change, then why
            for listener in list(self.on_result):
                try:
                    listener(command, error, done)
                except Exception:
                    log.exception("on_result listener failed")

    def _measure(self, now, mark):
        stats = self.stage.stats
        stats["fps"] = 1.0 / statistics.median(self.frame_times) if self.frame_times else 0.0
        stats["tiles_per_s"] = (self.worker.generated - mark[1]) / max(now - mark[0], 1e-6)
        stats["frames"] = self.frames
        self.stage.refresh_status()

    def _result(self, command, error=None, done=None):
        """Tell on_result listeners how `command` ended, at the end of this frame's update and report."""
        self._outcomes.append((command, error, done))

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
                self._shoot = command       # taken once this frame is drawn, before it is presented
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
                    self._result(command, error=f"scene {slot} is empty; save one there first")
                return any([self.stage.apply(command) for command in restore])
            case c.LoadModel(name=name):
                self.load_model(name, command)
                return False
            case c.Identify(on=on):
                from exhibit.screen.patterns import identity
                self.stage.identify(on, identity(self.config.osc, self.stage.model_name))
                return False
            case c.TestPattern(on=on):
                self.stage.test_pattern(on)
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

    def load_model(self, name, asked=None):
        """Load a generator from the models folder in a generator process; the show goes on with the old one.

        At most two generator processes are alive, the one drawing and one other: a newer request ends the one
        still loading (its process is killed and reaped at once), so a button pressed six times starts one
        process, not six; and while a finished load is taking over (the worker has yet to end the process it
        replaces) the newest request waits its turn as a name, not a process. `asked`: the LoadModel Command,
        whose sender hears how it ended (see on_result)."""
        folder = Path(self.config.paths.models).resolve()
        path = (folder / name).resolve()
        if not path.exists() and path.suffix != ".keras":
            path = path.with_name(path.name + ".keras")
        if path.parent != folder:
            log.warning("LoadModel: %r is not a file inside %s", name, folder)
            self._result(asked, error=f"{name!r} is not a file in the models folder")
            return
        if not path.is_file():               # said at once; whatever is loading goes on loading
            self._model_failed(f"{path}: no such model file", asked)
            return
        for earlier in (self._loading, self._waiting):
            if earlier is not None:
                log.info("model %s: replaced by %s before it finished loading", earlier[0], name)
        if self._loading is not None:
            self._loading[1].close()
            self._loading = None
        self._waiting = (name, path, asked)
        self.stage.notify(f"loading model {name} …", 3.0)
        self._start_load()

    def _start_load(self):
        """Start the waiting request's generator process, unless a swap still has two processes alive."""
        if self._waiting is None or self.worker.swapping():
            return
        (name, path, asked), self._waiting = self._waiting, None
        log.info("loading model %s (%s)", name, path)
        try:
            self._loading = (name, self.open_model(path), asked)
        except model.ModelFileError as error:
            self._model_failed(error, asked)

    def _finish_model_load(self):
        """Each frame: has the model being loaded arrived? Never waits. Returns True if the model changed."""
        self._start_load()
        if self._loading is None:
            return False
        name, generator, asked = self._loading
        try:
            if hasattr(generator, "ready") and not generator.ready():
                return False
        except model.ModelFileError as error:
            self._loading = None
            self._model_failed(error, asked)
            return False
        self._loading = None
        self.worker.set_generator(generator)
        self.stage.set_model(generator)
        log.info("model %s loaded (%d px); showing it now", name, generator.resolution)
        self.stage.notify(f"model {name}")
        self._result(asked, done=f"model {name} loaded")
        return True

    def _model_failed(self, error, asked=None):
        log.error("model not loaded: %s", error)
        self.stage.notify(f"model not loaded: {error}", 10.0)
        self._result(asked, error=f"model not loaded: {error}")
