"""`python -m exhibit send ADDRESS [ARGS...]`: send one OSC message from a terminal and print any reply.

    python -m exhibit send /exhibit/ping
    python -m exhibit send /exhibit/speed 2
    python -m exhibit send /exhibit/mode wave --host 192.168.1.50

Arguments that read as integers are sent as OSC ints, other numbers as floats, anything else as strings.
Replies come back to the port this command sends from (the answers to /exhibit/ping and /exhibit/status,
and /exhibit/error with the reason when a message is rejected); it prints them as they arrive, stops after
--wait seconds, and exits 1 on an error or when a ping or status got no answer.
"""
import argparse
import socket
import sys
import time

from exhibit.control.osc import DEFAULT_PORT, Malformed, encode, parse


def typed(text):
    """'3' -> 3, '0.5' -> 0.5, 'wave' -> 'wave'. inf and nan stay strings: they are never valid values."""
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
    parser.add_argument("args", nargs="*", help="arguments: integers, floats or strings")
    parser.add_argument("--host", default="127.0.0.1", help="the exhibit's host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"its OSC port (default {DEFAULT_PORT})")
    parser.add_argument("--wait", type=float, default=0.5, help="seconds to wait for replies (default 0.5)")
    options = parser.parse_args(argv)
    if not options.address.startswith("/"):
        parser.error(f"address must start with '/', e.g. /exhibit/ping (got {options.address!r})")

    try:
        family, _, _, _, peer = socket.getaddrinfo(options.host, options.port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as error:
        print(f"send: cannot resolve host {options.host!r} ({error.strerror})", file=sys.stderr)
        return 1
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(encode(options.address, *map(typed, options.args)), peer)
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
