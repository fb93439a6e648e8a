"""Shared test setup: no display, quiet TensorFlow, tiny sizes, and a data folder of the session's own."""
import atexit
import os
import shutil
import tempfile

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
