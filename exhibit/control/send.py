"""`python -m exhibit send ADDRESS [ARGS...]`: send one OSC message from a terminal and print any reply.

    python -m exhibit send /exhibit/ping
    python -m exhibit send /exhibit/speed 2
    python -m exhibit send /exhibit/mode wave --host 192.168.1.50

    python -m exhibit send /exhibit/captions T
    python -m exhibit send /exhibit/speed f:3

Arguments that read as integers are sent as OSC ints, other numbers as floats, T and F as OSC true and false,
anything else as strings. A type tag and a colon choose the type: i:3 (int32), f:3 (float32), d:3 (float64),
h:3 (int64), s:3 (the string "3"), S:wave (symbol), c:x (char); N and I alone send nil and impulse.
Replies come back to the port this command sends from (the answers to /exhibit/ping and /exhibit/status,
and /exhibit/error with the reason when a message is rejected); it prints them as they arrive, stops after
--wait seconds, and exits 1 on an error or when a ping or status got no answer.
"""
import argparse
import socket
import sys
import time

from exhibit.control.osc import DEFAULT_PORT, IMPULSE, Arg, Malformed, encode, parse

EXPLICIT = {"i": int, "h": int, "f": float, "d": float, "s": str, "S": str, "c": str}


def typed(text):
    """'3' -> 3, '0.5' -> 0.5, 'wave' -> 'wave', 'T' -> True, 'f:3' -> Arg('f', 3.0). inf and nan stay
    strings: they are never valid values. ValueError for an explicit tag whose value does not fit it."""
    if text in ("T", "F"):
        return text == "T"
    if text == "N":
        return None
    if text == "I":
        return IMPULSE
    tag, colon, value = text.partition(":")
    if colon and tag in EXPLICIT:
        try:
            converted = EXPLICIT[tag](value)
        except ValueError:
            raise ValueError(f"{text!r}: {value!r} is not a valid {tag} value") from None
        if tag == "c" and len(value) != 1:
            raise ValueError(f"{text!r}: a char is one character")
        return Arg(tag, converted)
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
        return value if value == value and abs(value) != float("inf") else text
    except ValueError:
        return text


def show(address, args):
    """A reply as one line: the address, then the arguments (floats kept short)."""
    return " ".join([address] + [f"{a:g}" if isinstance(a, float) else str(a) for a in args])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m exhibit send",
                                     description="Send one OSC message to a running exhibit and print any reply.")
    parser.add_argument("address", help="OSC address, e.g. /exhibit/speed")
    parser.add_argument("args", nargs="*", help="arguments: integers, floats, strings, T, F; or tagged: i:3 f:3 s:3")
    parser.add_argument("--host", default="127.0.0.1", help="the exhibit's host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"its OSC port (default {DEFAULT_PORT})")
    parser.add_argument("--wait", type=float, default=0.5, help="seconds to wait for replies (default 0.5)")
    options = parser.parse_args(argv)
    if not options.address.startswith("/"):
        parser.error(f"address must start with '/', e.g. /exhibit/ping (got {options.address!r})")

    try:
        args = [typed(a) for a in options.args]
    except ValueError as error:
        parser.error(str(error))
    try:
        family, _, _, _, peer = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as error:
        print(f"send: cannot resolve host {options.host!r} ({error.strerror})", file=sys.stderr)
        return 1
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(encode(options.address, *args), peer)
        except OSError as error:
            print(f"send: cannot send to {options.host}:{options.port} ({error.strerror or error})", file=sys.stderr)
            return 1
        replies, errors = 0, 0
        deadline = time.monotonic() + options.wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65535)
            except socket.timeout:
                break
            except OSError:            # e.g. nothing listens on that port: the system says so here
                break
            try:
                for address, args in parse(data):
                    print(show(address, args), flush=True)
                    replies += 1
                    errors += address.endswith("/error")
            except Malformed:
                continue
    if not replies and options.address.endswith(("/ping", "/status")):
        print(f"send: no reply from {options.host}:{options.port} within {options.wait:g} s; "
              f"is the exhibit running with OSC on that port?", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
