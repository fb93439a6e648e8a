"""`python -m exhibit service install|uninstall|status [--user] [--config FILE] [--platform P] [--out FILE]`

Writes (or removes) the service file that starts the show at login or boot and restarts it when it ends or
hangs, says what it did and how to undo it. Where the service manager is present it is told (systemctl, launchctl);
otherwise (a container, another platform's file with --platform) the file is written and the next steps printed.
"""
import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from exhibit.service import files

PLATFORMS = {"linux": "linux", "darwin": "macos", "win32": "windows"}


def this_platform():
    return PLATFORMS.get(sys.platform, "linux")


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m exhibit service", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["install", "uninstall", "status"])
    parser.add_argument("--user", action="store_true",
                        help="a service of your own login session (no root needed), not a system one")
    parser.add_argument("--config", type=Path, help="the TOML settings the show starts with")
    parser.add_argument("--platform", choices=["linux", "macos", "windows"], default=this_platform(),
                        help="which service file (default: this machine's); another's is written, not registered")
    parser.add_argument("--out", type=Path, help="write the file here instead of where the service manager looks")
    return parser.parse_args(argv)


def main(argv):
    args = parse(argv)
    if args.config and not args.config.is_file():
        print(f"exhibit service: error: --config {args.config}: no such file", file=sys.stderr)
        return 2
    path = args.out or files.default_path(args.platform, args.user)
    native = args.platform == this_platform() and args.out is None
    try:
        return {"install": install, "uninstall": uninstall, "status": status}[args.action](args, path, native)
    except PermissionError:
        print(f"exhibit service: error: no permission to change {path}; run it with sudo, or use --user for a "
              f"service of your own session", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"exhibit service: error: cannot write {path}: {error.strerror or error}; choose another place with "
              f"--out", file=sys.stderr)
        return 1


def install(args, path, native):
    cmd = files.command(args.config)
    if args.platform == "linux":
        data = files.systemd_unit(cmd, args.user).encode()
    elif args.platform == "macos":
        data = files.launchd_plist(cmd)
    else:
        data = files.task_xml(cmd).encode("utf-16")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)             # never a half-written service file
    print(f"wrote {path}")
    print(f"  it runs: {' '.join(cmd)}")
    steps = _steps(args, path)
    if native and _manager_running(args.platform):
        for step in steps["install"]:
            _run(step)
    else:
        print("to start it at " + ("login" if args.user or args.platform != "linux" else "boot") + ":")
        for step in steps["install"]:
            print("  " + " ".join(step))
    print("to see how it is doing: python -m exhibit service status" + _flags(args))
    print("to undo: python -m exhibit service uninstall" + _flags(args))
    return 0


def uninstall(args, path, native):
    steps = _steps(args, path)
    if native and _manager_running(args.platform):
        for step in steps["uninstall"]:
            _run(step, check=False)
    elif path.exists():
        print("first, if it is registered:")
        for step in steps["uninstall"]:
            print("  " + " ".join(step))
    if path.exists():
        path.unlink()
        print(f"removed {path}")
    else:
        print(f"nothing to remove: {path} does not exist")
    return 0


def status(args, path, native):
    print(f"{path}: {'installed' if path.exists() else 'not installed'}")
    if native and _manager_running(args.platform):
        return _run(_steps(args, path)["status"], check=False)
    print("ask the service manager: " + " ".join(_steps(args, path)["status"]))
    return 0


def _steps(args, path):
    if args.platform == "linux":
        ctl = ["systemctl"] + (["--user"] if args.user else [])
        return {"install": [ctl + ["daemon-reload"], ctl + ["enable", "--now", path.name]],
                "uninstall": [ctl + ["disable", "--now", path.name], ctl + ["daemon-reload"]],
                "status": ctl + ["status", path.name]}
    if args.platform == "macos":
        return {"install": [["launchctl", "load", "-w", str(path)]],
                "uninstall": [["launchctl", "unload", "-w", str(path)]],
                "status": ["launchctl", "list", files.LABEL]}
    return {"install": [["schtasks", "/Create", "/TN", files.NAME, "/XML", str(path)]],
            "uninstall": [["schtasks", "/Delete", "/TN", files.NAME, "/F"]],
            "status": ["schtasks", "/Query", "/TN", files.NAME, "/V"]}


def _manager_running(platform):
    """Whether the service manager can be told now (not in a container without systemd, say)."""
    if platform == "linux":
        return shutil.which("systemctl") is not None and Path("/run/systemd/system").is_dir()
    return shutil.which("launchctl" if platform == "macos" else "schtasks") is not None


def _run(step, check=True):
    print("ran: " + " ".join(step))
    result = subprocess.run(step)
    if check and result.returncode:
        print(f"exhibit service: error: {' '.join(step)} failed (exit code {result.returncode})", file=sys.stderr)
    return result.returncode


def _flags(args):
    return (" --user" if args.user else "") + (f" --platform {args.platform}" if args.platform != this_platform()
                                                else "") + (f" --out {args.out}" if args.out else "")
