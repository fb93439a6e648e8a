"""The guard: datagram -> messages, and messages -> bytes. Written against the OSC 1.0 specification
(opensoundcontrol.org/spec-1_0) and the OSC 1.1 type tags (Freed & Schmeder, NIME 2009), not with python-osc's
parser: every length read here is checked against the bytes that are there, bundles are walked with their sizes
checked and their nesting and element count bounded (python-osc 1.10.2 loops forever on a negative element
size), and every standard type tag is read, so a peer's choice of tag never drops its message.

Arguments come out as Python values, by tag:
  i h      int (32, 64 bit)            f d   float (32 bit floats as their shortest decimal: 0.3, not 0.30000001)
  s S      str (S, the symbol, is a string)   c     str of one character
  T F      True / False                N     None              I     IMPULSE (a bang: a button press)
  b        bytes (blob)                t     Timetag           r     Color(r, g, b, a)   m   Midi(port, status, d1, d2)
  [ ]      list (arrays, nested up to MAX_ARRAY_DEPTH)
Any other tag is rejected by name. Timetags of bundles are ignored: every message acts on arrival.
"""
import struct
from typing import NamedTuple

MAX_DATAGRAM = 65535
MAX_BUNDLE_DEPTH = 4
MAX_BUNDLE_MESSAGES = 256
MAX_ARRAY_DEPTH = 4
TAG_NAMES = {"i": "int32", "f": "float32", "s": "string", "b": "blob", "h": "int64", "d": "float64",
             "t": "timetag", "S": "symbol", "c": "char", "r": "RGBA color", "m": "MIDI message", "T": "true",
             "F": "false", "N": "nil", "I": "impulse", "[": "array start", "]": "array end"}


class Malformed(ValueError):
    """A datagram that is not a well-formed OSC packet."""


class Timetag(NamedTuple):
    """An OSC timetag argument: NTP seconds since 1900 and a binary fraction."""
    seconds: int
    fraction: int


class Color(NamedTuple):
    r: int
    g: int
    b: int
    a: int


class Midi(NamedTuple):
    port: int
    status: int
    data1: int
    data2: int


class _Impulse:
    """OSC 1.1 'I' (infinitum / impulse): an event without a value, as a button press sends."""
    def __repr__(self):
        return "IMPULSE"


IMPULSE = _Impulse()


def parse(datagram):
    """All messages in a datagram (or a SLIP frame) as (address, args) pairs, or Malformed. Bundles are flattened."""
    messages = []
    _parse_into(memoryview(bytes(datagram)), messages, depth=0)
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


def _string(data, at, what):
    """A NUL-terminated string padded to 4 bytes at `at` -> (text, next index)."""
    end = data.find(b"\0", at)
    if end < 0:
        raise Malformed(f"{what} not terminated")
    nxt = (end + 4) & ~3
    if nxt > len(data):
        raise Malformed(f"{what} padding truncated")
    try:
        return data[at:end].decode("utf-8"), nxt
    except UnicodeDecodeError:
        raise Malformed(f"{what} is not UTF-8") from None


def _parse_message(data):
    if not data.startswith(b"/"):
        raise Malformed("neither a message nor a bundle")
    if len(data) % 4:
        raise Malformed("truncated message (length not a multiple of 4)")
    address, index = _string(data, 0, "address")
    if index < len(data) and data[index:index + 1] != b",":
        raise Malformed("NUL inside the address, or a bad type tag string")
    if index >= len(data):
        return address, []                             # OSC 1.0: a message may omit the type tags
    tags, index = _string(data, index, "type tag string")
    args, stack = [], []
    for tag in tags[1:]:
        if tag == "[":
            if len(stack) >= MAX_ARRAY_DEPTH:
                raise Malformed(f"arrays nested deeper than {MAX_ARRAY_DEPTH}")
            stack.append(args)
            args = []
            continue
        if tag == "]":
            if not stack:
                raise Malformed("']' without '[' in the type tags")
            inner, args = args, stack.pop()
            args.append(inner)
            continue
        value, index = _argument(data, index, tag)
        args.append(value)
    if stack:
        raise Malformed("'[' without ']' in the type tags")
    if index != len(data):
        raise Malformed("bytes left over after the arguments")
    return address, args


_FIXED = {"i": ">i", "f": ">f", "h": ">q", "d": ">d", "c": ">I", "r": ">4B", "m": ">4B", "t": ">II"}


def _argument(data, index, tag):
    if tag in "TFNI":
        return {"T": True, "F": False, "N": None, "I": IMPULSE}[tag], index
    if tag in "sS":
        return _string(data, index, "string argument")
    if tag == "b":
        if index + 4 > len(data):
            raise Malformed("blob size truncated")
        (size,) = struct.unpack_from(">i", data, index)
        end = index + 4 + size
        if size < 0 or end > len(data):
            raise Malformed(f"blob size {size} does not fit the message")
        return bytes(data[index + 4:end]), (end + 3) & ~3
    fmt = _FIXED.get(tag)
    if fmt is None:
        raise Malformed(f"unsupported argument type {tag!r}" if tag.isprintable() else "unsupported argument type")
    size = struct.calcsize(fmt)
    if index + size > len(data):
        raise Malformed(f"{TAG_NAMES[tag]} argument truncated")
    values = struct.unpack_from(fmt, data, index)
    index += size
    if tag == "f":
        return short_float(values[0]), index
    if tag == "c":
        if values[0] > 0x10FFFF:
            raise Malformed(f"char argument {values[0]} is not a character")
        return chr(values[0]), index
    if tag == "r":
        return Color(*values), index
    if tag == "m":
        return Midi(*values), index
    if tag == "t":
        return Timetag(*values), index
    return values[0], index


def short_float(value):
    """A float32 as the shortest decimal that reads back as the same float32: 0.3, not 0.30000001192092896.
    So a value is logged, saved in scenes and echoed as the user sent it."""
    if value != value or value in (float("inf"), float("-inf")):
        return value
    packed = struct.pack(">f", value)
    for digits in range(6, 10):
        short = float(f"{value:.{digits}g}")
        if struct.pack(">f", short) == packed:
            return short
    return value


class Arg(NamedTuple):
    """An argument with an explicit type tag, for encode: Arg("f", 3) sends 3 as a float32."""
    tag: str
    value: object


def _pad(raw):
    return raw + b"\0" * (4 - len(raw) % 4)


def _encode_arg(arg):
    """-> (tags, bytes). Python bools become T/F, ints i (h if large), floats f, str s, bytes b, None N."""
    if isinstance(arg, Arg):
        tag, value = arg
    elif isinstance(arg, bool):
        tag, value = ("T" if arg else "F"), None
    elif arg is None:
        tag, value = "N", None
    elif arg is IMPULSE:
        tag, value = "I", None
    elif isinstance(arg, int):
        tag, value = ("i" if -2**31 <= arg < 2**31 else "h"), arg
    elif isinstance(arg, float):
        tag, value = "f", arg
    elif isinstance(arg, str):
        tag, value = "s", arg
    elif isinstance(arg, (bytes, bytearray)):
        tag, value = "b", bytes(arg)
    elif isinstance(arg, (list, tuple)):
        parts = [_encode_arg(a) for a in arg]
        return "[" + "".join(t for t, _ in parts) + "]", b"".join(b for _, b in parts)
    else:
        raise TypeError(f"cannot send {type(arg).__name__} {arg!r} over OSC")
    if tag in "TFNI":
        return tag, b""
    if tag in "sS":
        return tag, _pad(str(value).encode("utf-8"))
    if tag == "b":
        return tag, struct.pack(">i", len(value)) + value + b"\0" * (-len(value) % 4)
    if tag == "c":
        return tag, struct.pack(">I", ord(value))
    if tag in "rmt":
        return tag, struct.pack(_FIXED[tag], *value)
    if tag in "ih":
        return tag, struct.pack(_FIXED[tag], int(value))
    if tag in "fd":
        return tag, struct.pack(_FIXED[tag], float(value))
    raise TypeError(f"unknown OSC type tag {tag!r}")


def encode(address, *args):
    """One OSC message as bytes (see _encode_arg for the tags Python values get; Arg for an explicit one)."""
    parts = [_encode_arg(a) for a in args]
    return _pad(address.encode("utf-8")) + _pad(("," + "".join(t for t, _ in parts)).encode("ascii")) + \
        b"".join(b for _, b in parts)
