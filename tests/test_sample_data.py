"""The sample image set: built from the installed wallpaper packages, exact in count and size, the same for a seed,
and clear about what to install when packages are missing."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train import sample_data
from train.sample_data import PACKAGES, SOURCES, SampleDataError, build, find_sources

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "sample_data"


def installed_or_skip():
    try:
        find_sources()
    except SampleDataError as error:
        pytest.skip(f"no wallpaper package installed ({error})")


def images_in(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".jpg", ".png")}


def test_set_has_the_asked_count_and_size_and_is_the_same_for_a_seed(tmp_path):
    installed_or_skip()
    one = build(tmp_path / "one", count=8, seed=3, workers=1, log=lambda line: None)
    two = build(tmp_path / "two", count=8, seed=3, workers=2, log=lambda line: None)
    other = build(tmp_path / "other", count=8, seed=4, workers=1, log=lambda line: None)

    first = images_in(tmp_path / "one")
    assert one["count"] == len(first) == 8
    for name in first:
        with Image.open(tmp_path / "one" / name) as img:
            assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (256, 256))
    # The same seed gives the same files, byte for byte, whether built in one process or two.
    assert images_in(tmp_path / "two") == first and two["count"] == 8
    # Another seed gives other crops.
    others = images_in(tmp_path / "other")
    assert other["count"] == len(others) == 8
    assert all(others.get(name) != data for name, data in first.items())

    # The set carries its licences: every crop's source has a row with its author and licence.
    licences = (tmp_path / "one" / "SOURCES.md").read_text(encoding="utf-8")
    by_name = {s.name: s for s in SOURCES}
    for name in first:
        source = by_name[name.rsplit("-", 1)[0]]
        assert f"| {source.name} | {source.package} |" in licences and source.licence in licences


def test_nothing_installed_says_what_to_install(tmp_path):
    with pytest.raises(SampleDataError) as caught:
        build(tmp_path / "out", count=4, root=tmp_path / "empty-root")
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install" in message and all(package in message for package in PACKAGES)
    assert not (tmp_path / "out").exists()


def test_a_missing_package_is_named_and_the_rest_is_used(tmp_path):
    """A root holding just one source file: the set is built from it, and each absent package gets its install line."""
    aqua = next(s for s in SOURCES if s.name == "mate-Aqua")
    path = tmp_path / "root" / aqua.pattern
    path.parent.mkdir(parents=True)
    rng = np.random.default_rng(0)
    gradient = np.linspace(0, 255, 1200)[None, :, None] * np.array([1.0, 0.6, 0.3])
    noise = rng.normal(0, 25, (900, 1200, 3))
    Image.fromarray(np.clip(gradient + noise, 0, 255).astype(np.uint8)).save(path)

    lines = []
    summary = build(tmp_path / "out", count=3, size=32, fmt="png", painterly=False, root=tmp_path / "root",
                    log=lines.append)

    assert sorted(images_in(tmp_path / "out")) == [f"mate-Aqua-{k:04d}.png" for k in range(3)]
    for name in images_in(tmp_path / "out"):
        with Image.open(tmp_path / "out" / name) as img:
            assert (img.format, img.mode, img.size) == ("PNG", "RGB", (32, 32))
    assert summary["missing_packages"] == [p for p in PACKAGES if p != "mate-backgrounds"]
    for package in summary["missing_packages"]:
        assert any(package in line and f"apt-get install --no-install-recommends {package}" in line for line in lines)
    licences = (tmp_path / "out" / "SOURCES.md").read_text(encoding="utf-8")
    assert "| mate-Aqua |" in licences and "/usr/share/backgrounds/mate/nature/Aqua.jpg" in licences
    assert "plasma-" not in licences


def test_a_used_output_folder_is_refused(tmp_path):
    installed_or_skip()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.jpg").write_bytes(b"not ours to overwrite")
    assert sample_data.main(["--out", str(tmp_path / "out"), "--count", "2"]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.jpg"]


def test_near_uniform_windows_are_redrawn():
    """Half of this image is flat grey (an empty sky): no crop may come from there alone."""
    rng = np.random.default_rng(0)
    image = np.full((1536, 1536, 3), 128, np.uint8)
    y, x = np.mgrid[0:1536, 768:1536]
    image[:, 768:] = (128 + 80 * np.sin(x / 40) * np.sin(y / 40))[..., None].astype(np.uint8)   # light and shade
    scores = [sample_data.liveliness(sample_data.random_crop(image, 256, rng)) for _ in range(30)]
    assert min(scores) >= sample_data.MIN_LUMA_STD
    assert sample_data.liveliness(image[:512, :512]) < sample_data.MIN_LUMA_STD      # the flat half really is flat


def test_committed_mini_set_is_small_and_credited():
    files = sorted((ASSETS / "mini").glob("*.png"))
    assert len(files) == 32 and sum(f.stat().st_size for f in files) < 500_000
    for f in files:
        with Image.open(f) as img:
            assert (img.mode, img.size) == ("RGB", (64, 64))
    credits = (ASSETS / "mini" / "SOURCES.md").read_text(encoding="utf-8")
    assert all(f"| {f.name.rsplit('-', 1)[0]} |" in credits for f in files)
    # The repository's SOURCES.md credits every source the builder can use.
    everything = (ASSETS / "SOURCES.md").read_text(encoding="utf-8")
    for source in SOURCES:
        assert f"| {source.name} | {source.package} |" in everything and source.author in everything
