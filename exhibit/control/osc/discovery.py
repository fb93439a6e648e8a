"""Discovery: the show advertises itself with zeroconf (mDNS/DNS-SD, RFC 6762/6763), so TouchOSC and other
browsers list it by name instead of asking for an IP address and a port.

Services, all named "Medium · Permeation on HOST":
  _osc._udp      the OSC port (UDP)
  _osc._tcp      the same port over TCP (see tcp.py), when it listens
  _oscjson._tcp  the OSCQuery server (see query.py), when it runs (vdmx/OSCQueryProposal, "Discovery")

Registering takes a second or two of probing, so it happens on a thread of its own; a network without
multicast (or without the zeroconf package) costs one log line, never the show.
"""
import logging
import socket
import threading

log = logging.getLogger("exhibit.control.osc")

SERVICE_NAME = "Medium · Permeation on {host}"


def instance_name(host=None):
    """The advertised name, cut to DNS-SD's 63 bytes for an instance label."""
    name = SERVICE_NAME.format(host=(host or socket.gethostname()).split(".")[0])
    while len(name.encode()) > 63:
        name = name[:-1]
    return name


class Advertiser:
    """Advertises the OSC and OSCQuery services while the show runs. `stop()` withdraws them."""

    def __init__(self, osc_port, tcp=True, query_port=0, bind="0.0.0.0", host=None):
        self.osc_port, self.tcp, self.query_port, self.bind = osc_port, tcp, query_port, bind
        self.name = instance_name(host)
        self.zeroconf = None
        self.infos = []
        self.ready = threading.Event()      # set once registered, or once it failed (then `error` says why)
        self.error = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._register, name="osc-advertise", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def services(self):
        """(service type, port) pairs to advertise."""
        out = [("_osc._udp.local.", self.osc_port)]
        if self.tcp:
            out.append(("_osc._tcp.local.", self.osc_port))
        if self.query_port:
            out.append(("_oscjson._tcp.local.", self.query_port))
        return out

    def _register(self):
        try:
            from zeroconf import IPVersion, ServiceInfo, Zeroconf
            interfaces = [self.bind] if self.bind not in ("0.0.0.0", "::") else None
            zc = Zeroconf(interfaces=interfaces) if interfaces else Zeroconf(ip_version=IPVersion.V4Only)
            host = socket.gethostname().split(".")[0] or "exhibit"
            if interfaces is None:          # every IPv4 address this machine has, loopback included
                import ifaddr
                ips = [ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)]
            else:
                ips = [self.bind]
            addresses = [socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip) for ip in ips]
            with self._lock:
                if self._stopped:
                    zc.close()
                    return
                self.zeroconf = zc
            for kind, port in self.services():
                info = ServiceInfo(kind, f"{self.name}.{kind}", port=port, server=f"{host}.local.",
                                   properties={"txtvers": "1"}, addresses=addresses)
                zc.register_service(info, allow_name_change=True)
                self.infos.append(info)
            log.info("OSC: advertised as \"%s\" (%s)", self.name, ", ".join(k.split(".local")[0]
                                                                            for k, _ in self.services()))
        except Exception as error:          # no multicast, no network, no package: the show goes on
            self.error = f"{type(error).__name__}: {error}"
            log.warning("OSC: not advertised on the network (%s); controllers can still connect by address",
                        self.error)
        finally:
            self.ready.set()

    def stop(self):
        with self._lock:
            self._stopped = True
            zc, self.zeroconf = self.zeroconf, None
        if zc is None:
            return
        try:
            zc.unregister_all_services()
        except Exception:
            pass
        zc.close()
