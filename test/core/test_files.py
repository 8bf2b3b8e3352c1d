# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Crash-safe writes (core/files.py): the old file or the new one, never a mix or a half line."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from icpi_ros.core import files
from icpi_ros.core.files import append_synced, append_then_sync, truncate_synced, write_atomic


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob('.*.tmp'))


@pytest.mark.parametrize(
    'data', [b'new bytes\n', 'new bytes\n', lambda f: f.write(b'new bytes\n')], ids=str
)
def test_write_atomic_replaces_the_file(tmp_path, data):
    path = tmp_path / 'doc.json'
    path.write_bytes(b'old')
    assert write_atomic(path, data) == path
    assert path.read_bytes() == b'new bytes\n'
    assert _leftovers(tmp_path) == []


def test_text_is_written_as_utf8(tmp_path):
    path = write_atomic(str(tmp_path / 'doc.txt'), 'Δθ → 5 mm')
    assert isinstance(path, Path) and path.read_bytes() == 'Δθ → 5 mm'.encode()


def test_the_old_file_remains_when_the_writer_raises_mid_way(tmp_path):
    path = tmp_path / 'doc.json'
    path.write_bytes(b'old content')

    def half_then_fail(f) -> None:
        f.write(b'{"half": ')
        raise RuntimeError('generator broke')

    with pytest.raises(RuntimeError, match='generator broke'):
        write_atomic(path, half_then_fail)
    assert path.read_bytes() == b'old content'
    assert _leftovers(tmp_path) == []  # the temporary file is removed


def test_ctrl_c_while_writing_leaves_the_old_file(tmp_path):
    path = tmp_path / 'doc.json'
    path.write_bytes(b'old content')

    def interrupted(f) -> None:
        f.write(b'part')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, interrupted)
    assert path.read_bytes() == b'old content' and _leftovers(tmp_path) == []


def test_a_failed_fsync_or_rename_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'doc.json'
    path.write_bytes(b'old content')

    def broken(*_args):
        raise OSError(5, 'Input/output error')

    with monkeypatch.context() as m:
        m.setattr(files.os, 'fsync', broken)
        with pytest.raises(OSError, match='Input/output'):
            write_atomic(path, b'new')
    with monkeypatch.context() as m:
        m.setattr(Path, 'replace', broken)
        with pytest.raises(OSError, match='Input/output'):
            write_atomic(path, b'new')
    assert path.read_bytes() == b'old content' and _leftovers(tmp_path) == []


def test_a_missing_file_is_not_made_when_writing_fails(tmp_path):
    path = tmp_path / 'doc.json'
    with pytest.raises(ValueError):
        write_atomic(path, lambda f: (_ for _ in ()).throw(ValueError('no data')))
    assert list(tmp_path.iterdir()) == []


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path):
    """A real crash: the writing process dies between two writes, nothing cleans up."""
    path = tmp_path / 'doc.json'
    path.write_bytes(b'old content')
    child = (
        'import os, sys\n'
        'from icpi_ros.core.files import write_atomic\n'
        'def die(f):\n'
        '    f.write(b"half of the new")\n'
        '    f.flush()\n'
        '    os._exit(9)\n'
        'write_atomic(sys.argv[1], die)\n'
    )
    done = subprocess.run([sys.executable, '-c', child, str(path)], timeout=60)
    assert done.returncode == 9
    assert path.read_bytes() == b'old content'
    assert len(_leftovers(tmp_path)) == 1  # the dead writer's temporary file, never renamed
    write_atomic(path, b'next')  # a later write is not disturbed by it
    assert path.read_bytes() == b'next'


def test_the_new_file_has_the_mode_open_would_give(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_atomic(tmp_path / 'doc.json', b'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_append_synced_adds_lines_and_cuts_back_a_failed_append(tmp_path, monkeypatch):
    path = tmp_path / 'trials.jsonl'
    path.write_bytes(b'')
    append_synced(path, b'{"iteration": 0}\n')
    append_synced(path, b'{"iteration": 1}\n')
    good = path.read_bytes()
    assert good == b'{"iteration": 0}\n{"iteration": 1}\n'

    def broken(_fd):
        raise OSError(28, 'No space left on device')

    with monkeypatch.context() as m:
        m.setattr(files.os, 'fsync', broken)
        with pytest.raises(OSError, match='No space'):
            append_synced(path, b'{"iteration": 2}\n')
    assert path.read_bytes() == good  # no half line left behind
    with pytest.raises(FileNotFoundError):
        append_synced(tmp_path / 'missing.jsonl', b'x\n')


def test_append_then_sync_writes_at_once_and_reports_a_failed_fsync(tmp_path, monkeypatch):
    path = tmp_path / 'trials.jsonl'
    path.write_bytes(b'')
    gate = __import__('threading').Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        gate.wait(5)
        real_fsync(fd)

    with monkeypatch.context() as m:
        m.setattr(files.os, 'fsync', slow_fsync)
        pending = append_then_sync(path, b'{"iteration": 0}\n')
        # Written before the fsync has run: another reader (or a crash of this process) has it.
        assert path.read_bytes() == b'{"iteration": 0}\n'
        gate.set()
        pending.wait()

    def broken(_fd):
        raise OSError(5, 'Input/output error')

    with monkeypatch.context() as m:
        m.setattr(files.os, 'fsync', broken)
        pending = append_then_sync(path, b'{"iteration": 1}\n')
        with pytest.raises(OSError, match='Input/output'):
            pending.wait()
    pending.wait()  # reported once
    with pytest.raises(FileNotFoundError):
        append_then_sync(tmp_path / 'missing.jsonl', b'x\n')


def test_truncate_synced_cuts_the_file(tmp_path):
    path = tmp_path / 'trials.jsonl'
    path.write_bytes(b'line 1\nline 2 torn')
    truncate_synced(path, 7)
    assert path.read_bytes() == b'line 1\n'
