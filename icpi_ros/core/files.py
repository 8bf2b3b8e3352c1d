# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Crash-safe writes: a whole file replaced atomically, lines appended durably.

`write_atomic` writes a temporary file beside the target, fsyncs it, renames it over the target
and fsyncs the folder: a crash or an error at any point leaves the old file or the new one,
never a mix. `append_synced` appends to a line file (a run's trials.jsonl) and returns only once
the bytes are on disk; a failed append is cut back, so no half line is left behind.
`append_then_sync` writes at once and fsyncs in a thread: the line survives a crash of the
process at once (it is in the kernel), and the disk has it when `PendingSync.wait()` returns.
"""

import os
import secrets
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO

# What write_atomic writes: bytes, text (UTF-8), or a function writing to the file it is given.
Content = bytes | str | Callable[[BinaryIO], object]


def write_atomic(path: Path | str, data: Content) -> Path:
    """Replace the file at `path` with `data`, atomically and durably.

    Args:
        path: The file to write; its folder must exist.
        data: The bytes, a string (written as UTF-8), or a function that writes the content
            to the binary file object it is given (e.g. `figure.savefig` or `image.save`).

    Returns:
        `path` as a Path.

    Raises:
        OSError: The temporary file could not be written, synced or renamed; the old file is
            unchanged and the temporary file removed.
        Exception: Whatever `data` raises when it is a function, with the same guarantees.

    """
    path = Path(path)
    tmp = path.with_name(f'.{path.name}.{secrets.token_hex(4)}.tmp')
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, 'wb') as f:
            if callable(data):
                data(f)
            else:
                f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:  # also KeyboardInterrupt: never leave the temporary file behind
        with suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)
    return path


class PendingSync:
    """The fsync of an appended line, running in a thread; `wait()` for it."""

    def __init__(self, fd: int) -> None:
        self._fd, self._error = fd, None
        self._thread = threading.Thread(target=self._sync, name='fsync', daemon=True)
        self._thread.start()

    def _sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._error = exc
        finally:
            os.close(self._fd)

    def wait(self) -> None:
        """Return once the line is on disk.

        Raises:
            OSError: The fsync failed.

        """
        self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def append_then_sync(path: Path | str, data: bytes) -> PendingSync:
    """Append `data` to an existing file now; fsync it in a thread.

    Args:
        path: The file to append to; it must exist.
        data: The bytes to append (whole lines, each ending with a newline).

    Returns:
        The pending fsync: `wait()` returns once the bytes are on disk.

    Raises:
        OSError: The write failed; the file is cut back to its size before the call.

    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        _write_all_or_cut(fd, data)
    except BaseException:
        os.close(fd)
        raise
    return PendingSync(fd)


def _write_all_or_cut(fd: int, data: bytes) -> int:
    """Write all of `data` to `fd`; return the file's size before (cut back to it on failure)."""
    size = os.fstat(fd).st_size
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    except BaseException:  # also KeyboardInterrupt: never leave half a line behind
        _cut(fd, size)
        raise
    return size


def _cut(fd: int, size: int) -> None:
    """Cut the file of `fd` back to `size` bytes (best effort: this is already a failure)."""
    with suppress(OSError):
        os.ftruncate(fd, size)
        os.fsync(fd)


def append_synced(path: Path | str, data: bytes) -> None:
    """Append `data` to an existing file and fsync it; on failure cut the file back.

    Args:
        path: The file to append to; it must exist.
        data: The bytes to append (whole lines, each ending with a newline).

    Raises:
        OSError: The write or the fsync failed (also when the file does not exist); the file
            is cut back to its size before the call.

    """
    # Unbuffered: nothing is left in a buffer to be flushed after a failed write is undone.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        size = _write_all_or_cut(fd, data)
        try:
            os.fsync(fd)
        except BaseException:
            _cut(fd, size)
            raise
    finally:
        os.close(fd)


def truncate_synced(path: Path | str, size: int) -> None:
    """Cut the file at `path` back to `size` bytes and fsync it.

    Raises:
        OSError: The file could not be opened, cut or synced.

    """
    with Path(path).open('r+b') as f:
        f.truncate(size)
        f.flush()
        os.fsync(f.fileno())


def fsync_dir(path: Path | str) -> None:
    """Make a rename or a new entry in the folder `path` durable.

    Best effort: a folder that cannot be opened or synced (not every OS allows it) is skipped.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
