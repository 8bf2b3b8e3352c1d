# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Run records on disk: one folder per run, so a crashed run resumes without losing a trial.

Layout of `<root>/<run-id>/`:

- `config.json`: the snapshot given at creation, plus `run_id` and `created` (atomic write);
- `trials.jsonl`: one JSON line per trial (the format of `run_lines`, which `icpi improve
  --record` writes too), appended and fsync'd before `append` returns;
- `failed_trials.jsonl`, `failed_steps.jsonl`: trials that ended without a result and planner
  steps that nobody answered, one fsync'd line each (not part of the history);
- `summary.json`: costs, final and best cost, best theta, the run status and who answered
  the planner steps (atomic write);
- `costs.png`: cost per iteration (atomic write);
- `search.json`: closed-loop PromptPO only, the search log (every prompt, answer, candidate,
  score and repair), rewritten after every round (atomic write).

`<root>/latest` is a relative symlink to the newest run folder. Every whole-file write goes
through `files.write_atomic` (temporary file, fsync, rename), so a crash leaves either the old
or the new file.
A crash while appending can leave half a line at the end of `trials.jsonl`; reading the file
drops it (the file is cut back to its last complete line). One process writes a run at a time.
"""

import json
import os
import re
import secrets
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from icpi_ros.core.files import (
    PendingSync,
    append_synced,
    append_then_sync,
    fsync_dir,
    truncate_synced,
    write_atomic,
)
from icpi_ros.core.plots import costs_png
from icpi_ros.core.run_lines import (
    append_line,
    check_trial_line,
    dumps,
    parse_lines,
    summarise,
)
from icpi_ros.core.validation import InvalidInput

RUNS_DIR_ENV = 'ICPI_RUNS_DIR'
CONFIG_FILE = 'config.json'
TRIALS_FILE = 'trials.jsonl'
SUMMARY_FILE = 'summary.json'
# A closed-loop PromptPO run's search log (prompts, answers, candidates, scores, repairs).
SEARCH_FILE = 'search.json'
# Trials that ended without a result (aborted, refused, timed out): kept, not in the history.
FAILED_FILE = 'failed_trials.jsonl'
# Planner steps nobody answered (the LLM refused and no fallback): every exchange, kept.
FAILED_STEPS_FILE = 'failed_steps.jsonl'
PLOT_FILE = 'costs.png'
LATEST = 'latest'
RUN_ID_PATTERN = re.compile(r'[A-Za-z0-9._-]+')
MAX_RUN_ID_LENGTH = 200  # below the 255-byte limit of a file name, with room for temp names
MAX_TASK_IN_ID = 64
_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')
_CREATE_ATTEMPTS = 20


def default_runs_dir() -> Path:
    """Return $ICPI_RUNS_DIR if set, else `runs` in the current directory."""
    override = os.environ.get(RUNS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path.cwd() / 'runs'


def check_run_id(run_id: Any) -> str:
    """Return `run_id` if it is safe as a folder name.

    Raises:
        InvalidInput: unless it is made of letters, digits, '.', '_' and '-' only, is not '.',
            '..' or the reserved 'latest', and does not start with '.' (hidden / temp files).

    """
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f'run id: expected a non-empty string, got {run_id!r}')
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise InvalidInput(f'run id {run_id!r}: only letters, digits, ".", "_" and "-" are allowed')
    if run_id.startswith('.'):
        raise InvalidInput(f'run id {run_id!r} must not start with "."')
    if run_id == LATEST:
        raise InvalidInput(f'run id {LATEST!r} is reserved for the link to the newest run')
    if len(run_id) > MAX_RUN_ID_LENGTH:
        raise InvalidInput(f'run id is {len(run_id)} characters long; at most {MAX_RUN_ID_LENGTH}')
    return run_id


def new_run_id(task: str, now: datetime | None = None) -> str:
    """Return a fresh id `YYYYmmdd-HHMMSS-<task>-<4 random hex digits>` (task made safe)."""
    now = now or datetime.now()
    safe = _UNSAFE.sub('-', str(task)).strip('.-')[:MAX_TASK_IN_ID].strip('.-') or 'run'
    return f'{now:%Y%m%d-%H%M%S}-{safe}-{secrets.token_hex(2)}'


class RunRecord:
    """The folder of one run: its config snapshot, trial lines, summary and plot."""

    def __init__(self, path: Path, run_id: str, config: dict, count: int) -> None:
        self.path = path
        self.run_id = run_id
        self.config = config
        self._count = count  # trials on disk; kept so that append does not re-read the file
        self._pending: PendingSync | None = None  # the last line's fsync, if still running

    def __repr__(self) -> str:
        return f'RunRecord({str(self.path)!r}, trials={self._count})'

    @property
    def config_path(self) -> Path:
        """Return the path of config.json."""
        return self.path / CONFIG_FILE

    @property
    def trials_path(self) -> Path:
        """Return the path of trials.jsonl."""
        return self.path / TRIALS_FILE

    @property
    def summary_path(self) -> Path:
        """Return the path of summary.json."""
        return self.path / SUMMARY_FILE

    @property
    def plot_path(self) -> Path:
        """Return the path of costs.png."""
        return self.path / PLOT_FILE

    @classmethod
    def create(cls, root: Path | str, config: dict, run_id: str | None = None) -> 'RunRecord':
        """Make a new run folder under `root`, write its config and point `root/latest` to it.

        Without `run_id` a fresh id is made from the time and `config['task']`.

        Raises:
            InvalidInput: if `config` is not a JSON-friendly mapping, `run_id` is not a safe
                folder name or that run already exists.

        """
        if not isinstance(config, Mapping):
            raise InvalidInput(f'run config: expected a mapping, got {type(config).__name__}')
        try:
            dumps(config)  # before anything is made on disk
        except InvalidInput as exc:
            raise InvalidInput(f'run config: {exc}') from None
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        now = datetime.now().astimezone()
        if run_id is not None:
            path = root / check_run_id(run_id)
            try:
                path.mkdir()
            except FileExistsError:
                raise InvalidInput(f'run {path} already exists') from None
        else:
            for _ in range(_CREATE_ATTEMPTS):
                run_id = new_run_id(str(config.get('task', 'run')), now)
                path = root / run_id
                try:
                    path.mkdir()
                    break
                except FileExistsError:
                    continue
            else:
                raise InvalidInput(f'cannot make a new run folder in {root}: every id was taken')
        snapshot = {**config, 'run_id': run_id, 'created': now.isoformat(timespec='seconds')}
        text = dumps(snapshot, indent=1)
        # trials.jsonl first: a folder with a config always has its trials file.
        with (path / TRIALS_FILE).open('xb') as f:
            os.fsync(f.fileno())
        write_atomic(path / CONFIG_FILE, text.encode() + b'\n')
        fsync_dir(root)
        _link_latest(root, run_id)
        return cls(path, run_id, json.loads(text), 0)  # as open() would read it back

    @classmethod
    def open(cls, root: Path | str, run_id: str) -> 'RunRecord':
        """Open an existing run to resume it; `run_id` may be 'latest' (the newest run).

        A half-written last trial line (left by a crash) is dropped from the file.

        Raises:
            InvalidInput: naming the path when the run, its config or its trials file is
                missing or corrupt.

        """
        root = Path(root)
        if run_id == LATEST:
            link = root / LATEST
            try:
                run_id = os.readlink(link)
            except OSError:
                raise InvalidInput(f'no latest run: {link} is not a symlink') from None
        path = root / check_run_id(run_id)
        if not path.is_dir():
            raise InvalidInput(f'no run {path}')
        config_path = path / CONFIG_FILE
        try:
            config = json.loads(config_path.read_bytes())
        except FileNotFoundError:
            raise InvalidInput(f'run {path} has no {CONFIG_FILE}') from None
        except OSError as exc:
            raise InvalidInput(f'cannot read {config_path}: {exc.strerror}') from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise InvalidInput(f'{config_path} is not valid JSON: {exc}') from None
        if not isinstance(config, dict):
            raise InvalidInput(f'{config_path}: expected a JSON object')
        if not (path / TRIALS_FILE).is_file():
            raise InvalidInput(f'run {path} has no {TRIALS_FILE}')
        record = cls(path, run_id, config, 0)
        record.trials()  # validates, repairs a torn last line and sets the count
        return record

    def next_iteration(self) -> int:
        """Return the iteration number of the next trial (the number of trials recorded)."""
        return self._count

    def trials(self) -> list[dict]:
        """Return the trial lines in order, dropping a half-written last line from the file.

        Raises:
            InvalidInput: naming the file and line number of a corrupt line that is not the
                last one, or of a line that is valid JSON but not a valid trial.

        """
        path = self.trials_path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InvalidInput(f'cannot read {path}: {exc.strerror}') from None
        parsed = parse_lines(data, str(path))
        trials = [
            check_trial_line(doc, i, f'{path} line {number}')
            for i, (number, doc) in enumerate(parsed.documents)
        ]
        if parsed.cut_at is not None:  # the last line, torn by a crash
            truncate_synced(path, parsed.cut_at)
        elif parsed.unterminated:  # complete but for its newline: keep it, not to repeat it
            append_synced(path, b'\n')
        self._count = len(trials)
        return trials

    def append(self, trial: Mapping[str, Any], wait: bool = True) -> None:
        """Append one trial line and fsync it; return only once it is on disk.

        `trial` needs `iteration` (the next one: `next_iteration()`) and a finite `cost`;
        every other key is stored as given (numpy arrays become lists). With `wait=False` the
        line is written at once (a crash of this process keeps it) and the fsync finishes in
        a thread (the loop overlaps it with the planner call): the next append, the summary
        and `wait_synced()` wait for it.

        Raises:
            InvalidInput: if the iteration repeats or skips one, the cost is missing or not
                finite, or the trial is not JSON-friendly.
            OSError: the write, or the fsync of the previous line appended with wait=False,
                failed.

        """
        self.wait_synced()
        if not isinstance(trial, Mapping):
            raise InvalidInput(f'trial: expected a mapping, got {type(trial).__name__}')
        line = check_trial_line(trial, self._count, 'trial')
        try:
            data = (dumps(line) + '\n').encode()
        except InvalidInput as exc:
            raise InvalidInput(f'trial {line["iteration"]}: {exc}') from None
        if wait:
            append_synced(self.trials_path, data)
        else:
            self._pending = append_then_sync(self.trials_path, data)
        self._count += 1

    def wait_synced(self) -> None:
        """Return once every appended trial line is on disk (OSError if an fsync failed)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.wait()

    def append_failed(self, trial: Mapping[str, Any]) -> None:
        """Record a trial that ended without a result, with its status; fsynced.

        Failed trials are not part of the history: a resumed run runs that iteration again.
        """
        append_line(self.path / FAILED_FILE, trial)

    def failed_trials(self) -> list[dict]:
        """Return the failed-trial lines (a line torn by a crash is skipped)."""
        return _read_side_lines(self.path / FAILED_FILE)

    def append_failed_step(self, step: Mapping[str, Any]) -> None:
        """Record a planner step that nobody answered (its exchanges in `details`); fsynced."""
        append_line(self.path / FAILED_STEPS_FILE, step)

    def failed_steps(self) -> list[dict]:
        """Return the failed-step lines (a line torn by a crash is skipped)."""
        return _read_side_lines(self.path / FAILED_STEPS_FILE)

    def write_search(self, log: Mapping[str, Any]) -> None:
        """Write search.json: a closed-loop PromptPO run's search log (atomic write)."""
        write_atomic(self.path / SEARCH_FILE, (dumps(log) + '\n').encode())

    def write_summary(
        self, status: str, message: str = '', extra: Mapping[str, Any] | None = None
    ) -> dict:
        """Write summary.json (and costs.png, when there are trials) from the trial lines.

        `status` is the state of the run, e.g. 'running', 'succeeded', 'canceled', 'failed';
        `extra` (JSON-friendly) is added to the summary as given. Return the summary.
        """
        if not isinstance(status, str) or not status:
            raise InvalidInput(f'status: expected a non-empty string, got {status!r}')
        if not isinstance(message, str):
            raise InvalidInput(f'message: expected a string, got {type(message).__name__}')
        self.wait_synced()
        trials = self.trials()
        summary = {
            'run_id': self.run_id,
            **summarise(self.config, trials, status, message, len(self.failed_steps())),
            'created': self.config.get('created'),
            'updated': datetime.now().astimezone().isoformat(timespec='seconds'),
            'max_iterations': self.config.get('max_iterations'),
            'failed_trials': [
                {k: t.get(k) for k in ('iteration', 'trial_id', 'status', 'message')}
                for t in self.failed_trials()
            ],
            **(extra or {}),
        }
        write_atomic(self.summary_path, (dumps(summary, indent=1) + '\n').encode())
        if trials:
            title = f'{summary["task"]} - {summary["improver"]}'
            png = costs_png(summary['costs'], title, self.config.get('tolerance'))
            write_atomic(self.plot_path, png)
        return summary


def _read_side_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for raw in path.read_bytes().splitlines():
        try:
            out.append(json.loads(raw))
        except ValueError:
            continue
    return out


def _link_latest(root: Path, run_id: str) -> None:
    """Point `root/latest` at `run_id` (relative target), replacing any old link atomically."""
    link = root / LATEST
    tmp = root / f'.{LATEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp'
    os.symlink(run_id, tmp)
    try:
        os.replace(tmp, link)
    except OSError as exc:
        with suppress(OSError):
            tmp.unlink()
        raise InvalidInput(f'cannot point {link} at {run_id}: {exc.strerror}') from None
    fsync_dir(root)
