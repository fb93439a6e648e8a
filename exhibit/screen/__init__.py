"""Everything that touches pygame: the display, and turning generated tiles into the picture.

`display` opens the window or fullscreen screen (CPU path), `gpu` the same through SDL's renderer with one texture per
tile, `frames` keeps each tile's two bracketing generated frames, `compositor` crossfades them into the mosaic and
`overlays` draws captions, status and help on top. Nothing outside this folder imports pygame's drawing.
"""
