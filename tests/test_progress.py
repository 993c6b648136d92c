"""depsev.progress: bounded-rate progress lines, in place on a terminal, plain log lines elsewhere."""

from __future__ import annotations

import contextlib
import io
import logging

import pytest

from depsev.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(progress: Progress, clock: FakeClock, steps: int, dt: float) -> None:
    for _ in range(steps):
        clock.t += dt
        progress.update()
    progress.done()


def test_log_lines_are_rate_bounded_plain_and_end_at_100_percent(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        run(Progress("vggish", 960, unit="examples", every=10, stream=io.StringIO(), clock=clock), clock,
            960, 0.125)  # 120 s of work
    lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
    # one line per 10 s (the first after 10 s: 12 in 120 s), then the final line
    assert len(lines) == 13
    assert lines[0] == "vggish 80/960 examples (8%), 10.0 s elapsed, ~1 min 50 s left"
    assert lines[1] == "vggish 160/960 examples (17%), 20.0 s elapsed, ~1 min 40 s left"
    assert lines[-1] == "vggish 960/960 examples (100%), 2 min 00 s"
    assert not any("\r" in line for line in lines)


def test_a_step_shorter_than_every_writes_nothing(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        run(Progress("vggish", 62, unit="examples", every=10, stream=io.StringIO(), clock=clock), clock,
            62, 0.1)  # 6.2 s
        run(Progress("vggish", 62, unit="examples", stream=io.StringIO(), clock=clock), clock, 62, 0.1)
    assert not [r for r in caplog.records if r.name == "depsev.progress"]


def test_unknown_total_and_notes(caplog):
    clock = FakeClock()
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        p = Progress("predict", unit="stages", every=0, stream=io.StringIO(), clock=clock)
        clock.t += 2
        p.update(note="audio_clean 2.0 s")
        clock.t += 3
        p.update(note="vggish 3.0 s")
        p.done(note="prediction written")
        p.done()  # once only
    lines = [r.getMessage() for r in caplog.records if r.name == "depsev.progress"]
    assert lines == ["predict 1 stages, 2.0 s elapsed: audio_clean 2.0 s",
                     "predict 2 stages, 5.0 s elapsed: vggish 3.0 s",
                     "predict 2/2 stages (100%), 5.0 s: prediction written"]


def test_without_logging_configured_lines_reach_the_current_stderr(monkeypatch):
    """A rule's script (depsev.workflow.job) redirects stderr to its log and configures no logging:
    the lines land in the log, timestamped, one per line."""
    monkeypatch.setattr(logging.getLogger("depsev.progress"), "hasHandlers", lambda: False)
    log = io.StringIO()
    clock = FakeClock()
    with contextlib.redirect_stderr(log):
        run(Progress("train moe-fusion", 3, unit="epochs", every=0, clock=clock), clock, 3, 1.0)
    lines = log.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in log.getvalue()
    assert lines[0].endswith("train moe-fusion 1/3 epochs (33%), 1.0 s elapsed, ~2.0 s left")
    assert lines[-1].endswith("train moe-fusion 3/3 epochs (100%), 3.0 s")


def test_terminal_updates_in_place_and_ends_the_line(caplog):
    tty, clock = FakeTTY(), FakeClock()
    with caplog.at_level(logging.INFO, logger="depsev.progress"):
        run(Progress("vggish", 50, unit="examples", every=0.5, stream=tty, clock=clock), clock, 50, 0.1)
    out = tty.getvalue()
    assert not [r for r in caplog.records if r.name == "depsev.progress"]  # not also in the log
    assert out.startswith("\rvggish 6/50 examples (12%)") and out.endswith("\n")
    assert out.rstrip().endswith("\rvggish 50/50 examples (100%), 5.0 s")  # padded over the longer line
    assert out.count("\n") == 1 and 9 <= out.count("\r") <= 12  # ~ every 0.5 s of 5 s, in place


def test_an_error_leaves_the_partial_terminal_line_and_no_100_percent():
    tty, clock = FakeTTY(), FakeClock()
    with pytest.raises(RuntimeError), Progress("vggish", 10, stream=tty, clock=clock, every=1) as p:
        clock.t += 1
        p.update()
        raise RuntimeError("boom")
    assert tty.getvalue().startswith("\rvggish 1/10 (10%)")
    assert "100%" not in tty.getvalue() and tty.getvalue().endswith("\n")
