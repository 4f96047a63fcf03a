"""The soak tool (``python -m tools.soak``): a few seconds of it balance their books, and its
checks do catch what they are there for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tools import soak
from tools import soak_world as sw


@pytest.mark.parametrize("pure", [False, True], ids=["c", "pure"])
def test_a_few_seconds_of_soak_balance(pure: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LOOM_PURE_PYTHON"}
    args = ["--minutes", "0.1", "--entities", "200", "--every", "2"]
    done = subprocess.run([sys.executable, "-m", "tools.soak", *args, *(["--pure"] * pure)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "soak: OK" in out
    assert ("pure Python" if pure else "C half") in out
    assert "] world 1 tick " in out and "] all closed " in out  # status lines
    worlds = re.search(r"soak: \d+ s, (\d+) worlds,", out)
    assert worlds and int(worlds.group(1)) >= 2, out[-2000:]  # ~3, fewer on a loaded machine


def test_help_answers_what_it_checks() -> None:
    done = subprocess.run([sys.executable, "-m", "tools.soak", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0
    for word in ("--minutes", "--entities", "--pure", "--seed", "finally", "RSS", "Exit"):
        assert word in done.stdout, word


def test_the_checks_report_a_lost_message_and_a_missing_finally() -> None:
    saved_count, saved_runs = sw.COUNT.copy(), dict(sw.RUNS)
    try:
        sw.COUNT.clear()
        sw.RUNS.clear()
        sw.COUNT.update(posted=3, read=2, ch_sent=5, ch_received=5, runs=3, finally_again=1,
                        **{"finally": 1})
        sw.RUNS.update({2: 0})  # run 1 ended, run 2 never did, run 3's finally ran twice
        s = soak.Soak(soak.parse(["--minutes", "0.1"]))
        s.rss_first = soak.rss_bytes()
        s.ring.left = [0] * s.ring.n  # as if the (never started) ring threads had ended
        s.check([])
    finally:
        sw.COUNT.clear()
        sw.COUNT.update(saved_count)
        sw.RUNS.clear()
        sw.RUNS.update(saved_runs)
    assert s.violations == [
        "inbox messages: posted 3 != read 2 + queued 0",
        "behaviour runs: 3 started, 1 never ran their finally, 1 ran it more than once",
    ]
