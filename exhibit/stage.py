"""One show, frame by frame: the part the live app and the headless render share.

A Stage owns the show state, the choreography, the generation step and the compositor. The live app drives it
with the wall clock and a generation thread; the render drives it with a fixed clock and generates exactly the
frames each picture needs. Both call the same `apply`, `add` and `draw`.
"""
import logging

from exhibit import commands as c
from exhibit.screen.compositor import Compositor
from exhibit.screen.overlays import Overlays, load_names
from exhibit.screen.patterns import test_pattern
from exhibit.show.state import Show
from exhibit.generation.worker import Generation

log = logging.getLogger("exhibit")

UNTRAINED = "untrained generator — train one with python -m train"


class Stage:
    """One show on one picture: the Show (state and time), its Generation step, a compositor and the overlays.

    Drivers call `apply(command)` for show Commands, `add(batches)` with generated frames, advance `show` to a
    time, then `draw(surface)`. Stage holds no clock and no thread: the live App and the render bring their own.
    """

    def __init__(self, config, generator, size, target, seed, help_lines=(), notices=True, compositor=Compositor):
        """config: from config.load. generator: a model.ImageGenerator. size: (width, height) in pixels to draw.
        target: what is drawn on (a pygame surface, or a GPU canvas). seed: the show's seed. help_lines: (key, what)
        pairs for the help overlay. notices: show notices at the foot of the screen. compositor: the compositor
        class, Compositor (CPU) or the display's own (`display.compositor`)."""
        self.config = config
        self.show = Show(config, generator.z_dim, seed)
        self.generation = Generation(generator, self.show.choreography)
        self.compositor = compositor(size, config.grid, target)
        self.overlays = Overlays(load_names(), size[1])
        self.help_lines = list(help_lines)
        self.notices = notices
        self.messages = []                      # (text, wall time until which it shows)
        self.stats = {"fps": 0.0, "tiles_per_s": 0.0, "frames": 0}
        self._status_lines = []
        self.schedule = ""                      # "open until 18:00", "closed until 10:00" (set by the live app)
        self.health = {}                        # memory_mb, generator_restarts, osc_peer (exhibit/health.py)
        self.identity = []                      # (label, value) lines of the identify panel, while it shows
        self.identify_until = 0.0               # wall time the identify panel goes
        self.pattern = False                    # the projector test pattern instead of the grid
        self._pattern = None                    # its surface, for one screen size
        self.set_model(generator)
        self.refresh_status()                   # status = true in the config: the panel has text from frame one

    # -- inputs -------------------------------------------------------------------------------------------

    def set_model(self, generator):
        """Name the model in status and notices (the generation step swaps the generator itself)."""
        self.model_name = getattr(generator, "name", "generator")
        if generator.metadata.get("untrained"):
            log.warning(UNTRAINED)
            self.notify(UNTRAINED, 20.0)

    def apply(self, command):
        """Apply a show Command; a command that does not fit (a tile outside the grid) is logged and dropped."""
        try:
            return self.show.apply(command)
        except c.CommandError as error:
            log.warning("rejected: %s", error)
            return False

    def add(self, batches, retime):
        """File generated frames (generation.worker.Batch) under their tiles; retime: see screen/frames.Track.push."""
        for batch in batches:
            self.compositor.add(batch, self.show.time, retime)

    def ready(self):
        """Every tile has a first frame."""
        return self.compositor.frames.ready()

    def notify(self, text, seconds=6.0):
        """A line at the foot of the screen for a few seconds: what happened, when no one is reading logs."""
        if self.notices:
            self.messages = [m for m in self.messages if m[0] != text][-3:] + [(text, self.show.wall + seconds)]

    def identify(self, on, lines):
        """Show (on=True, for IDENTIFY_SECONDS), hide (False) or toggle (None) the identify panel with `lines`."""
        if on is None:
            on = self.identify_until <= self.show.wall
        self.identity = lines
        self.identify_until = self.show.wall + c.IDENTIFY_SECONDS if on else 0.0
        log.info("identify %s", "on: " + "; ".join(f"{k} {v}" for k, v in lines) if on else "off")
        return on

    def test_pattern(self, on):
        """The test pattern on (True), off (False) or toggled (None); returns whether it is now on."""
        self.pattern = not self.pattern if on is None else on
        log.info("test pattern %s", "on" if self.pattern else "off")
        return self.pattern

    def resize(self, size, target):
        self.compositor.resize(size, target)
        self.overlays = Overlays(self.overlays.names, size[1])

    # -- output -------------------------------------------------------------------------------------------

    def draw(self, surface):
        """Draw the frame; returns the rects that changed, or None if the whole surface may have."""
        show, layout = self.show, self.compositor.layout
        if self.pattern:
            size = surface.get_size()
            if self._pattern is None or self._pattern.get_size() != size:
                self._pattern = test_pattern(size, self.overlays.font(self.overlays.unit))
            surface.blit(self._pattern, (0, 0))
        else:
            captions = self.overlays.captions(layout) if show.captions else None
            self.compositor.draw(surface, show.time, show.light(), captions)
        unit = self.overlays.unit
        identify = self.identify_until > show.wall
        overlaid = show.status or show.help or self.messages or identify or self.pattern
        if overlaid:
            self.compositor.invalidate()        # panels cover the picture: draw all of it next frame
        if identify:
            panel = self.overlays.panel("identify", self.identity, scale=2)
            surface.blit(panel, panel.get_rect(center=surface.get_rect().center))
        if show.status:
            surface.blit(self.overlays.panel("status", self._status_lines), (unit, unit))
        if show.help and self.help_lines:
            panel = self.overlays.panel("help", self.help_lines)
            surface.blit(panel, panel.get_rect(center=surface.get_rect().center))
        self.messages = [m for m in self.messages if m[1] > show.wall]
        if self.messages:
            panel = self.overlays.panel("messages", [m[0] for m in self.messages])
            surface.blit(panel, panel.get_rect(midbottom=(surface.get_width() // 2, surface.get_height() - unit)))
        return None if overlaid else self.compositor.dirty

    def refresh_status(self):
        """Re-render the status text (call a few times a second, not every frame)."""
        s, show = self.stats, self.show
        minutes, seconds = divmod(int(show.wall), 60)
        self._status_lines = [
            f"{s['fps']:.1f} fps   {s['tiles_per_s']:.0f} fresh tiles/s",
            f"{show.mode}{'  (paused)' if show.paused else ''}   speed {show.speed:g}   psi {show.psi:.2f}",
            f"model {self.model_name}   seed {show.seed}",
            f"up {minutes // 60}:{minutes % 60:02d}:{seconds:02d}   frame {s['frames']}",
        ] + ([self.schedule] if self.schedule and self.schedule != "always open" else [])
        if self.health:
            h = self.health
            self._status_lines.append(f"memory {h['memory_mb']:.0f} MB   generator restarts {h['generator_restarts']}"
                                      + (f"   OSC from {h['osc_peer']}" if h["osc_peer"] else ""))

    def snapshot(self):
        return {**self.show.snapshot(), "model": self.model_name, "fps": round(self.stats["fps"], 2),
                "tiles_per_s": round(self.stats["tiles_per_s"], 1), "frames": self.stats["frames"],
                "schedule": self.schedule, **self.health}
