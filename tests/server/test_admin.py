"""server.admin: the console refuses connections without the token, with a wrong one and
from non-loopback addresses; its commands act on the running world (run by the tick loop)."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path

import pytest
from ops_harness import Console, ServerProcess, console_fixture, server_fixture, wait_ticks
from server_harness import run_server

import sim
from server.admin import (
    ENV_TOKEN,
    AdminConsole,
    AdminError,
    admin_token,
    check_loopback,
    is_loopback,
    parse_request,
)
from server.commands import CommandError
from server.ops import ListenError, Ops

server = server_fixture()
console = console_fixture()


def non_loopback_address() -> str | None:
    """An address of this machine that is not a loopback one (the outgoing interface's;
    connecting a UDP socket sends nothing), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        try:
            u.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = str(u.getsockname()[0])
    return None if is_loopback(address) or address == "0.0.0.0" else address


# ---------------------------------------------------------------------- refusals


def test_a_command_before_auth_is_refused_and_the_connection_closed(
        server: ServerProcess) -> None:
    with Console(server.admin) as c:
        assert c.ask("status") == {"ok": False, "error": "authenticate first: auth TOKEN"}
        assert c.reply() is None


def test_a_wrong_token_is_refused_and_the_connection_closed(server: ServerProcess) -> None:
    with Console(server.admin) as c:
        assert c.ask("auth " + "x" * 43) == {"ok": False, "error": "bad token"}
        assert c.reply() is None
    with Console(server.admin) as c:  # the right one, one character short
        assert c.ask(json.dumps({"cmd": "auth", "token": server.token[:-1]})) == {
            "ok": False, "error": "bad token"}
        assert c.reply() is None


def test_non_loopback_binds_are_refused() -> None:
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        with pytest.raises(AdminError, match="loopback only"):
            check_loopback(host)
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("localhost") == "localhost"
    address = non_loopback_address()
    if address is not None:  # this machine's own address: bindable, and still refused
        with pytest.raises(AdminError, match=f"loopback only; {address!r} is {address}"):
            AdminConsole("t" * 32, lambda cmd, args, session: {}, host=address)


def test_connections_from_a_non_loopback_address_are_refused(server: ServerProcess) -> None:
    address = non_loopback_address()
    if address is None:  # no such address here: the rule the console applies, directly
        console = AdminConsole("t" * 32, lambda cmd, args, session: {})
        try:
            assert console.admit("192.0.2.2") == "192.0.2.2 is not a loopback address"
            assert console.admit("::ffff:127.0.0.1") is None
        finally:
            console.close()
        return
    with Console(server.admin, source=address) as c:  # to 127.0.0.1, from eth0's address
        assert c.reply() == {"ok": False,
                             "error": f"refused: {address} is not a loopback address"}
        assert c.reply() is None


def test_is_loopback() -> None:
    assert [is_loopback(a) for a in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1")] == \
        [True] * 4
    assert [is_loopback(a) for a in ("10.0.0.1", "0.0.0.0", "::", "example", "")] == [False] * 5


# ---------------------------------------------------------------------- requests


def test_bad_requests_get_an_error_and_the_connection_stays(console: Console) -> None:
    assert console.ask("{nope")["error"].startswith("bad JSON")
    assert console.ask('{"cmd": 3}') == {"ok": False,
                                         "error": 'a JSON request is an object with a "cmd" string'}
    assert console.ask("launch") == {"ok": False, "error": "unknown command 'launch'; try help"}
    assert console.ask("kill x") == {"ok": False, "error": "id must be an integer, got 'x'"}
    assert console.ask("inspect 99999") == {"ok": False, "error": "no entity 99999"}
    assert console.ask("kill 1 2") == {"ok": False,
                                       "error": "kill takes no more arguments, got '2'"}
    assert console.ask(b"\xff") == {"ok": False, "error": "a request must be UTF-8"}
    assert console.ask('{"cmd": "status", "ref": "r1"}')["ref"] == "r1"
    help_lines = console.ask("help")["commands"]
    assert any(line.startswith("top [LIMIT=20]") for line in help_lines)


def test_a_line_too_long_closes_the_connection(console: Console) -> None:
    assert console.ask("status " + "x" * 5000) == {"ok": False,
                                                   "error": "request longer than 4096 bytes"}
    assert console.reply() is None


def test_parse_request() -> None:
    assert parse_request(b"top 5 sort=switches\n") == ("top", {"limit": "5", "sort": "switches"},
                                                       None)
    assert parse_request(b'{"cmd": "kill", "id": 4, "ref": 1}') == ("kill", {"id": 4}, 1)
    with pytest.raises(CommandError, match="empty request"):
        parse_request(b"  \n")


# ---------------------------------------------------------------------- commands


def test_status_and_entities(console: Console) -> None:
    status = console.ask("status")
    assert status["ok"] and status["mode"] == "hard" and status["tick_rate"] == 30.0
    assert status["by_kind"]["burner"] == 1 and status["by_kind"]["sleeper"] == 1
    listed = console.ask("entities sleeper")
    assert listed["total"] == 1 and listed["entities"][0]["kind"] == "sleeper"
    assert len(console.ask("entities limit=2")["entities"]) == 2


def test_kill_an_entity_and_it_is_gone(console: Console) -> None:
    walkers = [e["id"] for e in console.ask("entities walker")["entities"]]
    victim = walkers[-1]
    assert console.ask(f"kill {victim}") == {"ok": True, "killed": victim, "kind": "walker"}
    assert console.ask(f"inspect {victim}") == {"ok": False, "error": f"no entity {victim}"}
    assert victim not in [e["id"] for e in console.ask("entities walker")["entities"]]
    assert console.ask(f"kill {victim}") == {"ok": False, "error": f"no entity {victim}"}


def test_quarantine_and_release(console: Console) -> None:
    burner = console.ask("entities burner")["entities"][0]["id"]
    assert console.ask(f"quarantine {burner}") == {
        "ok": True, "id": burner, "quarantined": ["behaviour"], "held": ["behaviour"]}
    held = console.ask(f"inspect {burner}")
    assert held["quarantined"] == ["behaviour"] and held["statistics"]["quarantines"] == 1
    wait_ticks(console, 5)
    cpu = console.ask(f"inspect {burner}")["statistics"]
    wait_ticks(console, 5)
    assert console.ask(f"inspect {burner}")["statistics"]["switches"] == cpu["switches"]
    assert console.ask("status")["quarantined_behaviours"] == [[burner, "behaviour"]]
    assert console.ask(f"release {burner}") == {"ok": True, "id": burner,
                                                "released": ["behaviour"]}
    wait_ticks(console, 5)
    after = console.ask(f"inspect {burner}")
    assert after["quarantined"] == [] and after["statistics"]["switches"] > cpu["switches"]
    assert console.ask(f"release {burner}") == {
        "ok": False, "error": f"entity {burner} has no quarantined behaviour"}
    assert console.ask("status")["quarantines"] == 1


def test_log_level(console: Console) -> None:
    assert console.ask("log-level debug loom.server") == {
        "ok": True, "logger": "loom.server", "level": "DEBUG", "was": "INFO"}  # --log-level
    assert console.ask("log-level warning loom.server")["was"] == "DEBUG"
    assert console.ask("log-level loud")["error"].startswith("level must be one of DEBUG")


# ---------------------------------------------------------------------- the token


def test_token_generated_in_the_data_dir_with_mode_0600_and_reused(tmp_path: Path) -> None:
    token, where = admin_token(None, tmp_path / "data", env={})
    path = tmp_path / "data" / "admin.token"
    assert where == str(path) and path.read_text() == token + "\n" and len(token) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_token(None, tmp_path / "data", env={}) == (token, str(path))


def test_token_from_a_file_or_the_environment(tmp_path: Path) -> None:
    f = tmp_path / "t"
    f.write_text("  s3cret-s3cret-s3cret  \n")
    os.chmod(f, 0o600)
    assert admin_token(f, tmp_path, env={ENV_TOKEN: "other-other-other"}) == (
        "s3cret-s3cret-s3cret", str(f))
    assert admin_token(None, tmp_path, env={ENV_TOKEN: "other-other-other"}) == (
        "other-other-other", "$" + ENV_TOKEN)
    with pytest.raises(AdminError, match="at least 16 characters"):
        admin_token(None, None, env={ENV_TOKEN: "short"})
    with pytest.raises(AdminError, match="cannot read the admin token file"):
        admin_token(tmp_path / "missing", None, env={})
    with pytest.raises(AdminError, match="needs a token"):
        admin_token(None, None, env={})


def test_a_console_whose_tick_loop_does_not_answer_says_so() -> None:
    console = AdminConsole("t" * 32, lambda cmd, args, session: {"never": True},
                           reply_timeout=0.2)
    console.start()
    try:
        with Console(console.address) as c:
            assert c.ask("auth " + "t" * 32)["ok"]
            assert c.ask("status") == {"ok": False,
                                       "error": "the tick loop did not answer within 0.2 s"}
            assert console.run_pending() == 0  # abandoned: not run late
            c.send_line("status")
            deadline = time.monotonic() + 10
            while console.run_pending() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert c.reply() == {"ok": True, "never": True}
    finally:
        console.close()


def test_ports_in_use_are_named(tmp_path: Path) -> None:
    with sim.World() as world, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ListenError, match=f"cannot serve the admin console on 127.0.0.1:"
                                              f"{port}: Address already in use"):
            Ops(world, admin_port=port, data_dir=tmp_path)
        ops = Ops(world, metrics_port=port, admin_port=0, data_dir=tmp_path)
        with pytest.raises(ListenError, match=f"cannot serve metrics on 127.0.0.1:{port}: "
                                              "Address already in use"):
            ops.start()
        assert ops.admin is not None
        with pytest.raises(ConnectionRefusedError):  # start() closed what it had opened
            socket.create_connection(ops.admin.address, timeout=5).close()
        with pytest.raises(AdminError, match="loopback only"):
            Ops(world, admin_port=0, admin_host="0.0.0.0", data_dir=tmp_path)


def test_the_server_refuses_a_bad_admin_setup_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    done = run_server("--port", "0", "--admin-port", "0", "--admin-token-file", str(missing))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith(
        f"python -m server: error: cannot read the admin token file '{missing}': ")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_server("--port", "0", "--admin-port", str(port), "--data-dir",
                          str(tmp_path))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (f"python -m server: cannot serve the admin "
                                            f"console on 127.0.0.1:{port}: Address already "
                                            "in use")


def test_after_close_a_connection_is_told_the_server_is_stopping() -> None:
    console = AdminConsole("t" * 32, lambda cmd, args, session: {"ran": cmd})
    console.start()
    try:
        with Console(console.address) as c:
            assert c.ask("auth " + "t" * 32)["ok"]
            c.send_line("status")
            deadline = time.monotonic() + 10
            while console.run_pending() == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert c.reply() == {"ok": True, "ran": "status"}
            console.close()
            assert c.ask("status") == {"ok": False, "error": "the server is stopping"}
    finally:
        console.close()
