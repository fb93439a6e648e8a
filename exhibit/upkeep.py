"""What keeps the live show running for weeks without anyone at it: opening hours and the daily restart.

The live loop calls `tick` once a frame; everything here runs at most once a second and costs nothing in between.
Local wall-clock time comes from `wallclock` (datetime.now unless a test injects another), never from the
monotonic clock that drives the show, so a schedule follows the room's clock and a test never sleeps.
"""
import logging
from datetime import datetime

from exhibit.commands import Quit
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
        is_open = self.schedule.is_open(now)
        app.stage.show.set_open(is_open, at_once=not is_open)    # a start at night stays dark, no flash of picture
        app.stage.schedule = self.schedule.describe(now)
        if not self.schedule.always_open:
            log.info("opening hours: %s", app.stage.schedule)
        if self.restart_at is not None:
            log.info("daily restart at %s (exit code %d)", self.restart_at.strftime("%H:%M"), RESTART_EXIT_CODE)

    def tick(self, now):
        """Called every frame with the loop's monotonic time in seconds; looks at the wall clock once a second."""
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
