"""The service file for each platform, as text: what starts the show at login or boot and restarts it.

  linux    a systemd unit (systemd.service(5)): Type=notify, so systemd waits for READY=1 and restarts the show
           when its WATCHDOG=1 pings stop (see notify.py); Restart=always; KillMode=mixed, so SIGTERM goes to the
           show alone, which fades out and ends its own child processes.
  macos    a launchd agent (launchd.plist(5)): RunAtLoad, KeepAlive.
  windows  a Task Scheduler task (the Task Scheduler 1.2 schema): at logon, restarted on failure, no time limit.
"""
import getpass
import os
import plistlib
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

NAME = "permeation-exhibit"                 # the unit, the launchd label's last part, the task
LABEL = "org.permeation.exhibit"
WATCHDOG_SECONDS = 30                       # a render loop silent this long is restarted
START_SECONDS = 600                         # TensorFlow and a model on a slow PC, before READY=1
STOP_SECONDS = 20                           # the fade-out and the children's ending
TASK_NS = "http://schemas.microsoft.com/windows/2004/02/mit/task"


def command(config=None):
    """The show's command line: this Python, `-m exhibit`, the config file if one is named."""
    return [sys.executable, "-m", "exhibit"] + (["--config", str(Path(config).resolve())] if config else [])


def project_root():
    return Path(__file__).resolve().parents[2]


def default_path(platform, user):
    """Where the service manager looks for the file."""
    home = Path.home()
    if platform == "linux":
        if user:
            base = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
            return base / "systemd" / "user" / f"{NAME}.service"
        return Path("/etc/systemd/system") / f"{NAME}.service"
    if platform == "macos":
        return (home / "Library/LaunchAgents" if user else Path("/Library/LaunchAgents")) / f"{LABEL}.plist"
    return home / f"{NAME}.xml"             # Task Scheduler keeps its own copy once the task is registered


def desktop_user():
    """The user whose screen the show is on: the one who ran sudo, else the one running this."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def systemd_unit(cmd, user, account=None, root=None):
    """A systemd service unit as text. user: a user unit (in the graphical session) rather than a system one."""
    quoted = " ".join(_systemd_quote(a) for a in cmd)
    lines = ["[Unit]",
             "Description=Medium · Permeation: the generative grid, as a gallery service",
             "After=graphical-session.target" if user else "After=graphical.target network-online.target",
             *(["PartOf=graphical-session.target"] if user else ["Wants=network-online.target"]),
             "",
             "[Service]",
             "Type=notify",
             "NotifyAccess=main",
             f"ExecStart={quoted}",
             f"WorkingDirectory={root or project_root()}",
             "Restart=always",
             "RestartSec=5",
             f"WatchdogSec={WATCHDOG_SECONDS}",
             f"TimeoutStartSec={START_SECONDS}",
             f"TimeoutStopSec={STOP_SECONDS}",
             "KillMode=mixed",
             "Environment=PYTHONUNBUFFERED=1"]
    if not user:                            # a system unit still draws on the desktop user's screen
        account = account or desktop_user()
        lines += [f"User={account}", "Environment=DISPLAY=:0"]
        try:
            import pwd
            lines.append(f"Environment=XDG_RUNTIME_DIR=/run/user/{pwd.getpwnam(account).pw_uid}")
        except (ImportError, KeyError):
            pass
    lines += ["", "[Install]", f"WantedBy={'graphical-session.target' if user else 'graphical.target'}", ""]
    return "\n".join(lines)


def _systemd_quote(arg):
    if arg and not any(ch in arg for ch in ' "\'\\$%;'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%") + '"'


def launchd_plist(cmd, root=None):
    """A launchd agent property list (bytes): starts at login, started again whenever it ends."""
    logs = Path.home() / "Library/Logs" / f"{NAME}.log"
    return plistlib.dumps({
        "Label": LABEL, "ProgramArguments": list(cmd), "WorkingDirectory": str(root or project_root()),
        "RunAtLoad": True, "KeepAlive": True, "ThrottleInterval": 10, "ProcessType": "Interactive",
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "StandardOutPath": str(logs), "StandardErrorPath": str(logs)})


def task_xml(cmd, account=None, root=None):
    """A Task Scheduler task definition (text; register with schtasks /Create /XML, which wants UTF-16)."""
    ET.register_namespace("", TASK_NS)

    def sub(parent, tag, text=None):
        element = ET.SubElement(parent, f"{{{TASK_NS}}}{tag}")
        if text is not None:
            element.text = text
        return element

    task = ET.Element(f"{{{TASK_NS}}}Task", version="1.2")
    sub(sub(task, "RegistrationInfo"), "Description", "Medium · Permeation: the generative grid, as a gallery service")
    trigger = sub(sub(task, "Triggers"), "LogonTrigger")
    sub(trigger, "Enabled", "true")
    if account:
        sub(trigger, "UserId", account)
    principal = sub(sub(task, "Principals"), "Principal", None)
    principal.set("id", "Author")
    sub(principal, "LogonType", "InteractiveToken")
    sub(principal, "RunLevel", "LeastPrivilege")
    settings = sub(task, "Settings")
    for tag, text in (("MultipleInstancesPolicy", "IgnoreNew"), ("DisallowStartIfOnBatteries", "false"),
                      ("StopIfGoingOnBatteries", "false"), ("ExecutionTimeLimit", "PT0S"), ("Enabled", "true")):
        sub(settings, tag, text)
    restart = sub(settings, "RestartOnFailure")
    sub(restart, "Interval", "PT1M")
    sub(restart, "Count", "999")
    actions = sub(task, "Actions", None)
    actions.set("Context", "Author")
    execute = sub(actions, "Exec")
    sub(execute, "Command", cmd[0])
    sub(execute, "Arguments", " ".join(f'"{a}"' if " " in a else a for a in cmd[1:]))
    sub(execute, "WorkingDirectory", str(root or project_root()))
    ET.indent(task)
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + ET.tostring(task, encoding="unicode") + "\n"
