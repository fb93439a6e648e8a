"""The show as a service: started at boot, watched while it runs.

  notify.py   systemd's readiness and watchdog protocol (READY=1, WATCHDOG=1, STATUS=, STOPPING=1)
  files.py    the service file for each platform: systemd unit, launchd plist, Task Scheduler XML
  command.py  `python -m exhibit service install|uninstall|status`
"""
