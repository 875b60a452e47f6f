"""Logging set-up for the command line: plain text or one JSON object per line with the run id.

The engine sets :data:`current_run_id` while a run is going, so every line a run logs, from
any module, carries its id. ``zeep.transports`` is never allowed below INFO: at DEBUG it prints
whole requests, credentials included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys

current_run_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("crmsync_run_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the run id when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record), "level": record.levelname, "logger": record.name,
                 "message": record.getMessage()}
        run_id = current_run_id.get()
        if run_id:
            entry["run_id"] = run_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str) -> None:
    """Log to stderr at ``level``, as ``text`` or ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("zeep.transports").setLevel(max(logging.INFO, root.level))
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))


__all__ = ["JsonFormatter", "current_run_id", "setup_logging"]
