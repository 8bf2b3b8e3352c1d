# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The trials of recorded runs, as `icpi dataset from-runs` and `icpi dataset grow` read them.

A source is a run id under the runs folder (`runs/<id>/trials.jsonl`, read by `RunRecord`;
`latest` is the newest run) or an existing file of run lines written by `icpi improve
--record FILE` (`run_lines.read_run_file`). Either way the result is the run's task and its
trial lines, in order; only trials that ended with a result are there (failed trials are kept
apart by the record).
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from icpi_ros.core.records import RunRecord
from icpi_ros.core.run_lines import read_run_file
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput, as_vector


@dataclass(frozen=True)
class RecordedRun:
    """The trials of one recorded run."""

    name: str  # the run id (`latest` resolved), or the file as it was given
    path: Path  # the file of trial lines read
    task: str
    trials: list[dict]

    def arrays(self, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
        """Return the executed theta and the outcome of every trial, in order.

        Args:
            task: The run's task (the vector lengths are checked against it).

        Returns:
            theta (n, d) and outcome (n, m).

        Raises:
            InvalidInput: naming the run and iteration of a trial whose theta or outcome
                is missing, of the wrong length or not finite.

        """
        theta, outcome = [], []
        for trial in self.trials:
            where = f'{self.name} iteration {trial["iteration"]}'
            theta.append(as_vector(f'{where}: theta', trial.get('theta') or (), task.theta_dim))
            outcome.append(
                as_vector(f'{where}: outcome', trial.get('outcome') or (), task.outcome_dim)
            )
        return (
            np.array(theta, dtype=float).reshape(-1, task.theta_dim),
            np.array(outcome, dtype=float).reshape(-1, task.outcome_dim),
        )


def read_run(source: str, runs_dir: Path | str) -> RecordedRun:
    """Read the trials of one run: a run id under `runs_dir`, or an existing run-lines file.

    Args:
        source: A run id (or `latest`), or the path of an `icpi improve --record` file.
        runs_dir: The folder of the run records.

    Returns:
        The run, with at least one trial.

    Raises:
        InvalidInput: no such run, a corrupt record, a file whose lines name different
            tasks, or a run without trials.

    """
    if Path(source).is_file():  # written by icpi improve --record: the task in each line
        path = Path(source)
        trials, _ = read_run_file(path)
        task = trials[0].get('task') if trials else None
        for trial in trials:
            if trial.get('task') != task:
                raise InvalidInput(
                    f'{source}: iteration {trial["iteration"]} is of task '
                    f'{trial.get("task")!r}, iteration 0 of {task!r}'
                )
        name = source
    else:
        record = RunRecord.open(runs_dir, source)
        path, name, task = record.trials_path, record.run_id, record.config.get('task')
        trials = record.trials()
    if not trials:
        raise InvalidInput(f'run {name} has no trials ({path} holds no trial line)')
    if not isinstance(task, str) or not task:
        raise InvalidInput(f'run {name} names no task')
    return RecordedRun(name, path, task, trials)


def read_runs(
    sources: Sequence[str], runs_dir: Path | str, task: str | None = None
) -> list[RecordedRun]:
    """Read several runs (`read_run`) of one task.

    Args:
        sources: Run ids or run-lines files.
        runs_dir: The folder of the run records.
        task: The task every run must be of; None: whichever task they share.

    Returns:
        The runs (`RecordedRun`), in the order given.

    Raises:
        InvalidInput: as `read_run`, and naming the runs when they are not all of `task`
            (or, without `task`, of one task).

    """
    runs = [read_run(source, runs_dir) for source in sources]
    if task is not None:
        wrong = [f'{run.name} ({run.task})' for run in runs if run.task != task]
        if wrong:
            raise InvalidInput(f'not runs of task {task!r}: {", ".join(wrong)}')
        return runs
    by_task: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        by_task[run.task].append(run.name)
    if len(by_task) > 1:
        listed = '; '.join(f'{name}: {", ".join(names)}' for name, names in by_task.items())
        raise InvalidInput(f'the runs are of different tasks ({listed}); give one task at a time')
    return runs
