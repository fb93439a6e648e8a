"""Live control over OSC: messages under /exhibit become Commands; the state goes back as feedback.

Peers (TouchOSC on a tablet, Max/MSP, TouchDesigner, QLab, `python -m exhibit send`) send to port 8000;
the state comes back to the sender's host on port 9000 (TouchOSC's own defaults), to the configured
feedback targets, and to every peer that asked for /exhibit/status, so faders follow changes made
elsewhere. The address table is ROUTES in addresses.py and the README.

Receiving runs in a small process of its own (receiver.py) with its own socket loop, not python-osc's
server classes, because it has to survive anything a network can deliver. python-osc parses single
messages; this package checks everything around them first:
- Bundles are walked here, element sizes checked, nesting and element count bounded (python-osc 1.10.2
  loops forever on a negative element size). Timetags are ignored: every message acts on arrival, so a
  bundle stamped for next year cannot hold anything up.
- Datagrams from senders outside the allowlist (CIDRs; loopback and private networks by default), truncated
  or non-UTF-8 datagrams and unsupported argument types are dropped; bad arguments are rejected. Each kind
  of trouble is logged at most once per few seconds, with a count of what was left unsaid.
- A flood costs the show little: the receiver drains the socket in batches, keeps only the newest message
  per continuous address (a fader sends hundreds a second; the show needs the last) and hands the show's
  process a few coalesced Commands at a time; the show's CommandQueue is bounded and coalescing too.
  Handlers only build Commands; the show applies them between frames.

The pieces, in the order a datagram meets them:
  security.py   who may speak (the allowlist) and how often trouble is logged
  packets.py    the guard: datagram -> (address, args) messages, or Malformed
  addresses.py  the address map: (address, args) -> Commands, or Rejected
  receiver.py   the receiver process that runs the three above (`python -m exhibit.control.osc`)
  server.py     OscServer, in the show's process: starts the receiver, queues its Commands, sends feedback
  feedback.py   state -> messages that put a controller's faders where the show is
"""
from exhibit.control.osc.addresses import (
    LEVELS, MAX_PATTERN, PREFIX, ROUTES, Context, Level, Rejected, Route, compile_part, match_part, translate)
from exhibit.control.osc.feedback import STATUS_KEYS, state_messages, status_args
from exhibit.control.osc.packets import IMPULSE, Arg, Malformed, encode, parse
from exhibit.control.osc.receiver import Receiver, receive, reply_targets
from exhibit.control.osc.security import DEFAULT_ALLOW, Allowlist, RateLimitedLog, parse_allow
from exhibit.control.osc.server import DEFAULT_FEEDBACK_PORT, DEFAULT_PORT, OscServer, bench, start

__all__ = [
    "PREFIX", "DEFAULT_PORT", "DEFAULT_FEEDBACK_PORT", "DEFAULT_ALLOW",
    "Malformed", "parse", "encode", "Arg", "IMPULSE",
    "Rejected", "Level", "LEVELS", "Context", "Route", "ROUTES", "MAX_PATTERN", "translate", "compile_part",
    "match_part",
    "STATUS_KEYS", "state_messages", "status_args",
    "parse_allow", "Allowlist", "RateLimitedLog",
    "Receiver", "receive", "reply_targets",
    "OscServer", "start", "bench",
]
