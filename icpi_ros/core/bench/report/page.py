# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""docs/benchmarks.md from the results: DESIGN targets, methods, ablations, system figures.

The page is generated, never edited by hand. Inputs are the system figures of
`scripts/bench.py` (`bench_results.json`: one summary per benchmark name), the method
comparison of `icpi bench` (`bench_methods.json`) and its LLM methods against a real model
(`bench_llm.json`). The rows and where they appear are data (catalogue.yaml), the prose a
template (notes.md). A figure without a result says "not measured yet"; a result no row
knows about is still listed, under "Other results".
"""

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from icpi_ros.core import plots
from icpi_ros.core.bench.report.ablations import ablations_section
from icpi_ros.core.bench.report.catalogue import (
    Catalogue,
    load_catalogue,
    planner_series,
    result_key,
)
from icpi_ros.core.bench.report.formatting import format_number, markdown_table, verdict
from icpi_ros.core.bench.report.prose import prose
from icpi_ros.core.bench.report.rows import (
    LLM_JSON,
    METHODS_JSON,
    NOT_MEASURED,
    SYSTEM_JSON,
    Row,
)
from icpi_ros.core.bench.report.sections import (
    SECTION_TABLES,
    llm_section,
    methods_section,
    other_results,
)
from icpi_ros.core.bench.results import Selection
from icpi_ros.core.bench.stats import machine_line
from icpi_ros.core.files import write_atomic

HEADER = ['what', 'target', 'measured', 'met?', 'command']


def _row_cells(row: Row, system: Mapping, methods: Selection | None) -> list[str]:
    target, measured, met, command = row.cells(system, methods)
    return [row.what, target, measured, verdict(met) if measured != NOT_MEASURED else '—', command]


def _dates(system: Mapping, row_ids: Iterable[str]) -> str:
    """Return ' (measured D)' or ' (measured D1 to D2)' for the results of some rows."""
    results = [system.get(result_key(row_id)) for row_id in row_ids]
    machine_date = system.get('machine', {}).get('date', '')
    dates = sorted(
        {result.get('date') or machine_date for result in results if isinstance(result, dict)}
        - {''}
    )
    if not dates:
        return ''
    return (
        f' (measured {dates[0]})' if len(dates) == 1 else f' (measured {dates[0]} to {dates[-1]})'
    )


def _targets(catalogue: Catalogue, system: Mapping, methods: Selection | None) -> list[str]:
    """Return the table of the design's targets and the tally of met, missed and open ones."""
    rows = catalogue.all_rows(system)
    tallies = {'met': 0, '**missed**': 0, 'open': 0}
    table = []
    for target in catalogue.design_targets:
        for index, row_id in enumerate(catalogue.expand(target.rows, system)):
            cells = _row_cells(rows[row_id], system, methods)
            tallies[cells[3] if cells[3] in tallies else 'open'] += 1
            table.append([target.requirement if index == 0 else '〃', *cells])
    tally = (
        f'{tallies["met"]} met, {tallies["**missed**"]} missed, {tallies["open"]} not measured '
        'at full size yet.'
    )
    return [*markdown_table(['requirement', *HEADER], table), '', tally, '']


def _index_build(system: Mapping, catalogue: Catalogue) -> str:
    """Return the planner notes' clause on building the largest dataset's k-d tree, or ''."""
    result = system.get(catalogue.planner_index_build)
    if not isinstance(result, dict) or 'index_build_s' not in result:
        return ''
    return f'; building its k-d tree: {format_number(result["index_build_s"])} s'


def _system_sections(
    catalogue: Catalogue,
    system: Mapping,
    methods: Selection | None,
    images: Mapping[str, str],
) -> list[str]:
    """Return the sections of system figures, and the results no row reads."""
    rows = catalogue.all_rows(system)
    out: list[str] = []
    known: set[str] = set()
    for section in catalogue.sections:
        row_ids = catalogue.expand(section.rows, system)
        known |= {result_key(row_id) for row_id in row_ids}
        out += [f'## {section.title}{_dates(system, row_ids)}', '']
        cells = [_row_cells(rows[row_id], system, methods) for row_id in row_ids]
        out += markdown_table(HEADER, cells)
        out.append('')
        if section.table:
            out += SECTION_TABLES[section.table](system, catalogue)
        if section.figure and images.get(section.figure):
            out += [f'![{catalogue.figures[section.figure].alt}]({images[section.figure]})', '']
        if section.notes:
            out.append(prose(section.notes, index_build=_index_build(system, catalogue)))
    return out + other_results(system, known)


def render(
    system: Mapping,
    methods_doc: dict | None,
    images: Mapping[str, str] | None = None,
    llm_doc: dict | None = None,
) -> str:
    """Return the benchmarks page.

    Args:
        system: bench_results.json (empty: nothing measured).
        methods_doc: bench_methods.json, or None.
        images: figure name (a key of the catalogue's figures) -> path relative to the page.
        llm_doc: bench_llm.json, or None.

    Returns:
        The Markdown page.
    """
    catalogue = load_catalogue()
    images = images or {}
    methods = Selection(methods_doc) if methods_doc else None
    out = [
        prose('header'),
        prose('intro', system_json=SYSTEM_JSON, methods_json=METHODS_JSON),
    ]
    if 'machine' in system:
        out += [f'System figures: {machine_line(system["machine"])}.']
    if methods:
        out += [f'Methods: {machine_line(methods.document["machine"])}.']
    out += ['', '## Targets', '', prose('targets_intro')]
    out += _targets(catalogue, system, methods)
    out += methods_section(methods, images.get('curves', ''), catalogue)
    out += llm_section(Selection(llm_doc) if llm_doc else None)
    out += ablations_section(methods, images, catalogue)
    out += ['## Reported in the paper (not measured here)', '', prose('paper')]
    out += _system_sections(catalogue, system, methods, images)
    return '\n'.join(out).rstrip() + '\n'


def write_report(
    out: Path | str,
    system_json: Path | str | None,
    methods_json: Path | str | None,
    img_dir: Path | str | None = None,
    llm_json: Path | str | None = None,
) -> Path:
    """Draw the figures and write the benchmarks page.

    Args:
        out: the page to write.
        system_json: bench_results.json (missing: nothing measured).
        methods_json: bench_methods.json (missing: no method comparison).
        img_dir: where the figures go (default: img/ next to `out`).
        llm_json: the LLM methods' runs against a real model (default: bench_llm.json next
            to `out`).

    Returns:
        The page's path.
    """
    out = Path(out)
    catalogue = load_catalogue()
    img_dir = Path(img_dir) if img_dir else out.parent / 'img'
    system = _load(system_json) or {}
    methods_doc = _load(methods_json)
    drawn = {
        'planner': plots.planner_latency_png(planner_series(system), catalogue.planner_targets())
    }
    if methods_doc:
        selection = Selection(methods_doc)
        drawn['curves'] = plots.curves_png(selection)
        drawn['size'] = plots.size_ablation_png(selection)
        drawn['encoding'] = plots.encoding_ablation_png(selection)
    images: dict[str, str] = {}
    for name, png in drawn.items():
        if png is not None:
            path = _write_figure(img_dir / catalogue.figures[name].file, png)
            images[name] = Path(os.path.relpath(path, out.parent)).as_posix()
    llm_doc = _load(llm_json if llm_json else out.parent / Path(LLM_JSON).name)
    out.write_text(render(system, methods_doc, images, llm_doc))
    return out


def _write_figure(path: Path, png: bytes) -> Path:
    """Write a figure atomically (`files.write_atomic`); return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, png)


def _load(path: Path | str | None) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text())
