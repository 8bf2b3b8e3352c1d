# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The kinds of row of the benchmarks page and how each fills its cells.

Every row has a `what` and `cells(system, methods)`: the target, the measured value, whether
the target was met (None: no verdict) and the command that measures it. A `SystemRow` reads
a result of bench_results.json, a `ManualRow` gives figures recorded by hand, an
`OfflineRow` and the `BaselineRow` read the method comparison (bench_methods.json).
"""

from collections.abc import Mapping
from dataclasses import dataclass

from icpi_ros.core.bench.methods import OFFLINE_METHODS
from icpi_ros.core.bench.report.formatting import format_mm
from icpi_ros.core.bench.report.measures import Limit, Reading, timing
from icpi_ros.core.bench.results import Selection
from icpi_ros.core.improvers import OFFLINE_DEFAULT

SYSTEM_JSON = 'docs/bench_results.json'
METHODS_JSON = 'docs/bench_methods.json'
LLM_JSON = 'docs/bench_llm.json'
NOT_MEASURED = 'not measured yet'
# Full-size comparison: what the DESIGN target on the offline default asks for.
TARGET_GOALS = 10
TARGET_ITERATIONS = 20

Cells = tuple[str, str, bool | None, str]


def bench_command(key: str, options: str = '') -> str:
    """Return the command that measures one system figure.

    Args:
        key: the result's name in bench_results.json.
        options: what scripts/bench.py needs besides --only and --json.

    Returns:
        The command, in backticks.
    """
    parts = ['python scripts/bench.py', options, f'--only {key}', f'--json {SYSTEM_JSON}']
    return '`' + ' '.join(part for part in parts if part) + '`'


@dataclass(frozen=True)
class SystemRow:
    """One figure of bench_results.json: which result, how it reads, its target."""

    what: str
    key: str
    limit: Limit | None = None
    reads: Reading = timing
    # Where the target's value lives, if not at the top of the result ('wall_s' for demo).
    within: str = ''
    bench_options: str = ''  # what scripts/bench.py needs besides --only and --json

    def cells(self, system: Mapping, methods: Selection | None) -> Cells:
        """Return target, measured, met and command for this row."""
        target = self.limit.text() if self.limit else '—'
        command = bench_command(self.key, self.bench_options)
        result = system.get(self.key)
        if not isinstance(result, dict):
            return target, NOT_MEASURED, None, command
        try:
            measured = self.reads(result, self.limit)
            met = None
            if self.limit:
                source = result[self.within] if self.within else result
                met = self.limit.met(float(source[self.limit.stat]))
        except (KeyError, TypeError, ValueError) as exc:
            return target, f'unreadable result ({exc})', None, command
        if result.get('note'):
            measured += f' — {result["note"]}'
        return target, measured, met, command


@dataclass(frozen=True)
class ManualRow:
    """A figure recorded by hand (no benchmark measures it yet), with its date."""

    what: str
    target: str
    measured: str
    met: bool | None
    command: str
    recorded: str = ''  # the date it was recorded; empty: a standing fact (a unit test)

    def cells(self, system: Mapping, methods: Selection | None) -> Cells:
        """Return target, measured, met and command for this row."""
        measured = self.measured + (f'; recorded by hand {self.recorded}' if self.recorded else '')
        return self.target, measured, self.met, self.command


@dataclass(frozen=True)
class OfflineRow:
    """The DESIGN target on the offline default's final cost, read from the methods results."""

    task: str
    limit_m: float

    @property
    def what(self) -> str:
        """Return the row's description."""
        return (
            f'offline default (`{OFFLINE_DEFAULT}`), final cost after {TARGET_ITERATIONS} '
            f'iterations, {self.task}, mean over ≥ {TARGET_GOALS} goals'
        )

    def cells(self, system: Mapping, methods: Selection | None) -> Cells:
        """Return target, measured, met and command for this row."""
        target = f'mean ≤ {self.limit_m * 100:g} cm'
        command = (
            f'`icpi bench --tasks {self.task} --methods {OFFLINE_DEFAULT} '
            f'--goals {TARGET_GOALS} --iterations {TARGET_ITERATIONS} --no-ablations`'
        )
        entry = methods.get(self.task, OFFLINE_DEFAULT) if methods else None
        if not entry or 'final' not in entry:
            return target, NOT_MEASURED, None, command
        final = entry['final']
        measured = (
            f'mean **{format_mm(final["mean"])}** ± {format_mm(final["std"])} (median '
            f'{format_mm(final["median"])}, max {format_mm(final["max"])}); mean best '
            f'{format_mm(entry["best"]["mean"])}; n = {entry["n"]} goals'
        )
        if entry['n'] < TARGET_GOALS or entry['iterations'] != TARGET_ITERATIONS:
            return target, measured + ' (not a full-size run)', None, command
        return target, measured, final['mean'] <= self.limit_m, command


def offline_losses(methods: Selection) -> list[tuple[str, str, dict, dict]]:
    """Return where another non-LLM method has a lower mean final cost than the default.

    Args:
        methods: the aggregates of the method comparison.

    Returns:
        (task, method, its aggregate, the offline default's) for every such method.
    """
    losses = []
    for task in methods.tasks():
        mine = methods.get(task, OFFLINE_DEFAULT)
        if not mine or 'final' not in mine:
            continue
        for other in OFFLINE_METHODS:
            theirs = methods.get(task, other)
            if other == OFFLINE_DEFAULT or not theirs or 'final' not in theirs:
                continue
            if mine['final']['mean'] > theirs['final']['mean']:
                losses.append((task, other, theirs, mine))
    return losses


def cost_difference(mine: Mapping, theirs: Mapping) -> str:
    """Return e.g. `9.09 mm vs 2.17 mm (+6.92 mm, 4.2×)` for two mean final costs."""
    own, other = mine['final']['mean'], theirs['final']['mean']
    ratio = f', {own / other:.1f}×' if other > 0 else ''
    return f'{format_mm(own)} vs {format_mm(other)} (+{format_mm(own - other)}{ratio})'


def _loss_text(task: str, other: str, theirs: Mapping, mine: Mapping) -> str:
    return f'{task}: `{OFFLINE_DEFAULT}` vs `{other}`: {cost_difference(mine, theirs)}'


@dataclass(frozen=True)
class BaselineRow:
    """The issue's requirement: the offline default is not worse than a non-LLM baseline."""

    what: str = (
        f'offline default (`{OFFLINE_DEFAULT}`) not worse than any other non-LLM method on any '
        'task (mean final cost)'
    )

    def cells(self, system: Mapping, methods: Selection | None) -> Cells:
        """Return target, measured, met and command for this row."""
        target = 'lowest mean on every task'
        command = '`icpi bench --no-ablations`'
        if methods is None or not methods.tasks():
            return target, NOT_MEASURED, None, command
        losses = offline_losses(methods)
        measured = (
            '; '.join(_loss_text(*loss) for loss in losses)
            if losses
            else f'lowest on all {len(methods.tasks())} tasks run'
        )
        config = methods.config
        if config.get('goals', 0) < TARGET_GOALS or config.get('iterations') != TARGET_ITERATIONS:
            return target, measured + ' (not a full-size run)', None, command
        return target, measured, not losses, command


Row = SystemRow | ManualRow | OfflineRow | BaselineRow
