"""Pure state and time: the show's settings, the 196 latent paths and the clocks that drive them.

Nothing here draws or generates: `state.Show` applies Commands and answers "which latent is tile n at show time t",
`choreography` holds the keyframe walks and the transitions between them (slerp, ease, modes), and `clock` gives show
time in seconds (real for the live show, fixed steps for render). `schedule` says whether the gallery is open at a
local time, and `resume` keeps the show's state in a file across restarts. No pygame and no TensorFlow, so all of it
is tested in plain Python and the same code drives the live show and a repeatable render.
"""
