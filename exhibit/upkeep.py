"""What keeps the live show running for weeks without anyone at it: opening hours, the daily restart, the show's
state saved every few seconds so that a restart resumes it (exhibit/show/resume.py), and its health
(exhibit/health.py: a heartbeat line every minute, memory and restarts in the status).

The live loop calls `tick` once a frame; everything here runs at most once a second and costs nothing in between.
Local wall-clock time comes from `wallclock` (datetime.now unless a test injects another), never from the
monotonic clock that drives the show, so a schedule follows the room's clock and a test never sleeps.
"""
import logging
import threading
from datetime import datetime

from exhibit.commands import Quit
from exhibit.health import Health
from exhibit.show import resume
from exhibit.show.schedule import RESTART_EXIT_CODE, Schedule

log = logging.getLogger("exhibit")

CHECK_EVERY = 1.0          # seconds between looks at the wall clock
DARK_PERIOD = 0.5          # seconds between frames while closed: events still answered, the CPU near idle


class Upkeep:
    def __init__(self, app, wallclock=None):
        """app: the live App (its config, stage, queue). wallclock: () -> naive local datetime."""
        self.app = app
        self.wallclock = wallclock or datetime.now
        self.schedule = Schedule.from_config(app.config.schedule)
        now = self.wallclock()
        self.restart_at = self.schedule.next_restart(now)
        self._checked = None
        self.health = Health(app)       # heartbeat line, memory, restarts
        self._state = None              # (path, configured model) once keep_state was called
        self._saved = None              # loop time of the last save
        self._saver = None              # the thread writing the last save
        self._save_error = None         # the last save's error, logged once until a save succeeds again
        self._last_state = None         # what was last handed to a save: an unchanged state is not written again
        is_open = self.schedule.is_open(now)
        app.stage.show.set_open(is_open, at_once=not is_open)    # a start at night stays dark, no flash of picture
        app.stage.schedule = self.schedule.describe(now)
        if not self.schedule.always_open:
            log.info("opening hours: %s", app.stage.schedule)
        if self.restart_at is not None:
            log.info("daily restart at %s (exit code %d)", self.restart_at.strftime("%H:%M"), RESTART_EXIT_CODE)

    # -- the state file ----------------------------------------------------------------------------------

    def keep_state(self, path, configured_model, resumed=None):
        """Save the show's state to `path` every few seconds and on the way out; first resume from `resumed` (a
        state from resume.load) if given. configured_model: the model file the config names (None: untrained)."""
        self._state = (path, configured_model)
        if resumed is not None:
            self.app.stage.show.resume(resumed)
            log.info("resumed from %s (saved %s): seed %d, %s, speed %g, psi %.2f, show time %.1f s", path,
                     resumed["saved"], resumed["seed"], resumed["mode"], resumed["speed"], resumed["psi"],
                     resumed["time"])

    def save(self, wait=False):
        """Write the state now (in a thread of its own unless `wait`: an fsync may take a while on an SD card)."""
        if self._state is None:
            return
        path, configured = self._state
        state = resume.capture(self.app.stage.show, getattr(self.app.worker.generation.generator, "path", None),
                               configured)
        unchanged = {**state, "saved": None}
        if unchanged == self._last_state and self._save_error is None:
            return                      # paused or closed: nothing moved, spare the disk (an SD card wears)
        if self._saver is not None and self._saver.is_alive():
            if not wait:
                return                  # the disk is slow: skip this save, the next one has newer state anyway
            self._saver.join()
        self._last_state = unchanged
        if wait:
            self._write(path, state)
        else:
            self._saver = threading.Thread(target=self._write, args=(path, state), name="save-state", daemon=True)
            self._saver.start()

    def _write(self, path, state):
        try:
            resume.write(path, state)
        except OSError as error:
            if str(error) != self._save_error:
                log.error("state not saved to %s (%s); the show goes on, a restart will start it afresh", path, error)
            self._save_error = str(error)
            return
        if self._save_error is not None:
            log.info("state saved to %s again", path)
            self._save_error = None

    def close(self):
        """The last save, on every way out of the loop."""
        self.save(wait=True)

    # -- every frame --------------------------------------------------------------------------------------

    def tick(self, now):
        """Called every frame with the loop's monotonic time in seconds; looks at the wall clock once a second."""
        self.health.tick(now)
        if self._saved is None or now - self._saved >= resume.SAVE_EVERY:
            self._saved = now
            self.save()
        if self._checked is not None and now - self._checked < CHECK_EVERY:
            return
        self._checked = now
        wall = self.wallclock()
        stage, show = self.app.stage, self.app.stage.show
        is_open = self.schedule.is_open(wall)
        stage.schedule = self.schedule.describe(wall)
        if is_open == show.closed:
            log.info("%s (opening hours)", stage.schedule)
            show.set_open(is_open)
        if self.restart_at is not None and wall >= self.restart_at:
            log.info("daily restart (%s): the show ends with exit code %d for its service manager to start it again",
                     self.restart_at.strftime("%H:%M"), RESTART_EXIT_CODE)
            self.restart_at = None
            self.app.exit_code = RESTART_EXIT_CODE
            self.app.queue.put(Quit())

    def period(self, period):
        """Seconds to the next frame: the display's period, or a slow tick while the closed show is dark."""
        return DARK_PERIOD if self.app.stage.show.dark() else period
