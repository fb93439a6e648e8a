"""OSC over TCP, on the same port number as UDP, for QLab and show-control networks that prefer a connection.

Two framings exist and both are read, told apart by a connection's first byte:
  SLIP (OSC 1.1; RFC 1055 with double END): packets between END (0xC0) bytes, 0xC0 and 0xDB escaped;
  a length prefix (OSC 1.0 "stream" transport): each packet after its size as a big-endian int32.
Replies go back on the same connection in the framing it uses.

Everything is bounded, so a connection can never hold up the show or the receiver: at most MAX_CONNECTIONS
at once (one more takes the place of the longest-idle one, or is closed at once), a packet at most MAX_FRAME bytes (a larger frame or length
prefix closes the connection after an /exhibit/error), IDLE_SECONDS without a complete packet closes it, and a
peer that does not read its replies is closed once OUT_LIMIT bytes wait for it. Sockets are non-blocking;
the receiver's one select loop serves them with the UDP socket.
"""
import socket
import struct
import time

from exhibit.control.osc.packets import MAX_DATAGRAM

MAX_CONNECTIONS = 64
MAX_FRAME = MAX_DATAGRAM
IDLE_SECONDS = 120.0
EVICT_IDLE_SECONDS = 5.0             # when full, a connection idle this long makes room for a new one
OUT_LIMIT = 1 << 20                  # bytes of replies waiting for a peer that does not read them
END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD


def is_tcp(sender):
    """Is this sender a TCP connection, (host, port, "tcp")? A UDP sender is its plain address: (host, port) over
    IPv4, (host, port, flowinfo, scope id) over IPv6, so its length says nothing."""
    return sender[-1] == "tcp"


def slip(packet):
    """One packet as a SLIP frame (OSC 1.1: double END)."""
    return bytes([END]) + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + bytes([END])


def unslip(frame):
    """The packet in a SLIP frame's body (without its END bytes); ValueError on a bad escape."""
    if b"\xdb" not in frame:
        return frame
    out, i = bytearray(), 0
    while i < len(frame):
        b = frame[i]
        if b == ESC:
            nxt = frame[i + 1] if i + 1 < len(frame) else None
            if nxt not in (ESC_END, ESC_ESC):
                raise ValueError("bad SLIP escape")
            out.append(END if nxt == ESC_END else ESC)
            i += 2
        else:
            out.append(b)
            i += 1
    return bytes(out)


class Connection:
    """One TCP peer: bytes in, packets out; replies queued and written as the peer reads them."""

    def __init__(self, sock, address):
        self.sock, self.address = sock, address[:2]
        self.framing = None          # "slip" or "length", from the first byte
        self.buffer = bytearray()
        self.out = bytearray()
        self.last = time.monotonic()

    def packets(self, data):
        """Complete packets in what arrived; ValueError (with the reason) if the peer broke a bound."""
        self.buffer += data
        if self.framing is None and self.buffer:
            self.framing = "slip" if self.buffer[0] == END else "length"
        found = []
        if self.framing == "slip":
            while True:
                end = self.buffer.find(END)
                if end < 0:
                    if len(self.buffer) > 2 * MAX_FRAME:          # escaped bytes may double a frame's size
                        raise ValueError(f"a SLIP frame longer than {MAX_FRAME} bytes without an end")
                    break
                frame = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                if frame:
                    packet = unslip(frame)
                    if len(packet) > MAX_FRAME:
                        raise ValueError(f"a packet of {len(packet)} bytes; at most {MAX_FRAME}")
                    found.append(packet)
        else:
            while len(self.buffer) >= 4:
                (size,) = struct.unpack_from(">i", self.buffer)
                if not 0 < size <= MAX_FRAME:
                    raise ValueError(f"a length prefix of {size} bytes; packets are 1..{MAX_FRAME}")
                if len(self.buffer) < 4 + size:
                    break
                found.append(bytes(self.buffer[4:4 + size]))
                del self.buffer[:4 + size]
        if found:
            self.last = time.monotonic()
        return found

    def frame(self, packet):
        return slip(packet) if self.framing == "slip" else struct.pack(">i", len(packet)) + packet


class TcpServer:
    """The listening socket and its connections, served from the receiver's select loop."""

    def __init__(self, bind, port):
        self.listener = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((bind, port))
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.connections = {}        # fileno -> Connection
        self.by_peer = {}            # (host, port) -> Connection
        self.refused = 0

    def readable(self):
        return [self.listener] + [c.sock for c in self.connections.values()]

    def writable(self):
        return [c.sock for c in self.connections.values() if c.out]

    def accept(self):
        try:
            sock, address = self.listener.accept()
        except OSError:
            return
        if len(self.connections) >= MAX_CONNECTIONS:
            # Full: make room by letting the longest-idle connection go if it has been idle a while, so a
            # crowd of idle connections cannot lock a real controller out; else refuse the newcomer.
            oldest = min(self.connections.values(), key=lambda c: c.last)
            if time.monotonic() - oldest.last < EVICT_IDLE_SECONDS:
                self.refused += 1
                sock.close()
                return
            self.close(oldest)
        sock.setblocking(False)
        connection = Connection(sock, address)
        self.connections[sock.fileno()] = connection
        self.by_peer[tuple(connection.address)] = connection

    def read(self, sock, on_packet, on_trouble):
        """Read what a connection sent; on_packet(packet, sender) for each packet in it."""
        connection = self.connections.get(sock.fileno())
        if connection is None:
            return
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close(connection)
            return
        try:
            packets = connection.packets(data)
        except ValueError as error:
            on_trouble(connection, str(error))
            self.close(connection)
            return
        sender = (*connection.address, "tcp")
        for packet in packets:
            on_packet(packet, sender)

    def send(self, peer, packet):
        """Queue a packet for a TCP peer (see is_tcp); False if it is gone."""
        connection = self.by_peer.get(tuple(peer[:2]))
        if connection is None:
            return False
        connection.out += connection.frame(packet)
        if len(connection.out) > OUT_LIMIT:           # it does not read its replies: let it go
            self.close(connection)
            return False
        self.write(connection.sock)
        return True

    def write(self, sock):
        connection = self.connections.get(sock.fileno())
        if connection is None or not connection.out:
            return
        try:
            sent = sock.send(connection.out)
            del connection.out[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.close(connection)

    def expire(self):
        """Close connections idle longer than IDLE_SECONDS."""
        now = time.monotonic()
        for connection in [c for c in self.connections.values() if now - c.last > IDLE_SECONDS]:
            self.close(connection)

    def close(self, connection):
        self.connections.pop(connection.sock.fileno(), None)
        if self.by_peer.get(tuple(connection.address)) is connection:
            del self.by_peer[tuple(connection.address)]
        try:
            connection.sock.close()
        except OSError:
            pass

    def close_all(self):
        for connection in list(self.connections.values()):
            self.close(connection)
        self.listener.close()
