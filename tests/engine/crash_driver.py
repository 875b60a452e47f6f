"""Runs `crmsync sync` in this process and SIGKILLs it at a chosen point (used by test_crash.py).

    python crash_driver.py CONFIG PIPELINE POINT N

POINT is ``read`` (after N records were read), ``write`` (after the N-th write batch was
acknowledged, before its commit) or ``commit`` (just before the N-th database commit).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Generator
from typing import Any

import sqlalchemy as sa

from crmsync.cli import main
from crmsync.plugins import get_host, hookimpl

config, pipeline, point, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = {"count": 0}


def tick() -> None:
    seen["count"] += 1
    if seen["count"] >= n:
        os.kill(os.getpid(), signal.SIGKILL)


if point == "read":
    import crmsync_jsonfile

    original = crmsync_jsonfile.JsonFileConnector.read_changes

    def read_changes(self: Any, since: Any) -> Any:
        for record in original(self, since):
            tick()
            yield record

    crmsync_jsonfile.JsonFileConnector.read_changes = read_changes  # type: ignore[method-assign]
elif point == "write":

    class KillAfterWrite:
        @hookimpl(wrapper=True)
        def sync_batch(self, batch: dict[str, Any]) -> Generator[None, Any, Any]:
            outcome = yield
            tick()
            return outcome

    get_host().pm.register(KillAfterWrite())
elif point == "commit":

    @sa.event.listens_for(sa.engine.Engine, "commit")
    def before_commit(conn: Any) -> None:
        tick()

sys.argv = ["crmsync", "-c", config, "sync", pipeline]
main()
