"""Replacing a user's file safely: temp file in the same folder, fsync, rename, timestamped backups.

A reader (Excel, a colleague, the next run) sees either the old file or the new one, never
half of one: the new content goes to a hidden temp file next to the target, is flushed and
fsynced, then :func:`os.replace` swaps it in (atomic on one file system). Before the swap the
previous file is copied to ``<stem>.<UTC time>.bak<suffix>``; only the newest ``keep`` backups
are kept. If the target changed while we were rewriting it, nothing is replaced.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from crmsync.errors import RetryableError

Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backup_pattern(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(path.stem) + r"\.\d{8}T\d{6}Z(?:-\d+)?\.bak" + re.escape(path.suffix) + "$")


def is_backup_or_temp(path: Path) -> bool:
    """Files this module creates (and Excel's ``~$`` lock files): never data to read."""
    name = path.name
    return (name.startswith((".", "~$")) or name.endswith(".tmp")
            or re.search(r"\.\d{8}T\d{6}Z(?:-\d+)?\.bak\.[^.]+$", name) is not None)


def make_backup(path: Path, keep: int, clock: Clock = _utcnow) -> Path | None:
    """Copy ``path`` to a timestamped backup next to it; prune to the newest ``keep``."""
    if keep <= 0 or not path.exists():
        return None
    stamp = clock().astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.stem}.{stamp}.bak{path.suffix}")
    counter = 1
    while target.exists():  # two writes in one second must not overwrite each other's backup
        counter += 1
        target = path.with_name(f"{path.stem}.{stamp}-{counter}.bak{path.suffix}")
    shutil.copy2(path, target)
    pattern = backup_pattern(path)
    backups = sorted((p for p in path.parent.iterdir() if pattern.match(p.name)),
                     key=lambda p: (p.stat().st_mtime_ns, p.name))
    for old in backups[: max(0, len(backups) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            old.unlink()
    return target


def _fsync_path(path: Path, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return  # some platforms cannot open directories; the rename is still atomic
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def signature(path: Path) -> tuple[int, int] | None:
    """(mtime ns, size) of ``path``, None when it does not exist: enough to notice an edit."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


@contextlib.contextmanager
def atomic_replace(path: Path, *, backup_keep: int = 0, clock: Clock = _utcnow,
                   expect: tuple[int, int] | bool | None = True) -> Iterator[Path]:
    """Yield a temp path to write; on clean exit fsync it, back up ``path``, and swap it in.

    On any exception the temp file is removed and ``path`` is untouched. ``backup_keep`` 0
    means no backup. ``expect`` is the :func:`signature` taken before the caller started
    reading ``path`` (default: taken now); if the file no longer matches it, nothing is replaced.
    """
    before = signature(path) if expect is True else expect
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        _fsync_path(temp)
        if before is not None:
            shutil.copymode(path, temp)  # mkstemp makes 0600; keep the user's permissions
        if signature(path) != before:
            raise RetryableError(f"{path.name} changed while crmsync was rewriting it; nothing was written")
        if backup_keep > 0:
            make_backup(path, backup_keep, clock)
        os.replace(temp, path)
        _fsync_path(path.parent, directory=True)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise


__all__ = ["atomic_replace", "backup_pattern", "is_backup_or_temp", "make_backup", "signature"]
