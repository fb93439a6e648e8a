"""Finding the show: zeroconf on the network and OSCQuery over HTTP, with real clients."""
import http.client
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from exhibit.control import osc
from exhibit.control.osc.discovery import Advertiser, instance_name
from exhibit.control.osc.query import QueryServer

P = osc.PREFIX
SNAPSHOT = {"speed": 2.0, "psi": 0.3, "blackout": 0.0, "brightness": 1.0, "mode": "wave", "paused": False,
            "captions": True, "model": "default-64"}


@pytest.fixture
def query():
    server = QueryServer(lambda: dict(SNAPSHOT), bind="127.0.0.1", port=0, osc_port=8123,
                         allow=["127.0.0.0/8"], name="Medium · Permeation on test").start()
    yield server
    server.stop()


def get(server, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as response:
        return response.status, json.loads(response.read())


def test_oscquery_tree_comes_from_the_routing_table(query):
    status, root = get(query, "/")
    assert status == 200 and root["FULL_PATH"] == "/"
    exhibit = root["CONTENTS"]["exhibit"]["CONTENTS"]
    speed = exhibit["speed"]
    assert speed["TYPE"] == "f" and speed["ACCESS"] == 3 and speed["VALUE"] == [2.0]
    assert speed["RANGE"] == [{"MIN": 0.0, "MAX": 8.0}] and speed["DESCRIPTION"]
    assert exhibit["psi"]["CONTENTS"]["fader"]["VALUE"] == [pytest.approx(0.2)]        # psi 0.3 of 1.5
    assert exhibit["mode"]["RANGE"] == [{"VALS": ["drift", "wave", "unison", "hold"]}]
    assert exhibit["mode"]["VALUE"] == ["wave"] and exhibit["captions"]["VALUE"] == [1]
    assert len(exhibit["tile"]["CONTENTS"]) == 196 and "hold" in exhibit["tile"]["CONTENTS"]["195"]["CONTENTS"]
    assert exhibit["row"]["CONTENTS"]["13"]["CONTENTS"]["reseed"]["TYPE"] == "i"
    assert exhibit["ping"]["TYPE"] == "I"
    # every routed address is in the tree, and the tree has nothing else
    for route in osc.ROUTES:
        path = (P + route.path).replace("{tile}", "7").replace("{row}", "1").replace("{column}", "2") \
            .replace("{slot}", "3").replace("{mode}", "drift")
        assert osc.query.find(root, path) is not None, path
    assert "/" not in json.dumps(exhibit["model"].get("VALUE", [])), "no file paths"


def test_oscquery_one_node_an_attribute_and_host_info(query):
    assert get(query, f"{P}/psi")[1]["VALUE"] == [0.3]
    assert get(query, f"{P}/psi?VALUE") == (200, {"VALUE": [0.3]})
    info = get(query, "/?HOST_INFO")[1]
    assert info["OSC_PORT"] == 8123 and info["OSC_TRANSPORT"] == "UDP" and info["NAME"].startswith("Medium")
    assert info["EXTENSIONS"]["VALUE"] is True


@pytest.mark.parametrize("path,status", [(f"{P}/nothing", 404), ("/etc/passwd", 404), (f"{P}/psi?SECRET", 400)])
def test_oscquery_bad_requests(query, path, status):
    with pytest.raises(urllib.error.HTTPError) as error:
        get(query, path)
    assert error.value.code == status


def test_oscquery_is_read_only_and_bounded(query):
    connection = http.client.HTTPConnection("127.0.0.1", query.port, timeout=5)
    connection.request("POST", f"{P}/speed", body=b"[3]")
    assert connection.getresponse().status == 405
    connection.close()
    with socket.create_connection(("127.0.0.1", query.port), timeout=5) as sock:    # a 1 MB request line
        try:
            sock.sendall(b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert b" 414 " in sock.recv(4096).split(b"\r\n")[0] + b" "
    assert get(query, f"{P}/psi?VALUE")[0] == 200, "still serving"


def test_oscquery_allowlist():
    server = QueryServer(dict, bind="127.0.0.1", port=0, allow=["10.0.0.0/8"]).start()
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.RemoteDisconnected)):
            get(server, "/")
    finally:
        server.stop()


def multicast_available():
    try:
        from zeroconf import Zeroconf
        Zeroconf().close()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not multicast_available(), reason="zeroconf cannot open a multicast socket on this machine")
def test_a_zeroconf_browser_finds_the_show():
    from zeroconf import ServiceBrowser, Zeroconf
    advertiser = Advertiser(18123, tcp=True, query_port=18124, host="testhost").start()
    browser_zc = Zeroconf()
    found = {}

    class Listener:
        def add_service(self, zc, kind, name):
            found.setdefault(kind, set()).add(name)

        update_service = remove_service = lambda *args: None

    try:
        assert advertiser.ready.wait(15) and advertiser.error is None, advertiser.error
        name = instance_name("testhost")
        assert name == "Medium · Permeation on testhost"
        kinds = ("_osc._udp.local.", "_osc._tcp.local.", "_oscjson._tcp.local.")
        browsers = [ServiceBrowser(browser_zc, kind, Listener()) for kind in kinds]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                any(n.startswith(name) for n in found.get(k, ())) for k in kinds):
            time.sleep(0.1)
        # Other shows may be on the same network (a gallery with several rooms): ours is among them, by name.
        assert f"{name}._osc._udp.local." in found.get("_osc._udp.local.", set()), found
        assert f"{name}._osc._tcp.local." in found.get("_osc._tcp.local.", set()), found
        assert f"{name}._oscjson._tcp.local." in found.get("_oscjson._tcp.local.", set()), found
        info = browser_zc.get_service_info("_osc._udp.local.", f"{name}._osc._udp.local.", timeout=3000)
        assert info is not None and info.port == 18123
        for b in browsers:
            b.cancel()
    finally:
        browser_zc.close()
        advertiser.stop()


def test_advertising_failure_is_one_log_line(caplog, monkeypatch):
    import zeroconf

    def broken(*args, **kwargs):
        raise OSError("no multicast here")
    monkeypatch.setattr(zeroconf, "Zeroconf", broken)
    advertiser = Advertiser(18125).start()
    assert advertiser.ready.wait(5)
    lines = [r.getMessage() for r in caplog.records if "advertised" in r.getMessage()]
    assert len(lines) == 1 and "no multicast here" in lines[0]
    advertiser.stop()
