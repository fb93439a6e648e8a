"""Training settings: configs/train/default.toml, then the user's --config file, then command-line flags.

The default file is also the schema: a key it does not have is a typo, and a value must have the type of its default.
Errors name the key and what is allowed, so a typo costs seconds, not a wasted night of training.
"""
import math

from model import bundled
from model.config_file import ConfigFileError, read_toml

DEFAULT_FILE = bundled.path("configs", "train", "default.toml")

CHOICES = {
    ("model", "resolution"): (32, 64, 128, 256),
    ("distribution", "strategy"): ("auto", "mirrored", "multiworker", "single"),
}
MINIMUM = {  # inclusive lower bounds; everything numeric not listed must be >= 0
    ("data", "min_images"): 1, ("model", "z_dim"): 1, ("model", "w_dim"): 1, ("model", "width"): 16,
    ("model", "mapping_layers"): 1, ("train", "steps"): 1, ("train", "batch_size"): 1, ("train", "r1_every"): 1,
    ("train", "ema_images"): 1, ("augment", "speed_images"): 1, ("output", "checkpoint_every"): 1,
    ("output", "sample_every"): 1, ("output", "keep_checkpoints"): 1,
}
MAXIMUM = {("augment", "target"): 1.0, ("augment", "max_p"): 1.0}


class ConfigError(Exception):
    """A bad setting; the message names the key and the allowed values."""


def _read_toml(path):
    try:
        return read_toml(path)            # UTF-8 with or without BOM, any line ending; else a one-line error
    except ConfigFileError as error:
        raise ConfigError(str(error)) from None


def _check_value(section, key, value, default, source):
    name = f"{section}.{key}"
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not expected:
        raise ConfigError(f"{source}: {name} must be {expected.__name__} like {default!r}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{source}: {name} must be a finite number, got {value!r}")
    if (section, key) in CHOICES and value not in CHOICES[(section, key)]:
        allowed = ", ".join(map(str, CHOICES[(section, key)]))
        raise ConfigError(f"{source}: {name} = {value!r} is not allowed; use one of {allowed}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = MINIMUM.get((section, key), 0)
        high = MAXIMUM.get((section, key))
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{source}: {name} must be {bound}, got {value!r}")
    if isinstance(value, list) and key == "background":
        if len(value) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in value):
            raise ConfigError(f"{source}: {name} must be three integers 0..255 like [255, 255, 255], got {value!r}")
    return value


def merge(config, overrides, source):
    """Apply {section: {key: value}} onto config, checking every key and value against the defaults."""
    for section, values in overrides.items():
        if section not in config:
            raise ConfigError(f"{source}: unknown section [{section}]; sections are {', '.join(config)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        for key, value in values.items():
            if key not in config[section]:
                allowed = ", ".join(config[section])
                raise ConfigError(f"{source}: unknown key {section}.{key}; [{section}] has {allowed}")
            config[section][key] = _check_value(section, key, value, config[section][key], source)
    return config


def load_config(path=None, flags=None):
    """The settings for a run: defaults, then the file at `path`, then `flags` ({section: {key: value}})."""
    config = _read_toml(DEFAULT_FILE)
    if path is not None:
        merge(config, _read_toml(path), str(path))
    merge(config, flags or {}, "command line")
    return config
