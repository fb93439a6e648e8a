"""The guard: datagram -> messages. Bundles are walked here, not by python-osc, so that sizes, nesting and
element counts are checked before anything is parsed (python-osc 1.10.2 loops forever on a negative element
size). Timetags are ignored: every message acts on arrival."""
import struct

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

MAX_DATAGRAM = 65535
MAX_BUNDLE_DEPTH = 4
MAX_BUNDLE_MESSAGES = 256
ARG_TYPES = set("ifdhsTFN")          # what our addresses can use; blobs, MIDI, arrays... are dropped


class Malformed(ValueError):
    """A datagram that is not a well-formed OSC packet we accept."""


def parse(datagram):
    """All messages in a datagram as (address, args) pairs, or Malformed. Bundles are flattened."""
    messages = []
    _parse_into(memoryview(datagram), messages, depth=0)
    return messages


def _parse_into(data, messages, depth):
    if data[:8] == b"#bundle\0":
        if depth >= MAX_BUNDLE_DEPTH:
            raise Malformed(f"bundle nested deeper than {MAX_BUNDLE_DEPTH}")
        if len(data) < 16:
            raise Malformed("bundle shorter than its header")
        index = 16                                     # '#bundle\0' and the timetag, which we ignore
        while index < len(data):
            if index + 4 > len(data):
                raise Malformed("bundle element size truncated")
            (size,) = struct.unpack_from(">i", data, index)
            index += 4
            if size <= 0 or size % 4 or index + size > len(data):
                raise Malformed(f"bundle element size {size} does not fit the datagram")
            _parse_into(data[index:index + size], messages, depth + 1)
            index += size
        return
    if len(messages) >= MAX_BUNDLE_MESSAGES:
        raise Malformed(f"more than {MAX_BUNDLE_MESSAGES} messages in one packet")
    messages.append(_parse_message(bytes(data)))


def _parse_message(data):
    if not data.startswith(b"/"):
        raise Malformed("neither a message nor a bundle")
    end = data.find(b"\0")
    if end < 0 or len(data) % 4:
        raise Malformed("truncated message")
    tags_at = (end + 4) & ~3
    if tags_at < len(data):
        tag_end = data.find(b"\0", tags_at)
        if data[tags_at:tags_at + 1] != b"," or tag_end < 0:
            raise Malformed("bad type tag string")
        unsupported = set(data[tags_at + 1:tag_end].decode("ascii", "replace")) - ARG_TYPES
        if unsupported:
            raise Malformed(f"unsupported argument type {''.join(sorted(unsupported))!r}")
    try:
        message = OscMessage(data)
        return message.address, message.params
    except Exception as error:                        # python-osc's ParseError, UnicodeDecodeError, ...
        raise Malformed(f"unparseable message ({type(error).__name__})") from None


def encode(address, *args):
    """One OSC message as bytes. Python bools become T/F, ints i, floats f, strings s."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram
