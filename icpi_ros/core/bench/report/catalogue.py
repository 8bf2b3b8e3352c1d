# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The page's rows and where they appear, read from the package's catalogue.yaml.

catalogue.yaml holds the data (its header describes the fields): the system rows, the
hand-recorded rows, the planner rows, the targets of the design's table, the sections and
their figures. This module turns it into row objects (`rows.py`) and checks it: a row that
reads with an unknown function, or a list that names an unknown row, is an error on loading.
"""

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import yaml

from icpi_ros.core.bench.methods import SIM_TASKS
from icpi_ros.core.bench.report.measures import READINGS, Limit, timing
from icpi_ros.core.bench.report.prose import block_names
from icpi_ros.core.bench.report.rows import (
    BaselineRow,
    ManualRow,
    OfflineRow,
    Row,
    SystemRow,
)
from icpi_ros.core.bench.report.sections import SECTION_TABLES

CATALOGUE = 'catalogue.yaml'
# Task lists a templated row can name (`each: sim_tasks`) besides a list of its own.
TASK_LISTS = {'sim_tasks': SIM_TASKS}
# The id under which section and target lists name every planner row.
PLANNER_GROUP = 'planner'
PLANNER_KEY = re.compile(r'planner_(?P<improver>\w+?)_(?P<size>\d+)$')
BASELINE = 'baseline'


def result_key(row_id: str) -> str:
    """Return the bench_results.json key a row id refers to (`key:view` -> `key`)."""
    return row_id.split(':')[0]


def planner_key(improver: str, size: int) -> str:
    """Return the bench_results.json key of one planner benchmark (`PLANNER_KEY` reads it)."""
    return f'planner_{improver}_{size}'


def planner_series(system: Mapping) -> dict[str, list[tuple[int, dict]]]:
    """Return the planner-latency results by improver: [(examples, summary)] by size."""
    series: dict[str, list[tuple[int, dict]]] = {}
    for key, value in system.items():
        match = PLANNER_KEY.match(key)
        if match and isinstance(value, dict) and 'median' in value:
            series.setdefault(match['improver'], []).append((int(match['size']), value))
    return {name: sorted(points, key=lambda point: point[0]) for name, points in series.items()}


@dataclass(frozen=True)
class Target:
    """A target of the design's table, as DESIGN words it, and the rows that measure it."""

    requirement: str
    rows: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    """A section of system figures: its rows, then an optional table, figure and notes."""

    title: str
    rows: tuple[str, ...]
    table: str = ''  # a function of sections.SECTION_TABLES
    figure: str = ''  # a name of Catalogue.figures
    notes: str = ''  # a block of notes.md


@dataclass(frozen=True)
class Figure:
    """A figure of the page: its file in img/ and the text it is shown with."""

    file: str
    alt: str


@dataclass(frozen=True)
class Catalogue:
    """Every row of the page and where it appears."""

    rows: Mapping[str, Row]  # by id, without the planner rows (they depend on the results)
    groups: Mapping[str, tuple[str, ...]]  # a templated row's id -> the ids of its rows
    planner_improvers: Mapping[str, str]  # improver -> what its rows measure
    planner_limits: Mapping[int, Limit]  # dataset size -> target
    planner_size_labels: Mapping[int, str]
    planner_index_build: str  # the result whose k-d tree build time the notes give
    design_targets: tuple[Target, ...]
    sections: tuple[Section, ...]
    figures: Mapping[str, Figure]
    overhead_parts: Mapping[str, str]
    encodings: Mapping[str, str]

    def planner_rows(self, system: Mapping) -> list[SystemRow]:
        """Return one row per improver and dataset size, measured or with a target."""
        sizes = set(self.planner_limits) | {
            size for points in planner_series(system).values() for size, _ in points
        }
        rows = []
        for improver, what in self.planner_improvers.items():
            for size in sorted(sizes):
                label = self.planner_size_labels.get(size, f'{size:,}')
                rows.append(
                    SystemRow(
                        f'{what}, {label} examples',
                        planner_key(improver, size),
                        self.planner_limits.get(size),
                    )
                )
        return rows

    def planner_targets(self) -> list[tuple[int, float]]:
        """Return the planner's targets as (dataset size, value) by size."""
        return [(size, limit.value) for size, limit in sorted(self.planner_limits.items())]

    def all_rows(self, system: Mapping) -> dict[str, Row]:
        """Return every row by id, the planner rows of these results included."""
        return {**self.rows, **{row.key: row for row in self.planner_rows(system)}}

    def expand(self, ids: Iterable[str], system: Mapping) -> list[str]:
        """Return the row ids of a section or target list, each group replaced by its rows."""
        groups = {**self.groups, PLANNER_GROUP: [row.key for row in self.planner_rows(system)]}
        return [member for row_id in ids for member in groups.get(row_id, [row_id])]


def _limit(spec: Mapping | None) -> Limit | None:
    if spec is None:
        return None
    return Limit(
        spec['stat'], spec.get('op', '<='), spec['value'], spec['unit'], spec.get('label', '')
    )


def _fill(text: str, task: str | None) -> str:
    """Return a templated row's text for one task (`text` itself for a row without `each`)."""
    return text if task is None else text.replace('{task}', task)


def _tasks(spec_id: str, each: str | list[str] | None) -> list[str | None]:
    """Return the tasks a row is made for: [None] for a row without `each`."""
    if each is None:
        return [None]
    if not isinstance(each, str):
        return list(each)
    if each not in TASK_LISTS:
        raise ValueError(f'{CATALOGUE}: rows.{spec_id}: unknown task list {each!r}')
    return list(TASK_LISTS[each])


def _system_rows(specs: Mapping[str, Mapping]) -> tuple[dict[str, Row], dict[str, tuple]]:
    """Return the system rows by id and the groups of the templated ones."""
    rows: dict[str, Row] = {}
    groups: dict[str, tuple[str, ...]] = {}
    for spec_id, spec in specs.items():
        reading = spec.get('reads', timing.__name__)
        if reading not in READINGS:
            raise ValueError(f'{CATALOGUE}: rows.{spec_id}: unknown reading {reading!r}')
        each = spec.get('each')
        tasks = _tasks(spec_id, each)
        for task in tasks:
            rows[_fill(spec_id, task)] = SystemRow(
                what=_fill(spec['what'], task),
                key=_fill(spec.get('key', result_key(spec_id)), task),
                limit=_limit(spec.get('limit')),
                reads=READINGS[reading],
                within=spec.get('within', ''),
                bench_options=spec.get('bench_options', ''),
            )
        if each is not None:
            groups[spec_id] = tuple(_fill(spec_id, task) for task in tasks)
    return rows, groups


def _manual_row(spec: Mapping) -> ManualRow:
    return ManualRow(
        spec['what'],
        spec['target'],
        spec['measured'],
        spec['met'],
        spec['command'],
        str(spec.get('recorded', '')),
    )


def _check(catalogue: Catalogue) -> None:
    """Raise ValueError if a list names an unknown row or a section an unknown part."""
    lists = [(target.requirement, target.rows) for target in catalogue.design_targets]
    lists += [(section.title, section.rows) for section in catalogue.sections]
    planner_ids = {
        planner_key(improver, size)
        for improver in catalogue.planner_improvers
        for size in catalogue.planner_limits
    }
    known = {*catalogue.rows, *catalogue.groups, *planner_ids, PLANNER_GROUP}
    for where, ids in lists:
        unknown = [row_id for row_id in ids if row_id not in known]
        if unknown:
            raise ValueError(f'{CATALOGUE}: {where!r} names unknown rows {unknown}')
    for section in catalogue.sections:
        for part, value, names in (
            ('table', section.table, SECTION_TABLES),
            ('figure', section.figure, catalogue.figures),
            ('notes', section.notes, block_names()),
        ):
            if value and value not in names:
                raise ValueError(
                    f'{CATALOGUE}: section {section.title!r}: unknown {part} {value!r}'
                )


def parse_catalogue(data: Mapping) -> Catalogue:
    """Return the catalogue described by `data` (catalogue.yaml, loaded).

    Args:
        data: the mapping catalogue.yaml holds.

    Returns:
        The catalogue.

    Raises:
        ValueError: a row reads with an unknown function, a list names an unknown row, or a
            section an unknown table, figure or notes block.
        KeyError: a required field is missing.
    """
    rows, groups = _system_rows(data['rows'])
    rows.update({row_id: _manual_row(spec) for row_id, spec in data['manual_rows'].items()})
    for task, limit_m in data['offline_targets'].items():
        rows[f'offline:{task}'] = OfflineRow(task, limit_m)
    rows[BASELINE] = BaselineRow()
    planner = data['planner']
    catalogue = Catalogue(
        rows=rows,
        groups=groups,
        planner_improvers=dict(planner['improvers']),
        planner_limits={int(size): _limit(spec) for size, spec in planner['targets'].items()},
        planner_size_labels={int(size): str(text) for size, text in planner['size_labels'].items()},
        planner_index_build=planner['index_build'],
        design_targets=tuple(
            Target(target['requirement'], tuple(target['rows']))
            for target in data['design_targets']
        ),
        sections=tuple(
            Section(
                spec['title'],
                tuple(spec['rows']),
                spec.get('table', ''),
                spec.get('figure', ''),
                spec.get('notes', ''),
            )
            for spec in data['sections']
        ),
        figures={name: Figure(spec['file'], spec['alt']) for name, spec in data['figures'].items()},
        overhead_parts=dict(data['overhead_parts']),
        encodings=dict(data['encodings']),
    )
    _check(catalogue)
    return catalogue


@functools.cache
def load_catalogue() -> Catalogue:
    """Return the catalogue of the installed package (read once).

    Returns:
        The catalogue of catalogue.yaml, next to this module.

    Raises:
        ValueError: the file is inconsistent (see `parse_catalogue`).
    """
    text = resources.files(__package__).joinpath(CATALOGUE).read_text(encoding='utf-8')
    return parse_catalogue(yaml.safe_load(text))
