"""Shared test setup: no display, quiet TensorFlow, tiny sizes, a data folder of the session's own, and the order
the test files run in."""
import atexit
import os
import shutil
import tempfile

import pytest

# Set before pygame or TensorFlow are imported anywhere in the test session.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# The show keeps its files (state, scenes, screenshots) in the platform's data folder (platformdirs, which follows
# XDG_DATA_HOME on Linux): a show started by a test, in this process or a child, writes into a folder of the session's
# own and never into the user's.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="permeation-test-data-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A generator file of 32 px tiles and width 16, for tests that start a real show to check its processes and
    state rather than its pictures: its generator process loads and draws it in a fraction of the bundled model's
    time, and leaves more of the CPU to the show and the test."""
    import model

    path = tmp_path_factory.mktemp("models") / "tiny-32.keras"
    model.save_generator(model.new_generator(32, seed=1, width=16).network, path)
    return path


# The two lanes (pytest-xdist, a file to a lane) finish together when the longest files start first. In name order the
# training tests, a third of the suite's time, came last and ran alone for minutes while the other lane sat idle.
LONGEST_FIRST = ["test_train.py", "test_exhibit_children.py", "test_exhibit_screen.py", "test_tour_notebook.py"]


def pytest_collection_modifyitems(items):
    """Reorder whole files, longest first; within a file, and among the other files, the order stays."""
    def rank(item):
        return LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)
