"""`python -m exhibit service`: the files it writes parse back, and systemd itself accepts the unit."""
import configparser
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "exhibit.toml"


def service(*args, env=None):
    return subprocess.run([sys.executable, "-m", "exhibit", "service", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("user", [True, False], ids=["user", "system"])
def test_the_systemd_unit_is_a_watched_notify_service_systemd_accepts(tmp_path, user):
    out = tmp_path / "permeation-exhibit.service"
    result = service("install", "--platform", "linux", "--out", str(out), "--config", str(CONFIG),
                     *(["--user"] if user else []))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "service uninstall" in result.stdout
    assert "systemctl" + (" --user" if user else "") + " enable --now" in result.stdout
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(out.read_text())
    s = unit["Service"]
    assert (s["Type"], s["Restart"], s["KillMode"]) == ("notify", "always", "mixed")
    assert int(s["WatchdogSec"]) > 0
    assert s["ExecStart"].split() == [sys.executable, "-m", "exhibit", "--config", str(CONFIG)]
    assert "graphical" in unit["Unit"]["After"] and "graphical" in unit["Install"]["WantedBy"]
    assert ("User" in s) != user, "a system unit runs as the desktop user; a user unit already does"
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here: the unit was parsed back but not verified by systemd")
    verify = subprocess.run(["systemd-analyze", "verify", str(out)], capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stderr


def test_the_launchd_plist_keeps_the_show_alive(tmp_path):
    out = tmp_path / "org.permeation.exhibit.plist"
    result = service("install", "--platform", "macos", "--out", str(out))
    assert result.returncode == 0 and "launchctl load -w" in result.stdout, result.stdout + result.stderr
    plist = plistlib.loads(out.read_bytes())
    assert plist["Label"] == "org.permeation.exhibit" and plist["RunAtLoad"] and plist["KeepAlive"]
    assert plist["ProgramArguments"] == [sys.executable, "-m", "exhibit"]


def test_the_task_scheduler_xml_starts_at_logon_and_restarts(tmp_path):
    out = tmp_path / "permeation-exhibit.xml"
    result = service("install", "--platform", "windows", "--out", str(out), "--config", str(CONFIG))
    assert result.returncode == 0 and f"schtasks /Create /TN permeation-exhibit /XML {out}" in result.stdout
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    task = ET.fromstring(out.read_bytes())       # UTF-16, as schtasks wants it
    assert task.find("t:Triggers/t:LogonTrigger", ns) is not None
    assert task.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=ns) == "PT0S"
    assert task.findtext("t:Settings/t:RestartOnFailure/t:Count", namespaces=ns) == "999"
    assert task.findtext("t:Actions/t:Exec/t:Command", namespaces=ns) == sys.executable
    assert task.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns).split() == ["-m", "exhibit", "--config",
                                                                                     str(CONFIG)]


def test_uninstall_removes_the_file_and_status_says_so(tmp_path):
    out = tmp_path / "unit.service"
    assert service("install", "--platform", "linux", "--user", "--out", str(out)).returncode == 0
    assert "installed" in service("status", "--platform", "linux", "--user", "--out", str(out)).stdout
    result = service("uninstall", "--platform", "linux", "--user", "--out", str(out))
    assert result.returncode == 0 and not out.exists() and f"removed {out}" in result.stdout
    assert "not installed" in service("status", "--platform", "linux", "--user", "--out", str(out)).stdout


def test_a_place_it_cannot_write_is_one_clear_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = service("install", "--platform", "linux", "--out", str(blocker / "unit.service"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and str(blocker / "unit.service") in \
        result.stderr
    result = service("install", "--platform", "linux", "--config", str(tmp_path / "missing.toml"),
                     "--out", str(tmp_path / "u.service"))
    assert result.returncode == 2 and "missing.toml: no such file" in result.stderr
