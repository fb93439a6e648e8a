"""Input turned into Commands: the keyboard, saved scenes, and OSC from controllers on the network.

`keyboard` maps keys to Commands, `scenes` saves and recalls lists of Commands, `osc/` receives OSC in a process of its
own and sends state back, `send` is the command-line OSC client (`python -m exhibit send`), `osc_bench` measures OSC
latency under a flood. Every path ends in the one vocabulary of exhibit/commands.py.
"""
