"""Shared test setup: no display, quiet TensorFlow, tiny sizes."""
import os

# Set before pygame or TensorFlow are imported anywhere in the test session.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
