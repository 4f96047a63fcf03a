"""`python -m server`'s command line as a user meets it: --help shows every default of the
one defaults table, a config file is read and flags win over it, and every mistake is one
line on stderr with exit 2 (a port in use: exit 1)."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys

import pytest
from server_harness import ROOT, ServerProcess, run_server

from server.__main__ import main as server_main
from server.config import ConfigError, parse_config
from server.defaults import DEFAULTS, LIMIT_SETTINGS


def test_help_lists_every_setting_with_its_default() -> None:
    run = run_server("--help")
    assert run.returncode == 0
    flat = " ".join(run.stdout.split())
    for setting in (*DEFAULTS, *LIMIT_SETTINGS):
        assert setting.flag in run.stdout, setting.flag
        shown = "unset" if setting.default is None else \
            "none" if setting.default == () else str(setting.default)
        assert f"{setting.help} (default: {shown})" in flat, setting.name
    for default in ("(default: 127.0.0.1)", "(default: 30.0)", "(default: 20.0)",
                    "(default: 2000)", "(default: server.sandbox)", "(default: 64)"):
        assert default in flat
    assert "--config FILE" in run.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--port", "http"], "argument --port: expected an integer, got 'http'"),
    (["--tick-rate", "0"], "argument --tick-rate: must be > 0, got '0'"),
    (["--auth", "password"], "argument --auth: invalid choice: 'password'"),
    (["--world-arg", "npcs"], "--world-arg: world argument must look like key=value"),
    (["--snapshot-rate", "60"], "--snapshot-rate 60 is above --tick-rate 30"),
    (["--ping-interval", "40"], "bad network limits: ping_interval (40.0) must be below"),
])
def test_bad_flags_and_values_are_one_line_and_exit_2(
        args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert server_main(["--port", "0", *args]) == 2  # what python -m server runs
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("python -m server: error: ")
    assert message in err


def test_a_bad_flag_in_a_real_process() -> None:
    run = run_server("--port", "0", "--tick-rate", "fast")
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr == "python -m server: error: argument --tick-rate: expected a number, " \
                         "got 'fast'\n"


def test_a_world_that_does_not_load_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert server_main(["--port", "0", "--world", "no_such_world_module"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "cannot import world module 'no_such_world_module'" in err


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = run_server("--port", str(port))
    assert run.returncode == 1
    assert run.stderr == f"python -m server: cannot listen on 127.0.0.1:{port}: " \
                         "Address already in use\n"


def test_config_file_values_and_flags_over_them(tmp_path: pathlib.Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text('tick_rate = 20\nsnapshot-rate = 10\nworld = "sandbox"\n'
                      'world_arg = ["npcs=0"]\nidle_timeout = 12.5\n')
    parsed = parse_config(["--config", str(config), "--tick-rate", "40"])
    assert (parsed.tick_rate, parsed.snapshot_rate) == (40.0, 10.0)  # the flag wins
    assert parsed.world_args == {"npcs": "0"} and parsed.limits.idle_timeout == 12.5
    with ServerProcess("--config", str(config)) as server:  # and as the user runs it
        client = server.client("cfg")
        welcome = client.connect()
        assert (welcome.tick_rate, welcome.snapshot_rate) == (20.0, 10.0)
        client.close()


@pytest.mark.parametrize(("text", "message"), [
    ("tick_rate = [", "not valid TOML"),
    ("tickrate = 30", "unknown setting 'tickrate'"),
    ("port = 'x'", "port: expected an integer, got 'x'"),
    ("deterministic = 3", "deterministic: expected true or false"),
    ("auth = 'magic'", "auth: expected one of none, token"),
])
def test_bad_config_files_are_refused(tmp_path: pathlib.Path, text: str, message: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message):
        parse_config(["--config", str(config)])
    assert server_main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_missing_config_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert server_main(["--config", "/nonexistent/loom.toml"]) == 2
    assert capsys.readouterr().err == "python -m server: error: cannot read config file " \
                                      "/nonexistent/loom.toml: No such file or directory\n"


def test_the_loom_server_console_script() -> None:
    script = pathlib.Path(sys.executable).parent / "loom-server"
    if not script.exists():
        pytest.skip("loom-server is installed by `pip install -e .` (make venv)")
    run = subprocess.run([str(script), "--help"], capture_output=True, text=True, cwd=ROOT,
                         timeout=10)
    assert run.returncode == 0 and run.stdout.startswith("usage: python -m server")
