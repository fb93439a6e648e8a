"""Tools for the projectionist: a test pattern at the screen's native size, and the machine's identity.

The test pattern is for focusing and keystone: a 1-pixel grid whose squares must look square and sharp
everywhere, circles that must look round, a frame on the outermost pixels (is the whole picture on the wall?),
grey steps from black to white (black level, contrast, gamma) and SMPTE-style colour bars. It is drawn once per
screen size. The identity panel tells a technician across the room which machine this is and how to reach it.
"""
import importlib.metadata
import re
import socket
from pathlib import Path

import pygame

GREY_STEPS = 11                  # 0 %, 10 %, ... 100 %
BARS = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0), (192, 0, 192), (192, 0, 0), (0, 0, 192)]
LINE = (255, 255, 255)
ROOT = Path(__file__).resolve().parents[2]


def test_pattern(size, font):
    """A test pattern filling `size` (width, height) in pixels, as a pygame Surface (opaque, 24-bit colour).

    Grid squares are 1/12 of the height (90 px at 1080p) and centred, so a line runs through the screen's centre;
    the outermost rows and columns are white; grey steps run across the lower band, colour bars across the upper.
    """
    width, height = size
    surface = pygame.Surface(size)
    surface.fill((0, 0, 0))
    step = max(8, height // 12)
    cx, cy = width // 2, height // 2
    for x in range(cx % step, width, step):
        pygame.draw.line(surface, (128, 128, 128), (x, 0), (x, height - 1))
    for y in range(cy % step, height, step):
        pygame.draw.line(surface, (128, 128, 128), (0, y), (width - 1, y))
    bar_h = step
    top, bottom = cy - 2 * step, cy + step
    for i, colour in enumerate(BARS):                   # colour bars above the centre line
        x0, x1 = cx - 3 * step + i * 6 * step // len(BARS), cx - 3 * step + (i + 1) * 6 * step // len(BARS)
        surface.fill(colour, (x0, top, x1 - x0, bar_h))
    for i in range(GREY_STEPS):                         # grey steps below it
        v = round(255 * i / (GREY_STEPS - 1))
        x0 = cx - 3 * step + i * 6 * step // GREY_STEPS
        x1 = cx - 3 * step + (i + 1) * 6 * step // GREY_STEPS
        surface.fill((v, v, v), (x0, bottom, x1 - x0, bar_h))
    radius = min(width, height) // 2 - 1
    pygame.draw.circle(surface, LINE, (cx, cy), radius, width=max(1, height // 540))
    corner = step
    for x, y in ((corner, corner), (width - 1 - corner, corner), (corner, height - 1 - corner),
                 (width - 1 - corner, height - 1 - corner)):
        pygame.draw.circle(surface, LINE, (x, y), corner - 2, width=1)
    pygame.draw.line(surface, LINE, (cx - step // 2, cy), (cx + step // 2, cy))
    pygame.draw.line(surface, LINE, (cx, cy - step // 2), (cx, cy + step // 2))
    pygame.draw.rect(surface, LINE, surface.get_rect(), width=1)     # the outermost pixels
    label = font.render(f"{width} x {height}", True, LINE, (0, 0, 0))
    surface.blit(label, label.get_rect(midtop=(cx, bottom + bar_h + step // 4)))
    return surface


def addresses():
    """This machine's IPv4 addresses other than loopback, as strings (the interface a default route uses first)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:   # UDP connect sends nothing: a route lookup
        try:
            probe.connect(("192.0.2.1", 9))                         # TEST-NET-1 (RFC 5737): never answered
            found.append(probe.getsockname()[0])
        except OSError:
            pass
    try:
        for *_, sockaddr in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(sockaddr[0])
    except OSError:
        pass
    return [a for i, a in enumerate(found) if not a.startswith("127.") and a != "0.0.0.0" and a not in found[:i]]


def version():
    """The project's version: from the installed package, else from pyproject.toml beside the code."""
    try:
        return importlib.metadata.version("medium-permeation")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        match = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    except OSError:
        match = None
    return match.group(1) if match else "unknown"


def identity(osc, model_name):
    """Lines for the identify panel: (label, value) pairs. osc: the config's [osc] namespace."""
    ips = addresses()
    ports = [("OSC", "off")]
    if osc.enabled:
        ports = [("OSC", f"{osc.port} (UDP and TCP)"),
                 ("replies to", f"{osc.feedback_port} (UDP, on the sender's host)" if osc.feedback_port else "off"),
                 ("OSCQuery", f"{osc.query_port} (HTTP)" if osc.query_port else "off")]
    return [("machine", socket.gethostname()),
            ("address", ", ".join(ips) if ips else "no network address"),
            *ports,
            ("version", f"Medium · Permeation {version()}"),
            ("model", model_name)]
