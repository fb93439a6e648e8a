"""Files shipped with the project: the default generator and the tile captions (assets/), default settings (configs/).

In a source checkout they sit beside the packages. `pip install .` puts the same files inside this package, under
`model/shipped/` (pyproject.toml maps assets/ and configs/ there), so the show and the trainer run from any folder.
Every reader asks `bundled.path` and never builds a path of its own.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACES = (HERE.parent, HERE / "shipped")     # a checkout, an installed copy


def path(*parts):
    """The shipped file `parts` (e.g. "assets", "countries.txt") where it exists; the checkout's path if nowhere."""
    for base in PLACES:
        candidate = base.joinpath(*parts)
        if candidate.exists():
            return candidate
    return PLACES[0].joinpath(*parts)
