"""server.secret_file: the one lookup behind the token key and the admin token."""

from __future__ import annotations

import logging
import secrets
import stat
from pathlib import Path

import pytest

from server.secret_file import SecretError, find_secret


def _find(path: Path | None, data_dir: Path | None, environ: dict[str, str]
          ) -> tuple[bytes, str]:
    return find_secret(path, "LOOM_SECRET", data_dir, "secret",
                       make=lambda: secrets.token_hex(32), what="secret",
                       missing="no secret: ...", environ=environ)


def test_file_then_environment_then_a_generated_file(tmp_path: Path) -> None:
    named = tmp_path / "named"
    named.write_bytes(b"  from-the-file \n")
    named.chmod(0o600)
    env = {"LOOM_SECRET": " from-env "}
    assert _find(named, tmp_path, env) == (b"from-the-file", str(named))
    assert _find(None, tmp_path, env) == (b"from-env", "$LOOM_SECRET")
    made, where = _find(None, tmp_path / "data", {"LOOM_SECRET": ""})
    path = tmp_path / "data" / "secret"
    assert where == str(path) and len(made) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == made + b"\n"
    assert _find(None, tmp_path / "data", {}) == (made, str(path))  # made once, then read


def test_each_failure_is_one_line_naming_its_source(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(SecretError, match=r"^no secret: \.\.\.$"):
        _find(None, None, {})
    with pytest.raises(SecretError, match=f"^cannot read secret file '{tmp_path}/gone': "
                                          "No such file or directory$"):
        _find(tmp_path / "gone", None, {})
    shared = tmp_path / "shared"
    shared.write_bytes(b"readable-by-all-of-them")
    shared.chmod(0o644)
    with caplog.at_level(logging.WARNING, "loom.server.secret"):
        assert _find(shared, None, {})[0] == b"readable-by-all-of-them"
    assert f"secret file {shared} is readable by others" in caplog.text
