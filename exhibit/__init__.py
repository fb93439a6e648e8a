"""The exhibit: a living grid of generated tiles on a screen, played live over OSC or the keyboard.

Read it in this order. The folders are layers; each one's `__init__` says what it holds.
  __main__.py   the command line: the live show, render, bench, soak, send, service
  config.py     every setting, its default and what it accepts (configs/exhibit.toml)
  commands.py   the one vocabulary: Commands that keys, OSC, scenes and tests all speak
  show/         pure state and time: where each tile is on its latent path at a show time (no pygame, no TF)
  generation/   drawing tiles: the worker that batches requests, the generator process that runs the model
  screen/       everything that touches pygame: display, compositor (crossfades, mosaic), overlays, GPU path
  control/      input turned into Commands: keyboard, scenes, OSC (receiver, feedback), `send`, the OSC bench
  stage.py      the show, generation and compositor wired together: shared by live and render
  live.py       the game loop: events -> update -> render -> tick, on a real display
  upkeep.py     what a weeks-long run needs, called by the loop: opening hours, daily restart, the state file
  health.py     the heartbeat line and the memory, restarts and last OSC peer in the status
  heap.py       the C heap of the show's process tuned and trimmed, so its memory does not creep over weeks
  render.py     the same stage on a fixed clock, frame by frame, to video or PNG files
  bench.py      the live loop measured
  soak.py       the live loop fast-forwarded for many minutes, each process's memory, fds and threads watched
  children.py   child processes end with the show, even when it is killed
  service/      the show under a service manager: systemd's notify protocol, service files, `service install`
Layer rules (tests/test_exhibit_layers.py enforces them): show/ imports neither pygame nor TensorFlow; the show's own
process never imports TensorFlow (the model is drawn in the generator process); exhibit/ and train/ share only model/.
"""
