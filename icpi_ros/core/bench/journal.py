# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The partial results of a sweep: every finished run, one fsynced line, for `--resume`.

`icpi bench --out R.json` keeps `R.json.partial.jsonl` beside it while it runs: each line is
one run's spec (every field of `harness.RunSpec`) and its record, written as it comes back
from any executor. A sweep interrupted (Ctrl-C, a crash, SIGKILL) keeps the file; run again
with `--resume`, the runs whose spec is in it are not run again. A complete sweep removes it.
A line torn by a crash at the end is cut off.
"""

import json
from dataclasses import asdict, fields
from pathlib import Path

from icpi_ros.core.bench.harness import RunSpec
from icpi_ros.core.files import append_synced, truncate_synced, write_atomic
from icpi_ros.core.run_lines import parse_lines
from icpi_ros.core.validation import InvalidInput

SUFFIX = '.partial.jsonl'


def journal_path(out: Path | str) -> Path:
    """Return the partial-results file of the results file `out`."""
    out = Path(out)
    return out.with_name(out.name + SUFFIX)


def _spec(document: object, where: str) -> RunSpec:
    names = {field.name for field in fields(RunSpec)}
    spec = document.get('spec') if isinstance(document, dict) else None
    if not isinstance(spec, dict) or set(spec) != names or 'record' not in document:
        raise InvalidInput(f'{where}: not a line of finished run (spec and record)')
    return RunSpec(**spec)


class Journal:
    """The partial-results file of one sweep."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def open(self, resume: bool) -> dict[RunSpec, dict]:
        """Start the file, or with `resume` read the runs in it; return those runs.

        Args:
            resume: keep the runs of an earlier, interrupted sweep (False: start afresh).

        Returns:
            Each finished run's spec and record (empty without `resume` or a file).

        Raises:
            InvalidInput: a line that is not a finished run, naming the file and line.
        """
        if not resume or not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, b'')
            return {}
        parsed = parse_lines(self.path.read_bytes(), str(self.path))
        if parsed.cut_at is not None:  # the last line, torn by a crash
            truncate_synced(self.path, parsed.cut_at)
        elif parsed.unterminated:
            append_synced(self.path, b'\n')
        return {
            _spec(doc, f'{self.path} line {number}'): doc['record']
            for number, doc in parsed.documents
        }

    def append(self, spec: RunSpec, record: dict) -> None:
        """Add one finished run; return once it is on disk."""
        line = json.dumps({'spec': asdict(spec), 'record': record}) + '\n'
        append_synced(self.path, line.encode())

    def remove(self) -> None:
        """Delete the file (the sweep is complete: its results file has every run)."""
        self.path.unlink(missing_ok=True)
