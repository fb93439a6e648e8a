"""OSCQuery (github.com/Vidvox/OSCQueryProposal): the address space as JSON over HTTP, so TouchDesigner,
Chataigne and other OSCQuery clients build their controls from the show instead of being typed in.

    GET /                   the whole tree: every node's FULL_PATH, CONTENTS, TYPE, RANGE, DESCRIPTION, ACCESS, VALUE
    GET /exhibit/speed      one node
    GET /exhibit/speed?VALUE    one attribute of it: {"VALUE": [1.0]}
    GET /?HOST_INFO         the OSC port, its transports and the extensions served

The tree is made from addresses.ROUTES, the table that routes messages, so it cannot drift from what the
show obeys. It is read-only (GET and HEAD; anything else is 405), holds no file paths, answers only senders in
osc.allow (403 for the rest), 404 for a path the show does not have, 414 for a request line longer than
http.server's 64 KiB, and serves at most MAX_CLIENTS requests at once, each within TIMEOUT seconds.
"""
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from exhibit.control.osc.addresses import LEVELS, PREFIX, ROUTES, Context, Tree
from exhibit.control.osc.security import Allowlist, parse_allow

log = logging.getLogger("exhibit.control.osc")

MAX_CLIENTS = 16
TIMEOUT = 5.0
ACCESS_WRITE, ACCESS_READ_WRITE = 2, 3
ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "RANGE", "DESCRIPTION", "ACCESS", "VALUE")
FADERS = {f"{level.name}/fader": level for level in LEVELS}


def _value(route, snapshot, placeholders):
    """The route's current value as an OSCQuery VALUE array, or None if it has none. placeholders: the
    address's {tile}, {row}... as strings, e.g. {"tile": "12"} for /exhibit/tile/12/hold."""
    key = route.value
    if key is None:
        return None
    if key == "held":                                  # /exhibit/tile/{n}/hold: 1 while tile n is held
        held = snapshot.get("held")
        return None if held is None else [int(int(placeholders["tile"]) in held)]
    if key in FADERS:
        value = snapshot.get(FADERS[key].name)
        return None if value is None else [round(FADERS[key].to_fader(float(value)), 6)]
    value = snapshot.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return [int(value)]
    return [value if isinstance(value, (int, float, str)) else str(value)]


def _range(route):
    if not route.range:
        return None
    if all(isinstance(r, tuple) for r in route.range):          # one (lo, hi) per argument
        return [{"MIN": lo, "MAX": hi} for lo, hi in route.range]
    if all(isinstance(r, str) for r in route.range):
        return [{"VALS": list(route.range)}]
    lo, hi = route.range
    return [{"MIN": lo, "MAX": hi}]


def tree(ctx=Context(), snapshot=None):
    """The OSCQuery JSON tree of the address space, as a dict, with current values from `snapshot`."""
    snapshot = snapshot or {}

    def node(path, children):
        out = {"FULL_PATH": path or "/"}
        leaf = children.get(None)
        if leaf is not None:
            route, placeholders = leaf
            out["TYPE"] = route.types or "I"                     # no argument: a trigger (an impulse)
            out["ACCESS"] = ACCESS_READ_WRITE if route.value else ACCESS_WRITE
            out["DESCRIPTION"] = route.description
            rng = _range(route)
            if rng:
                out["RANGE"] = rng
            value = _value(route, snapshot, placeholders)
            if value is not None:
                out["VALUE"] = value
        contents = {name: node(f"{path}/{name}", child) for name, child in children.items() if name is not None}
        if contents:
            out["CONTENTS"] = contents
        return out

    root = Tree(ctx).root
    for route in ROUTES:             # /ping and /status are answered by the receiver, not routed: add them
        if route.handler is None:
            root.setdefault(PREFIX.strip("/"), {}).setdefault(route.path.strip("/"), {})[None] = (route, {})
    return node("", root)


def find(document, path):
    """The node at `path` in a tree from tree(), or None."""
    node = document
    for part in [p for p in path.split("/") if p]:
        node = node.get("CONTENTS", {}).get(part)
        if node is None:
            return None
    return node


class QueryServer:
    """The OSCQuery HTTP server on a port of its own, on a thread; `stop()` ends it."""

    def __init__(self, snapshot, *, bind="0.0.0.0", port=0, osc_port=8000, tcp=True, allow=(), name="exhibit",
                 context=Context()):
        self.snapshot, self.osc_port, self.tcp, self.name, self.context = snapshot, osc_port, tcp, name, context
        self.allowed = Allowlist(parse_allow(allow))
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        self._static = tree(context)           # the shape never changes while the show runs; values do
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = TIMEOUT
            server_version = "exhibit-oscquery"

            def do_GET(self):
                server.answer(self, body=True)

            def do_HEAD(self):
                server.answer(self, body=False)

            def _refuse(self):
                self.send_error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only: GET and HEAD only")

            do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

            def log_message(self, format, *args):     # http.server writes every request to stderr otherwise
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 16

            def process_request(self, request, client_address):
                if not server.allowed(client_address[0]) or not server.slots.acquire(blocking=False):
                    self.shutdown_request(request)              # outside the allowlist, or busy: close at once
                    return
                super().process_request(request, client_address)

            def process_request_thread(self, request, client_address):
                try:
                    super().process_request_thread(request, client_address)
                finally:
                    server.slots.release()

        family_bind = bind if ":" not in bind else "0.0.0.0"
        self.http = Server((family_bind, port), Handler)
        self.port = self.http.server_address[1]
        self._thread = threading.Thread(target=self.http.serve_forever, name="oscquery", daemon=True)

    def start(self):
        self._thread.start()
        log.info("OSCQuery: http://%s:%d/ describes the OSC address space", "0.0.0.0", self.port)
        return self

    def stop(self):
        self.http.shutdown()
        self.http.server_close()

    def host_info(self):
        return {"NAME": self.name, "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": {"ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "TYPE": True,
                               "LISTEN": False, "PATH_CHANGED": False, "CLIPMODE": False, "TAGS": False}}

    def answer(self, handler, body):
        url = urlsplit(handler.path)
        query = unquote(url.query)
        if query == "HOST_INFO":
            return self._json(handler, self.host_info(), body)
        path = unquote(url.path)
        node = find(self._static, path)
        if node is None:
            return self._error(handler, HTTPStatus.NOT_FOUND, f"no OSC address {path[:200]!r}; GET / lists them")
        node = find(tree(self.context, self.snapshot()), path)      # with current values
        if query:
            if query not in ATTRIBUTES:
                return self._error(handler, HTTPStatus.BAD_REQUEST,
                                   f"unknown attribute {query[:40]!r}; known: {', '.join(ATTRIBUTES)}")
            if query not in node:
                return self._error(handler, HTTPStatus.NO_CONTENT, "")
            return self._json(handler, {query: node[query]}, body)
        return self._json(handler, node, body)

    @staticmethod
    def _json(handler, document, body):
        data = json.dumps(document, ensure_ascii=False).encode("utf-8")
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    @staticmethod
    def _error(handler, status, message):
        if status == HTTPStatus.NO_CONTENT:
            handler.send_response(status)
            handler.end_headers()
            return
        handler.send_error(status, message)
