"""Opening hours: the schedule as a pure function of local time, the config's checks, and the live show following it
on an injected clock (no sleeping for hours)."""
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from exhibit import config
from exhibit.show.schedule import DAYS, RESTART_EXIT_CODE, Schedule

MONDAY = datetime(2026, 11, 30)          # a Monday


def week(restart="", **days):
    return Schedule.from_config(SimpleNamespace(**{d: days.get(d, "open") for d in DAYS}, restart=restart))


def at(day, hhmm):
    h, m = map(int, hhmm.split(":"))
    return MONDAY + timedelta(days=DAYS.index(day), hours=h, minutes=m)


def test_an_empty_table_is_always_open():
    schedule = Schedule.from_config(config.load().schedule)
    assert schedule.always_open and schedule.is_open(at("sunday", "03:00"))
    assert schedule.next_change(at("sunday", "03:00")) is None
    assert schedule.describe(at("monday", "12:00")) == "always open"


def test_a_gallery_week():
    s = week(monday="closed", tuesday="10:00-18:00", wednesday="10:00-13:00, 14:00-20:00", saturday="closed",
             sunday="closed", thursday="10:00-18:00", friday="10:00-18:00")
    assert not s.is_open(at("tuesday", "09:59"))
    assert s.describe(at("tuesday", "09:59")) == "closed until 10:00"
    assert s.is_open(at("tuesday", "10:00"))
    assert s.describe(at("tuesday", "17:30")) == "open until 18:00"
    assert not s.is_open(at("tuesday", "18:00"))
    assert s.describe(at("wednesday", "13:30")) == "closed until 14:00"       # the lunch break
    assert s.describe(at("friday", "18:00")) == "closed until Tue 10:00"      # over the weekend and Monday
    assert s.next_change(at("friday", "18:00")) == at("tuesday", "10:00") + timedelta(days=7)
    assert s.describe(at("monday", "12:00")) == "closed until Tue 10:00"


def test_a_night_past_midnight_runs_through():
    s = week(friday="18:00-24:00", saturday="00:00-02:00", **{d: "closed" for d in DAYS if d not in
                                                              ("friday", "saturday")})
    assert s.is_open(at("friday", "23:59")) and s.is_open(at("saturday", "00:00"))
    assert s.describe(at("friday", "23:00")) == "open until Sat 02:00"       # no closing at midnight
    assert not s.is_open(at("saturday", "02:00"))


def test_sunday_night_into_monday_wraps_the_week():
    s = week(sunday="20:00-24:00", monday="00:00-01:00", **{d: "closed" for d in DAYS[1:6]})
    assert s.is_open(at("sunday", "23:00")) and s.is_open(at("monday", "00:30"))
    assert s.describe(at("sunday", "21:00")) == "open until Mon 01:00"
    assert s.describe(at("monday", "02:00")) == "closed until Sun 20:00"


def test_daily_restart_is_the_next_time_after_now():
    s = week(restart="04:00")
    assert s.next_restart(datetime(2026, 12, 1, 3, 0)) == datetime(2026, 12, 1, 4, 0)
    assert s.next_restart(datetime(2026, 12, 1, 4, 0)) == datetime(2026, 12, 2, 4, 0)   # just restarted: tomorrow
    assert week().next_restart(MONDAY) is None
    assert RESTART_EXIT_CODE != 0


@pytest.mark.parametrize("key, value, words", [
    ("monday", "25:00-18:00", "25:00 is not a time of day"),
    ("tuesday", "10:00-18:00, 17:00-19:00", "10:00-18:00 and 17:00-19:00 overlap"),
    ("wednesday", "", "empty"),
    ("thursday", "18:00-10:00", "ends before it starts"),
    ("friday", "10:60-12:00", "10:60 is not a time of day"),
    ("saturday", "closd", "'closd' is not \"open\", \"closed\""),
    ("sunday", 10, "allowed"),
    ("restart", "24:00", "24:00 is not a time of day"),
])
def test_a_bad_entry_stops_the_start_naming_it(tmp_path, key, value, words):
    path = tmp_path / "exhibit.toml"
    path.write_text(f"[schedule]\n{key} = {value!r}\n".replace("'", '"') if isinstance(value, str)
                    else f"[schedule]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    message = str(caught.value)
    assert "\n" not in message and f"[schedule] {key}" in message and words in message, message


def test_unknown_day_and_a_week_never_open(tmp_path):
    with pytest.raises(config.ConfigError, match=r"unknown key \[schedule\] mondy; allowed keys: monday"):
        config.load(overrides={"schedule": {"mondy": "closed"}})
    with pytest.raises(config.ConfigError, match="never open"):
        config.load(overrides={"schedule": {d: "closed" for d in DAYS}})


def test_the_command_line_says_it_in_one_line(tmp_path):
    import subprocess
    import sys
    from pathlib import Path
    bad = tmp_path / "bad.toml"
    bad.write_text('[schedule]\nmonday = "25:00-18:00"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "exhibit", "--config", str(bad), "--windowed"], capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "exhibit: error: bad.toml: [schedule] monday = '25:00-18:00': 25:00 is not a time of day; "
        "allowed: 00:00 to 23:59"]


def picture(app):
    """Brightest value in the upper half of the screen: the grid, away from the notices at the foot."""
    from exhibit.render import pixels
    image = pixels(app.display.surface)
    return image[: image.shape[0] // 2].max()


class Wallclock:
    """Local time that moves only when the test says so."""

    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def test_the_live_show_closes_goes_dark_stops_generating_and_opens_again(tmp_path):
    import model
    from exhibit.control.osc.feedback import status_args
    from exhibit.live import App
    from exhibit.screen.display import Display

    cfg = config.load(overrides={
        "display": {"fullscreen": False, "window_size": [240, 180], "fps": 30},
        "grid": {"rows": 3, "cols": 3}, "worker": {"batch": 9},
        "show": {"fade_in": 0.2, "fade_out": 0.2, "status": False}, "osc": {"enabled": False},
        "schedule": {**{d: "closed" for d in DAYS}, "monday": "10:00-18:00, 18:10-20:00", "restart": "18:30"},
        "paths": {"scenes": str(tmp_path / "scenes.json")}})
    clock = Wallclock(at("monday", "17:59"))
    display = Display(cfg.display)
    app = App(cfg, model.new_generator(64, seed=1, width=16), display, seed=1, wallclock=clock)
    seen = {}

    def on_frame(app, now):
        show = app.stage.show
        if "open" not in seen and app.stage.ready() and show.wall > 0.5:
            seen["open"] = (picture(app), app.snapshot()["schedule"])
            clock.now = at("monday", "18:00")                      # closing time
            seen["closing"] = now
        elif "closing" in seen and "dark" not in seen and show.dark():
            seen["dark"] = (now - seen["closing"], show.time, app.worker.generated, app.frames, now)
        elif "dark" in seen and "settled" not in seen and now - seen["dark"][4] > 1.0:
            seen["settled"] = app.worker.generated                 # a batch in flight at closing has landed
        elif "settled" in seen and "closed" not in seen and now - seen["dark"][4] > 3.0:
            seen["closed"] = (picture(app), show.time, app.worker.generated,
                              app.frames - seen["dark"][3], now - seen["dark"][4],
                              status_args(app.snapshot()))
            clock.now = at("monday", "18:10")                        # open again
            seen["opening"] = app.worker.generated
        elif "opening" in seen and "reopened" not in seen and app.worker.generated > seen["opening"] \
                and show.light() > 0.99:
            seen["reopened"] = (picture(app), app.snapshot()["schedule"])
            clock.now = at("monday", "18:30")                        # the daily restart
        return None

    app.run(seconds=60, on_frame=on_frame)
    display.close()

    lit, schedule = seen["open"]
    assert lit > 40 and schedule == "open until 18:00"
    fade, show_time, generated, _, _ = seen["dark"]
    assert fade < 2.0                                              # faded out in fade_out (plus the 1 s look)
    black, time_closed, generated_closed, frames, seconds, status = seen["closed"]
    assert black <= 12                                             # only the dark background colour is left
    assert time_closed == show_time and generated_closed == seen["settled"]   # nothing moves, nothing generated
    assert frames / seconds < 4                                    # the loop ticks slowly: near-zero CPU
    assert status[status.index("schedule") + 1] == "closed until 18:10"
    lit_again, schedule = seen["reopened"]
    assert lit_again > 40 and schedule == "open until 20:00"
    assert app.exit_code == RESTART_EXIT_CODE and app.stage.show.finished()  # the daily restart ended the run


def test_bench_measures_the_show_whatever_the_hour():
    from exhibit.__main__ import overrides, parse
    closed = [f"--set=schedule.{day}=closed" for day in DAYS[1:]] + ['--set=schedule.restart="04:00"']
    live = Schedule.from_config(config.load(overrides=overrides(parse(closed))).schedule)
    assert not live.is_open(at("friday", "12:00"))
    benched = Schedule.from_config(config.load(overrides=overrides(parse(["bench", *closed]))).schedule)
    assert benched.always_open and benched.restart is None
