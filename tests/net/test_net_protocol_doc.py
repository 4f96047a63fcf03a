"""docs/protocol.md §9 ("Exact rules") against the code: the byte vectors of §9.8 are read
from the page and sent to the echo demo over real sockets, and each other answer of §9 is
checked where it lives (parse, the decoder, the quantiser, the client)."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Callable, Iterator

import pytest
from pump_harness import ROOT, EchoProcess, no_leaked_fds  # noqa: F401

import net
from net import (
    Bye,
    Client,
    Decoder,
    EntityState,
    Error,
    Event,
    Hello,
    Input,
    InvalidMessage,
    Message,
    MessageNotAllowed,
    Ping,
    Pong,
    UnknownMessageType,
    Welcome,
    encode,
    encode_message,
    parse,
    parse_from_client,
    parse_from_server,
    quantise,
)
from net import MalformedFrame as BadFrame

DOC = (ROOT / "docs" / "protocol.md").read_text()


def vectors() -> list[tuple[str, str, bytes, str]]:
    """(name, state, frames, answer) for each row of §9.8's table."""
    table = DOC[DOC.index("### 9.8 Byte vectors"):]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("vector", "---"):
            continue
        name, state, sent, answer = cells
        rows.append((name, state, hex_cell(name, sent), answer))
    return rows


def hex_cell(name: str, cell: str) -> bytes:
    if name == "513 values":  # described in words: build it
        return encode([3, 1, 0, [1] * 513])
    data = b""
    for piece in cell.split("+"):
        count, _, code = piece.strip().rpartition("×")
        data += bytes.fromhex(code.strip().strip("`")) * (int(count) if count.strip() else 1)
    return data


VECTORS = vectors()


def test_the_table_is_there() -> None:
    assert len(VECTORS) == 15, VECTORS


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoProcess]:
    process = EchoProcess()
    yield process
    process.stop()


def exchange(port: int, state: str, data: bytes,
             done: Callable[[list[Message], bytes], bool]) -> tuple[list[Message], bytes]:
    """Send `data` (after a HELLO and its WELCOME if `state` is "welcomed"); everything the
    server sends until it closes or `done(messages, raw bytes)`, as messages and bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5.0)
    decoder, got, raw = Decoder(1 << 20), [], b""
    try:
        if state == "welcomed":
            sock.sendall(encode_message(Hello(1, "vector")))
            while not got:
                got += [parse_from_server(o) for o in decoder.feed(sock.recv(65536))]
            assert isinstance(got.pop(0), Welcome)
        sock.sendall(data)
        sock.settimeout(10.0)
        while not done(got, raw):
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            raw += chunk
            got += [parse_from_server(o) for o in decoder.feed(chunk)]
    finally:
        sock.close()
    return got, raw


@pytest.mark.parametrize(("name", "state", "data", "answer"), VECTORS, ids=[v[0] for v in VECTORS])
def test_byte_vector(echo: EchoProcess, name: str, state: str, data: bytes,
                     answer: str) -> None:
    # a PONG or a WELCOME does not close the connection: stop once it is there
    got, raw = exchange(echo.port, state, data, lambda got, raw: (
        answer == "WELCOME" and bool(got) or answer.endswith("(PONG)") and len(raw) >= 8))
    kinds = [type(m).__name__.upper() for m in got]
    if answer.startswith("ERROR "):
        assert kinds == ["ERROR"], got
        assert isinstance(got[0], Error) and got[0].code.name == answer.split()[1]
    elif answer.endswith("(PONG)"):
        assert raw == bytes.fromhex(answer.split("`")[1])
    elif answer == "closes, no reply":
        assert got == []
    else:
        assert answer == "WELCOME" and kinds == ["WELCOME"], got


# ---- §9.1 strings ---------------------------------------------------------------------


def test_string_limits_count_code_points_not_utf16_units() -> None:
    smileys = "\U0001F600" * 32  # 64 UTF-16 units, 128 UTF-8 bytes
    assert parse([1, 1, smileys]) == Hello(1, smileys)
    with pytest.raises(InvalidMessage, match="length 33"):
        parse([1, 1, smileys + "\U0001F600"])
    assert parse([10, "é" * 256]) == Bye("é" * 256)  # 512 UTF-8 bytes


@pytest.mark.parametrize("char", ["\u00a0", "\u200b", "\u2028", "\u2029", "\ue000",
                                  "\U000f0000", "\u0378", "\x7f", "\t", "\u3000"])
def test_names_refuse_exactly_the_non_printable_code_points(char: str) -> None:
    with pytest.raises(InvalidMessage, match="control characters"):
        parse([1, 1, f"a{char}b"])


@pytest.mark.parametrize("char", [" ", "é", "\u4e2d", "\U0001F600", "\u0301"])
def test_names_accept_printable_code_points(char: str) -> None:
    assert parse([1, 1, f"a{char}b"]).name == f"a{char}b"  # type: ignore[union-attr]


# ---- §9.2 payload limits --------------------------------------------------------------


@pytest.mark.parametrize(("payload", "ok"), [
    ([1] * 512, True), ([1] * 513, False),
    ({f"k{i}": 1 for i in range(512)}, True), ({f"k{i}": 1 for i in range(513)}, False),
    ([[1] * 255, [1] * 255], True),  # 2 + 510
    ([[1] * 255, [1] * 256], False),  # 2 + 511
    (7, True),
])
def test_how_the_512_values_are_counted(payload: object, ok: bool) -> None:
    if ok:
        assert parse([3, 1, 0, payload]) == Input(1, 0, payload)
    else:
        with pytest.raises(InvalidMessage, match="more than 512 values"):
            parse([3, 1, 0, payload])


def test_call_args_are_one_payload() -> None:
    seven_deeper = [[[[[[[1]]]]]]]
    assert parse([4, 1, "m", [seven_deeper]]).args == (seven_deeper,)  # type: ignore[union-attr]
    with pytest.raises(InvalidMessage, match="nested deeper than 8"):
        parse([4, 1, "m", [[seven_deeper]]])
    assert parse([4, 1, "m", [[1] * 250, [1] * 250]]).args  # type: ignore[union-attr]
    with pytest.raises(InvalidMessage, match="more than 512 values"):
        parse([4, 1, "m", [[1] * 300, [1] * 300]])  # 600 in all, under 512 each
    with pytest.raises(InvalidMessage, match="at most 16"):
        parse([4, 1, "m", [1] * 17])


# ---- §9.3 sequence numbers ------------------------------------------------------------


def test_event_seq_starts_at_1_and_continues_across_a_resume(echo: EchoProcess) -> None:
    client = Client("127.0.0.1", echo.port, "seq", timeout=3.0, input_rate=math.inf)
    client.connect()
    seqs = []
    deadline = time.monotonic() + 5.0
    for step in range(2):
        for _ in range(2):
            client.send_input(None)
        while len(seqs) < 2 * (step + 1):
            assert time.monotonic() < deadline
            seqs += [m.seq for m in client.poll(0.02) if isinstance(m, Event)]
        if step == 0:
            client.reconnect()
    assert seqs == [1, 2, 3, 4]
    client.close()


# ---- §9.4 entity records --------------------------------------------------------------


def snapshot(*records: object, removed: tuple[int, ...] = ()) -> list[object]:
    return [5, 1, 0, 1, 0, 1.0, 1.0, list(records), list(removed)]


def test_an_id_appears_at_most_once_per_snapshot() -> None:
    assert parse(snapshot([1, None, None, None, None], removed=(2,))).removed == (2,)  # type: ignore[union-attr]
    with pytest.raises(InvalidMessage, match="twice.*got 1"):
        parse(snapshot([1, None, None, None, None], [1, None, [0, 0], None, None]))
    with pytest.raises(InvalidMessage, match="twice.*got 3"):
        parse(snapshot([3, None, None, None, None], removed=(3,)))
    with pytest.raises(InvalidMessage, match="twice"):
        parse(snapshot(removed=(4, 4)))


def test_an_entering_record_is_complete() -> None:
    entering = parse(snapshot([1, "ship", [64, -96], [0, 0], None])).entities[0]  # type: ignore[union-attr]
    assert entering == EntityState(1, "ship", (1.0, -1.5), (0.0, 0.0), None)
    for pos, vel in (([0, 0], None), (None, [0, 0])):
        with pytest.raises(InvalidMessage, match="entering record"):
            parse(snapshot([1, "ship", pos, vel, None]))
    with pytest.raises(InvalidMessage, match="kind"):
        parse(snapshot([1, "", [0, 0], [0, 0], None]))


def test_nil_in_fields_is_a_value_and_absent_means_unchanged() -> None:
    delta = parse(snapshot([1, None, None, None, {"target": None}])).entities[0]  # type: ignore[union-attr]
    assert delta.fields == {"target": None} and delta.pos is None


# ---- §9.5 numbers ---------------------------------------------------------------------


def test_the_exact_position_range() -> None:
    assert quantise(33_554_431.984375) == 2**31 - 1
    assert quantise(-33_554_432.0) == -(2**31)
    assert quantise(-1.5) == -96
    for beyond in (33_554_432.0, -33_554_432.015625):
        with pytest.raises(ValueError, match="int32"):
            quantise(beyond)
    assert encode([2**31 - 1])[5:] == bytes.fromhex("ce 7f ff ff ff")
    assert encode([-96])[5:] == bytes.fromhex("d0 a0")
    top = parse(snapshot([1, "k", [2**31 - 1, -(2**31)], [0, 0], None])).entities[0]  # type: ignore[union-attr]
    assert top.pos == (33_554_431.984375, -33_554_432.0)
    with pytest.raises(InvalidMessage, match="pos.x"):
        parse(snapshot([1, "k", [2**31, 0], [0, 0], None]))


@pytest.mark.parametrize(("rate", "ok"), [(1e-9, True), (1000.0, True), (1000, True),
                                          (0, False), (0.0, False), (-1.0, False),
                                          (1000.5, False)])
def test_welcome_rates_are_above_0_up_to_1000(rate: float, ok: bool) -> None:
    wire = [2, 7, "token", rate, rate, 1.0]
    if ok:
        assert parse(wire).tick_rate == rate  # type: ignore[union-attr]
    else:
        with pytest.raises(InvalidMessage, match="tick_rate"):
            parse(wire)


# ---- §9.6 clocks, §9.7 BYE ------------------------------------------------------------


def test_welcome_is_seconds_since_the_server_started_and_ping_its_monotonic_clock() -> None:
    echo = EchoProcess("--ping-interval", "0.2", "--idle-timeout", "5")
    try:
        sock = socket.create_connection(("127.0.0.1", echo.port), timeout=5.0)
        sock.sendall(encode_message(Hello(1, "clocks")))
        decoder, got = Decoder(1 << 20), []
        while len(got) < 2:
            got += [parse_from_server(o) for o in decoder.feed(sock.recv(65536))]
        sock.close()
        welcome, ping = got[:2]
        assert isinstance(welcome, Welcome) and isinstance(ping, Ping)
        # Same machine: the server's clocks are ours. (A minute of slack: a loaded machine.)
        assert 0.0 <= welcome.server_time < 60  # the echo started a moment ago
        assert abs(ping.time - time.monotonic()) < 60
        assert abs(ping.time - time.time()) > 3600  # not Unix time
    finally:
        echo.stop()


def test_pong_copies_the_ping_exactly() -> None:
    assert parse([7, 7, 5]) == Ping(7, 5) and type(parse([7, 7, 5]).time) is int  # type: ignore[union-attr]
    assert net.to_wire(Pong(7, parse([7, 7, 5]).time)) == [8, 7, 5]  # type: ignore[union-attr]
    assert type(parse([8, 1, 2.5]).time) is float  # type: ignore[union-attr]
    with pytest.raises(InvalidMessage):
        parse([7, 1, float("nan")])


@pytest.mark.parametrize("wire", [[10], [10, None], [10, ""]])
def test_bye_reason_may_be_nil_or_left_out(wire: list[object]) -> None:
    assert parse(wire) == Bye("")


# ---- order of checks, framing ----------------------------------------------------------


def test_direction_is_checked_before_fields() -> None:
    with pytest.raises(MessageNotAllowed):
        parse_from_client([5, 1])
    with pytest.raises(MessageNotAllowed):
        parse_from_server([1, "not even a version"])
    with pytest.raises(UnknownMessageType):
        parse_from_client([99])
    with pytest.raises(InvalidMessage):
        parse_from_client(["HELLO"])


@pytest.mark.parametrize("body", ["c4 00", "c5 00 00", "c6 00 00 00 00", "91 c4 00",
                                  "81 c4 00 01", "81 a1 6b c4 00", "c4 01 00"])
def test_bin_of_any_length_is_a_bad_frame(body: str) -> None:
    data = bytes.fromhex(body)
    with pytest.raises(BadFrame, match="bin"):
        Decoder().feed(len(data).to_bytes(4, "big") + data)


def test_a_string_holding_the_bytes_of_an_empty_bin_is_fine() -> None:
    frame = encode_message(Input(1, 0, "\u0100\u0400"))  # UTF-8 c4 80 d0 80: no c4 00
    assert parse(Decoder().feed(frame)[0]) == Input(1, 0, "\u0100\u0400")
    frame = encode_message(Input(1, 0, 1.0 + 2**-44))  # a float64 with c4 00 inside
    assert b"\xc4\x00" in frame or b"\x00\x00" in frame
    assert parse(Decoder().feed(frame)[0]) == Input(1, 0, 1.0 + 2**-44)


def test_repeated_map_keys_are_a_bad_frame() -> None:
    body = bytes.fromhex("94 03 01 00 82 a1 61 01 a1 61 02")
    with pytest.raises(BadFrame, match="duplicate map key 'a'"):
        Decoder().feed(len(body).to_bytes(4, "big") + body)
    nested = encode([3, 1, 0, [{"a": 1, "b": {"c": 1}}]])
    assert Decoder().feed(nested)[0][3] == [{"a": 1, "b": {"c": 1}}]


def test_client_seqs_restart_for_a_fresh_session(echo: EchoProcess) -> None:
    """The echo demo wants exactly INPUT 1 and CALL 1 first on a fresh session: a client
    whose old session ended starts its counters again."""
    client = Client("127.0.0.1", echo.port, "again", timeout=3.0, input_rate=math.inf)
    first = client.connect()
    assert (client.send_input(None), client.call("m")) == (1, 1)
    client.close()  # BYE: the session ends
    client.resume_token = None
    assert client.connect().client_id != first.client_id
    assert (client.send_input("fresh"), client.call("m")) == (1, 1)
    got: list[Message] = []
    deadline = time.monotonic() + 5.0
    while len(got) < 2:
        assert time.monotonic() < deadline, got
        got += client.poll(0.02)
    assert got[0] == Event(1, "fresh") and isinstance(got[1], Error) and got[1].ref == 1
    assert client.connected
    client.close()
