"""Nesting up to thousands of levels deep, in every place a client can put it, against the
echo demo in a subprocess: a clean BAD_MESSAGE or BAD_FRAME each time, never INTERNAL, and
no traceback in the server's log (nothing recurses into hostile data, error messages
included; msgpack itself refuses beyond 1,024 levels)."""

from __future__ import annotations

import socket

import pytest
from pump_harness import EchoProcess, no_leaked_fds  # noqa: F401

from net import (
    Decoder,
    Error,
    ErrorCode,
    Hello,
    Message,
    Welcome,
    encode_message,
    parse_from_server,
)
from tools.fuzz_hostile import deep_raw, frame_of

LEVELS = [9, 990, 1000, 1023, 1024, 1030, 3000]
PLACES = {
    "the whole message": (False, lambda d: d),
    "the type": (False, lambda d: [d]),
    "HELLO.name": (False, lambda d: [1, 1, d]),
    "INPUT.payload": (True, lambda d: [3, 1, 0, d]),
    "INPUT.seq": (True, lambda d: [3, d, 0, None]),
    "CALL.args": (True, lambda d: [4, 1, "m", [d]]),
    "PING.time": (True, lambda d: [7, 1, d]),
    "a map value": (True, lambda d: [3, 1, 0, {"k": d}]),
}


def closing_error(port: int, welcomed: bool, frame: bytes) -> Message:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10.0)
    decoder, got = Decoder(1 << 20), []
    try:
        if welcomed:
            sock.sendall(encode_message(Hello(1, "deep")))
            while not got:
                got += [parse_from_server(o) for o in decoder.feed(sock.recv(65536))]
            assert isinstance(got.pop(0), Welcome)
        sock.sendall(frame)
        while data := sock.recv(65536):
            got += [parse_from_server(o) for o in decoder.feed(data)]
    finally:
        sock.close()
    assert len(got) == 1, got
    return got[0]


def test_deep_nesting_everywhere_is_refused_cleanly() -> None:
    echo = EchoProcess()
    codes = {}
    try:
        for place, (welcomed, build) in PLACES.items():
            for levels in LEVELS:
                error = closing_error(echo.port, welcomed, frame_of(build(deep_raw(levels))))
                assert isinstance(error, Error) and error.ref is None, (place, levels, error)
                codes[place, levels] = ErrorCode(error.code)
    finally:
        result = echo.stop()
    assert set(codes.values()) <= {ErrorCode.BAD_MESSAGE, ErrorCode.BAD_FRAME}, codes
    assert codes["INPUT.payload", 990] is ErrorCode.BAD_MESSAGE  # decoded, then refused
    assert codes["INPUT.payload", 3000] is ErrorCode.BAD_FRAME  # beyond msgpack's own limit
    assert result.returncode == 0
    assert "Traceback" not in result.stderr and "INTERNAL" not in result.stderr
    assert "INTERNAL" not in result.stats["rejected"]
    assert sum(result.stats["rejected"].values()) == len(PLACES) * len(LEVELS)


@pytest.mark.parametrize("levels", [1000, 3000])
def test_deep_values_never_reach_a_repr(levels: int) -> None:
    # (the fuzzer's own names for cases went through repr() once, and hit RecursionError)
    from net._shared import limits

    value = 1
    for _ in range(levels):
        value = [value]  # type: ignore[assignment]
    assert len(limits.short_repr(value)) <= 80
