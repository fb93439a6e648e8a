"""Each tile's few newest true frames, and what to show between them.

A tile shows a crossfade between the two frames whose show times bracket the current show time. Frames are
generated a little ahead, so normally the display is interpolating toward a frame that already exists. When
generation is late the tile holds its newest frame; in the live show (`retime`) the next frame to arrive then
fades in from that moment, so nothing ever jumps. A render never needs retiming: it waits for its frames.
"""
import bisect


class Track:
    """Frames of one tile as parallel lists of show times and images, oldest first."""
    __slots__ = ("times", "images")
    KEEP = 4

    def __init__(self):
        self.times, self.images = [], []

    def push(self, t, image, now, retime):
        """File `image` (None: unchanged, the newest image again) as the tile's frame at show time `t` (seconds).

        The retime rule (the live show, `retime=True`): a frame may arrive after the display has passed the tile's
        newest one (`now`, the show time on screen, is beyond it: generation was late and the tile is holding).
        The tile then fades to the new frame starting from the held picture at `now`, instead of from where it
        should have been, so it never jumps; and a frame is never filed before the newest one. A render
        (`retime=False`) files frames at their own times: it waits for them. Keeps the KEEP newest frames.
        """
        if retime and self.times:
            if self.times[-1] <= now:           # the display was holding the newest: fade from here, from now
                self.times, self.images = [now], [self.images[-1]]
            t = max(t, self.times[-1] + 1e-6)
        if image is None:                      # unchanged: the newest image, at a new time
            if not self.images:
                return
            image = self.images[-1]
        i = bisect.bisect_right(self.times, t)
        self.times.insert(i, t)
        self.images.insert(i, image)
        if len(self.times) > self.KEEP:
            del self.times[0], self.images[0]

    def sample(self, t):
        """(a, b, w): show a blended toward b by w in [0, 1]; b is None when there is nothing to blend toward."""
        times = self.times
        while len(times) > 2 and times[1] <= t:      # frames wholly in the past are no longer needed
            del times[0], self.images[0]
        if not times:
            return None, None, 0.0
        if len(times) == 1 or t <= times[0]:
            return self.images[0], None, 0.0
        if t >= times[1]:
            return self.images[1], None, 0.0
        return self.images[0], self.images[1], (t - times[0]) / (times[1] - times[0])


class TileFrames:
    """One Track per tile."""

    def __init__(self, n_tiles):
        self.tracks = [Track() for _ in range(n_tiles)]

    def ready(self):
        """Every tile has at least one frame: the show can begin."""
        return all(track.times for track in self.tracks)

    def replace_images(self, convert):
        """Apply convert to every stored image (a new screen size: rescale what we have)."""
        for track in self.tracks:
            track.images = [convert(image) for image in track.images]
