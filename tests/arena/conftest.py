"""The arena's server tests reuse the server tests' subprocess harness
(tests/server/server_harness.py): `python -m server` on port 0, and client-side waits."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
