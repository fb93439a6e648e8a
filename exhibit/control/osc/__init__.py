"""Live control over OSC: messages under /exhibit become Commands; the state goes back as feedback.

Peers (TouchOSC on a tablet, Max/MSP, TouchDesigner, QLab, `python -m exhibit send`) send to port 8000 over
UDP or TCP. Every reply goes to the sender's source port and to its host on the feedback port (9000,
TouchOSC's default; Max's udpreceive, oscdump listen there), or back on its TCP connection; state changes go
to the same places, to the configured feedback targets and to every peer that asked for /exhibit/status, so
faders follow changes made elsewhere. The address table is ROUTES in addresses.py and the README.

Receiving runs in a small process of its own (receiver.py) with its own socket loop, not python-osc's
server classes, because it has to survive anything a network can deliver:
- Packets are parsed by our own guard (packets.py), every length checked, every standard type tag read;
  bundles walked with sizes checked and nesting and element count bounded. Timetags are ignored: every
  message acts on arrival, so a bundle stamped for next year cannot hold anything up.
- Address patterns (* ? [..] {..}) are matched by hand against a tree of the address space, bounded in length.
- Senders outside the allowlist are dropped; bad arguments are rejected, and the sender is told why. Each
  kind of trouble is logged the first time, then summed up by kind every few seconds.
- A flood costs the show little and other controllers little: each controller has a queue of its own (a
  socket connected to it), read in turn a batch at a time, so one that floods overflows only its own; the
  receiver keeps only the last of a run of moves of one fader (nothing else may come between: commands apply
  in arrival order) and hands the show's process a few Commands at a time; the show's CommandQueue is bounded
  and coalesces the same way.
  Handlers only build Commands; the show applies them between frames.

The pieces, in the order a packet meets them:
  security.py   who may speak (the allowlist) and how often trouble is logged
  tcp.py        OSC over TCP on the same port: SLIP (OSC 1.1) or length-prefixed (OSC 1.0) frames, bounded
  packets.py    the guard: packet -> (address, args) messages, or Malformed; and encode
  addresses.py  the address map: (address or pattern, args) -> Commands, or Rejected; ROUTES, the one table
  receiver.py   the receiver process that runs the above (`python -m exhibit.control.osc`)
  server.py     OscServer, in the show's process: starts the receiver, queues its Commands, sends replies
                and feedback, tells a sender how its Command ended (on_result)
  feedback.py   state -> messages that put a controller's faders where the show is
  query.py      OSCQuery: the address space as JSON over HTTP
  discovery.py  zeroconf: the show's services announced by name
  touchosc.py   `python -m exhibit controller`: a TouchOSC layout made from ROUTES
"""
from exhibit.control.osc.addresses import (
    LEVELS, MAX_PATTERN, PREFIX, ROUTES, Context, Level, Rejected, Route, compile_part, match_part, translate)
from exhibit.control.osc.feedback import STATUS_KEYS, state_messages, status_args
from exhibit.control.osc.packets import IMPULSE, Arg, Malformed, encode, parse
from exhibit.control.osc.receiver import Receiver, receive, reply_targets
from exhibit.control.osc.security import DEFAULT_ALLOW, Allowlist, RateLimitedLog, parse_allow
from exhibit.control.osc.server import DEFAULT_FEEDBACK_PORT, DEFAULT_PORT, OscServer, start

__all__ = [
    "PREFIX", "DEFAULT_PORT", "DEFAULT_FEEDBACK_PORT", "DEFAULT_ALLOW",
    "Malformed", "parse", "encode", "Arg", "IMPULSE",
    "Rejected", "Level", "LEVELS", "Context", "Route", "ROUTES", "MAX_PATTERN", "translate", "compile_part",
    "match_part",
    "STATUS_KEYS", "state_messages", "status_args",
    "parse_allow", "Allowlist", "RateLimitedLog",
    "Receiver", "receive", "reply_targets",
    "OscServer", "start",
]
