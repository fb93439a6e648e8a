"""Drawing tiles with the generator, off the render loop.

`worker` decides which tiles need a fresh frame for which show time and batches them into one generator call, in a
thread; `process` runs the generator (TensorFlow) in a process of its own for the live show, so the show's process
never loads TensorFlow next to the graphics driver, and restarts it if it dies.
"""
