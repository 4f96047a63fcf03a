"""A secret the server reads when it starts (the token HMAC key of server.auth, the admin
console's token of server.admin): from a file a flag names, else an environment variable,
else a file in the data directory, generated there the first time (mode 0600).

    secret, source = find_secret(path, "LOOM_SECRET", data_dir, "secret",
                               make=lambda: secrets.token_hex(32), what="secret",
                               missing="no secret: ...")
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["SecretError", "find_secret"]

log = logging.getLogger("loom.server.secret")

PathArg = str | os.PathLike[str]


class SecretError(ValueError):
    """No usable secret: the message says which source failed and why (one line)."""


def find_secret(path: PathArg | None, env_var: str, data_dir: PathArg | None, file_name: str,
                *, make: Callable[[], str], what: str, missing: str,
                environ: Mapping[str, str] = os.environ) -> tuple[bytes, str]:
    """``(the secret's bytes, where it came from)``: the file `path` if given, else ``$env_var`` if
    set and not empty, else ``data_dir/file_name`` — created with ``make()`` (mode 0600,
    exclusively: a file another process made meanwhile wins) when it does not exist.
    Surrounding whitespace is stripped. Raises SecretError(``missing``) when there is no
    source, and ``cannot read {what} file ...`` when a file cannot be read. A file others
    may read is used, with a warning."""
    if path is not None:
        return _read(Path(path), what), str(path)
    if environ.get(env_var):
        return environ[env_var].strip().encode("utf-8"), f"${env_var}"
    if data_dir is None:
        raise SecretError(missing)
    file = Path(data_dir) / file_name
    if not file.exists():
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile: use theirs
            return _read(file, what), str(file)
        except OSError as exc:
            raise SecretError(f"cannot create {what} file {str(file)!r}: "
                              f"{exc.strerror or exc}") from None
        secret = make().encode("utf-8")
        with os.fdopen(fd, "wb") as f:
            f.write(secret + b"\n")
        log.info("generated a new %s in %s (mode 0600)", what, file)
        return secret, str(file)
    return _read(file, what), str(file)


def _read(file: Path, what: str) -> bytes:
    try:
        data = file.read_bytes()
        mode = file.stat().st_mode
    except OSError as exc:
        raise SecretError(f"cannot read {what} file {str(file)!r}: {exc.strerror or exc}") from None
    if os.name == "posix" and mode & 0o077:
        log.warning("%s file %s is readable by others (chmod 600 it)", what, file)
    return data.strip()
