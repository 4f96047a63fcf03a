"""Run by tests/durable in a fresh interpreter (with the C half or without): the pickle of
``durable_programs.record_everything()``, hex-encoded on stdout."""

from __future__ import annotations

import durable_programs as programs

print(programs.record_everything().hex())
