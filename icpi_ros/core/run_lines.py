# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The run-line format: one JSON line per trial, and the summary of a run's lines.

The graph's improvement loop writes these lines to `runs/<id>/trials.jsonl` (`RunRecord`),
`icpi improve --record FILE` writes the same lines (plus `theta_next`) and a `planner_failed`
line for a step nobody answered; `icpi dataset from-runs` reads either. A trial line holds:
`iteration`, `trial_id`, `task`, `theta_requested`, `theta`, `goal`, `outcome`, `error`,
`cost`, `status_message`, `start_s` / `end_s` (the trial window on the robot's or the
simulator's clock), `timing` (seconds), `trajectory` (stamps, points, valid, coverage),
`improver` and `planner` (the details of the planner step that produced theta: prompt,
exchanges, ...), a closed-loop trial's `closed_loop`. Lines are strict JSON: no NaN or infinity.
"""

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from icpi_ros.core.files import append_synced
from icpi_ros.core.validation import InvalidInput

if TYPE_CHECKING:
    from icpi_ros.core.loop import Iteration
    from icpi_ros.core.sim.simulator import TrialRecord

SUCCEEDED = 'NONE'  # the status of a trial that gave its result (ExecuteTrial.Result.NONE)
PLANNER_FAILED = 'planner_failed'  # the status of a failed-step line (loop.FailedStep)
# What a closed-loop trial on the graph reports besides its outcome (TrialResult's fields);
# `icpi improve --record` writes the fast path's episode summary instead.
CLOSED_LOOP_KEYS = (
    'control_steps',
    'missed_deadlines',
    'safety_events',
    'effort',
    'step_wall_max_s',
)


@dataclass(frozen=True)
class ObjectPath:
    """The object's trajectory during a trial window, in the table frame."""

    stamps: Sequence[float] = ()  # s, capture time of each frame
    points: Sequence[Sequence[float]] = ()  # (x, y, z) m; undefined where not valid
    valid: Sequence[bool] = ()  # False where the object was not seen
    coverage: float = 0.0  # fraction of frames in which the object was seen


@dataclass(frozen=True)
class ExecutedTrial:
    """One trial as its executor reported it, in plain values (a graph TrialResult, a sim trial)."""

    trial_id: str
    task: str
    theta_requested: Sequence[float]
    theta: Sequence[float]  # as executed, clipped to the bounds
    goal: Sequence[float]
    outcome: Sequence[float]
    error: Sequence[float]  # outcome - goal
    cost: float
    status: str = SUCCEEDED  # else the name of the ExecuteTrial error code
    status_message: str = ''
    start_s: float | None = None  # the trial window on the robot's (or simulator's) clock
    end_s: float | None = None
    wall_s: float = 0.0  # wall-clock seconds of the whole trial
    reset_s: float = 0.0  # ... spent waiting for the scene reset
    window_s: float = 0.0  # ... while the trial window passed on the robot's clock
    tracker_s: float = 0.0  # ... waiting for the tracker to finish the window
    path: ObjectPath = field(default_factory=ObjectPath)
    closed_loop: Mapping[str, Any] = field(default_factory=dict)  # closed loop: its figures

    @classmethod
    def from_sim(cls, record: 'TrialRecord', trial_id: str) -> 'ExecutedTrial':
        """Return a fast-path sim trial (`TrialRunner.run`) as an executed trial.

        Args:
            record: The simulated trial, scored on ground truth.
            trial_id: The id to record it under.

        Returns:
            The trial; its path is the ground-truth trajectory (every frame valid), its window
            the simulator's clock from the reset.

        """
        times = [float(t) for t in record.times]
        return cls(
            trial_id=trial_id,
            task=record.task,
            theta_requested=record.theta.tolist(),  # the loop sends clipped thetas only
            theta=record.theta.tolist(),
            goal=record.goal.tolist(),
            outcome=record.outcome.tolist(),
            error=record.error.tolist(),
            cost=float(record.cost),
            start_s=times[0] if times else None,
            end_s=times[-1] if times else None,
            wall_s=record.wall_s,
            path=ObjectPath(times, record.object_positions.tolist(), [True] * len(times), 1.0),
            closed_loop=dict(record.closed_loop),
        )


def trial_timing(
    trial: ExecutedTrial, cycle_s: float, planner: tuple[float, float] | None
) -> dict[str, float]:
    """Return where one iteration's wall-clock time went, and the ROS overhead that remains.

    `cycle_s` runs from the previous trial's record to this one's: the planner call that
    produced this theta, feedback, the ExecuteTrial goal and its result. The overhead is what
    is left after the trial window on the robot's clock (motion, physics, rendering), the wait
    for the tracker and the planner's own compute (an LLM call): action and service round
    trips, the scene reset, messages, the record write.

    Args:
        trial: The trial, with its wall-clock breakdown.
        cycle_s: Wall-clock seconds from the previous trial's record to this one's.
        planner: The planner call's round trip and its own compute time (s), if one ran.

    Returns:
        The `timing` object of a trial line (seconds, rounded to 10 µs).

    """
    call_s, compute_s = planner or (0.0, 0.0)
    overhead = cycle_s - trial.window_s - trial.tracker_s - compute_s
    return {
        'cycle_s': round(cycle_s, 5),
        'trial_s': round(trial.wall_s, 5),
        'reset_s': round(trial.reset_s, 5),
        'window_s': round(trial.window_s, 5),
        'tracker_s': round(trial.tracker_s, 5),
        'planner_call_s': round(call_s, 5),
        'planner_compute_s': round(compute_s, 5),
        'overhead_s': round(overhead, 5),
    }


def trial_line(
    trial: ExecutedTrial, iteration: 'Iteration', timing: Mapping[str, float] | None = None
) -> dict:
    """Return one line of trials.jsonl: the trial, and the planner step that produced its theta.

    Args:
        trial: The trial as its executor reported it.
        iteration: The loop's iteration of that trial (number, improver, planner details).
        timing: Where the iteration's time went (`trial_timing`); empty if not given.

    Returns:
        The line, JSON-friendly (`RunRecord.append` checks and writes it).

    """
    path = trial.path
    return {
        'iteration': iteration.iteration,
        'trial_id': trial.trial_id,
        'task': trial.task,
        **_vectors(trial, 'theta_requested', 'theta', 'goal', 'outcome', 'error'),
        'cost': float(trial.cost),
        'status_message': trial.status_message,
        'start_s': trial.start_s,
        'end_s': trial.end_s,
        'timing': dict(timing or {}),
        'trajectory': {
            'stamps': [round(t, 4) for t in path.stamps],
            'points': [[round(v, 5) for v in point] for point in path.points],
            'valid': [bool(v) for v in path.valid],
            'coverage': path.coverage,
        },
        'improver': iteration.improver,
        'planner': iteration.details,
        **({'closed_loop': dict(trial.closed_loop)} if trial.closed_loop else {}),
    }


def failed_trial_line(trial: ExecutedTrial, iteration: int) -> dict:
    """Return one line of failed_trials.jsonl: a trial that ended without a result, and why.

    Args:
        trial: The trial as its executor reported it (its status says how it ended).
        iteration: The iteration it was to be; a resumed run runs that iteration again.

    Returns:
        The line, JSON-friendly.

    """
    return {
        'iteration': iteration,
        'trial_id': trial.trial_id,
        'status': trial.status,
        'message': trial.status_message,
        **_vectors(trial, 'theta_requested', 'theta', 'goal'),
        'trial_s': round(trial.wall_s, 4),
    }


def _vectors(trial: ExecutedTrial, *names: str) -> dict[str, list[float]]:
    """Return the trial's vectors `names` as lists of floats, by name, in that order."""
    return {name: [float(v) for v in getattr(trial, name)] for name in names}


def iteration_line(trial: ExecutedTrial, iteration: int, improver: str) -> str:
    """Return one trial in one line, as the Improve result's `history` lists it."""

    def vec(values: Sequence[float]) -> str:
        return '[' + ', '.join(f'{v:.4f}' for v in values) + ']'

    status = 'OK' if trial.status == SUCCEEDED else trial.status
    return (
        f'{iteration}: {trial.trial_id} theta {vec(trial.theta)} outcome {vec(trial.outcome)} '
        f'cost {trial.cost:.5f} {status}' + (f' by {improver}' if improver else '')
    )


def summarise(
    config: Mapping[str, Any],
    trials: Sequence[Mapping[str, Any]],
    status: str,
    message: str = '',
    failed_steps: int = 0,
) -> dict:
    """Return the summary of a run from its config and trial lines (best: first lowest cost).

    Args:
        config: The run's settings; `task`, `improver` and `goal` are read.
        trials: The trial lines in order; `iteration`, `cost`, `theta`, `improver` and
            `planner` are read.
        status: The state of the run, e.g. 'running', 'succeeded', 'canceled', 'failed'.
        message: Why it ended so, if it did not succeed.
        failed_steps: The planner steps nobody answered.

    Returns:
        task, improver, goal, status, message, iterations, costs, final_cost, best_cost,
        best_iteration, best_theta (None without trials) and the step counts (`step_counts`:
        who answered the planner steps).

    """
    from icpi_ros.core.planning import step_counts  # the improvers' imports: only when needed

    costs = [float(t['cost']) for t in trials]
    best = min(range(len(costs)), key=costs.__getitem__) if costs else None
    return {
        'task': config.get('task'),
        'improver': config.get('improver'),
        'goal': config.get('goal'),
        'status': status,
        'message': message,
        'iterations': len(trials),
        'costs': costs,
        'final_cost': costs[-1] if costs else None,
        'best_cost': None if best is None else costs[best],
        'best_iteration': None if best is None else trials[best]['iteration'],
        'best_theta': None if best is None else trials[best].get('theta'),
        **step_counts(
            ((t.get('improver', ''), t.get('planner') or {}) for t in trials), failed_steps
        ),
    }


@dataclass(frozen=True)
class ParsedLines:
    """The JSON lines of a line file, and the repair a torn end needs."""

    documents: list[tuple[int, Any]]  # (line number, document), in order
    cut_at: int | None  # where a line torn by a crash starts (cut the file there), if any
    unterminated: bool  # the last document is complete but for its newline


def parse_lines(data: bytes, where: str) -> ParsedLines:
    """Parse the JSON lines of a file; a line torn by a crash at its end is left out.

    Args:
        data: The file's bytes.
        where: The file, for error messages.

    Returns:
        The documents, and where the torn last line starts (if any).

    Raises:
        InvalidInput: naming the line of a corrupt line that is not the last one.

    """
    lines = data.split(b'\n')
    tail = lines.pop()  # bytes after the last newline: empty unless a write was cut short
    end = len(data) - len(tail)  # offset just past the last complete line
    documents: list[tuple[int, Any]] = []
    for number, raw in enumerate(lines, start=1):
        try:
            documents.append((number, json.loads(raw)))
        except ValueError as exc:
            if number == len(lines) and not tail:  # the last line: torn by a crash
                return ParsedLines(documents, end - len(raw) - 1, False)
            raise InvalidInput(f'{where} line {number} is not valid JSON: {exc}') from None
    if tail:
        try:
            documents.append((len(lines) + 1, json.loads(tail)))
        except ValueError:
            return ParsedLines(documents, end, False)
        return ParsedLines(documents, None, True)
    return ParsedLines(documents, None, False)


def read_run_file(path: Path | str) -> tuple[list[dict], list[dict]]:
    """Read a file of run lines, as `icpi improve --record` writes it (or a trials.jsonl).

    A line torn by a crash at the end is left out; the file is not changed.

    Args:
        path: The file.

    Returns:
        The trial lines (checked: iterations in order, finite costs) and the failed-step
        lines (`status` 'planner_failed').

    Raises:
        InvalidInput: naming the file and line of a corrupt or invalid line, or the file
            when it cannot be read.

    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f'cannot read {path}: {exc.strerror}') from None
    trials: list[dict] = []
    failed: list[dict] = []
    for number, doc in parse_lines(data, str(path)).documents:
        if isinstance(doc, Mapping) and doc.get('status') == PLANNER_FAILED:
            failed.append(dict(doc))
        else:
            trials.append(check_trial_line(doc, len(trials), f'{path} line {number}'))
    return trials, failed


def check_trial_line(trial: Any, expected: int, where: str) -> dict:
    """Return a copy of a trial line with an int iteration and a float cost, checked.

    Args:
        trial: The line.
        expected: The iteration it must have (the number of trials before it).
        where: The line, for error messages.

    Returns:
        The copy.

    Raises:
        InvalidInput: naming `where` if the line is not an object, its iteration repeats or
            skips one, or its cost is missing or not finite.

    """
    if not isinstance(trial, Mapping):
        raise InvalidInput(f'{where}: expected a JSON object, got {type(trial).__name__}')
    iteration = trial.get('iteration')
    if not isinstance(iteration, numbers.Integral) or isinstance(iteration, bool):
        raise InvalidInput(f'{where}: iteration must be an integer, got {iteration!r}')
    if iteration != expected:
        what = 'repeats' if iteration < expected else 'skips'
        raise InvalidInput(
            f'{where}: iteration {iteration} {what} a trial; the next one is {expected}'
        )
    cost = trial.get('cost')
    if not isinstance(cost, numbers.Real) or isinstance(cost, bool) or not math.isfinite(cost):
        raise InvalidInput(f'{where}: cost must be a finite number, got {cost!r}')
    return {**trial, 'iteration': int(iteration), 'cost': float(cost)}


def append_line(path: Path | str, doc: Mapping[str, Any]) -> None:
    """Append `doc` to a line file as one strict-JSON line, fsynced; make the file if missing.

    Raises:
        InvalidInput: if `doc` is not JSON-friendly (nothing is written).
        OSError: the write failed (the file is cut back: no half line).

    """
    data = (dumps(dict(doc)) + '\n').encode()
    Path(path).touch(exist_ok=True)
    append_synced(path, data)


def _json_default(obj: Any) -> Any:
    """Turn numpy arrays and scalars into lists and numbers for json.dumps."""
    if hasattr(obj, 'tolist'):
        return obj.tolist()
    raise TypeError(f'{type(obj).__name__} is not JSON-friendly')


def dumps(doc: Any, indent: int | None = None) -> str:
    """Return strict JSON (no NaN or infinity) on one line unless `indent` is given.

    Raises:
        InvalidInput: if `doc` holds a non-finite number or a value JSON cannot hold.

    """
    try:
        return json.dumps(
            doc, indent=indent, allow_nan=False, ensure_ascii=False, default=_json_default
        )
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f'not JSON-friendly: {exc}') from None
