# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Crash-safe writes: a whole file replaced atomically, lines appended durably.

`write_atomic` writes a temporary file beside the target, fsyncs it, renames it over the target
and fsyncs the folder: a crash or an error at any point leaves the old file or the new one,
never a mix. `append_synced` appends to a line file (a run's trials.jsonl) and returns only once
the bytes are on disk; a failed append is cut back, so no half line is left behind.
"""

import os
import secrets
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
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:  # also KeyboardInterrupt: never leave half a line behind
            with suppress(OSError):
                os.ftruncate(fd, size)
                os.fsync(fd)
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
