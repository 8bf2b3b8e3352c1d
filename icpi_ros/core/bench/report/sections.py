# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The sections of the page that read the method comparison, and the further tables.

The ablations have their own module (`ablations`).

Each function returns the section's lines (joined with newlines by the page).
"""

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from icpi_ros.core.bench.methods import OFFLINE_METHODS, success_threshold
from icpi_ros.core.bench.report.formatting import (
    format_mm,
    format_number,
    format_percent,
    markdown_table,
)
from icpi_ros.core.bench.report.measures import timing
from icpi_ros.core.bench.report.prose import prose
from icpi_ros.core.bench.report.rows import (
    LLM_JSON,
    METHODS_JSON,
    bench_command,
    cost_difference,
    offline_losses,
)
from icpi_ros.core.bench.results import Selection
from icpi_ros.core.bench.stats import machine_line
from icpi_ros.core.improvers import OFFLINE_DEFAULT

if TYPE_CHECKING:
    from icpi_ros.core.bench.report.catalogue import Catalogue


def _versus(mine: Mapping, theirs: Mapping, measure: str) -> str:
    """Return e.g. `2.6 mm vs 0.4 mm`: one mean of the offline default's and another's."""
    own, other = mine.get(measure), theirs.get(measure)
    if not own or not other:
        return '— vs —'
    return f'{format_mm(own["mean"])} vs {format_mm(other["mean"])}'


def compare_offline_default(methods: Selection) -> list[str]:
    """Say, per task, whether the offline default is worse than a non-LLM baseline, by how much.

    Args:
        methods: the aggregates of the method comparison.

    Returns:
        A line per task and method that beats the offline default on mean final cost (the
        difference, and its medians, last five trials and success beside), then a line
        naming the tasks where it is the lowest and the methods it was compared with.
    """
    losses = offline_losses(methods)
    lines = [
        f'- **{task}: `{OFFLINE_DEFAULT}` is worse than `{other}`**: mean final cost '
        f'{cost_difference(mine, theirs)}; medians {format_mm(mine["final"]["median"])} vs '
        f'{format_mm(theirs["final"]["median"])}, last five trials '
        f'{_versus(mine, theirs, "last_five")}, success '
        f'{format_percent(mine["success_rate"])} vs {format_percent(theirs["success_rate"])}.'
        for task, other, theirs, mine in losses
    ]
    tasks = methods.tasks()
    if not tasks:
        return lines
    others = [method for method in OFFLINE_METHODS if method != OFFLINE_DEFAULT]
    compared = [m for m in others if any(methods.get(task, m) for task in tasks)]
    missing = [m for m in others if m not in compared]
    lowest = [task for task in tasks if task not in {loss[0] for loss in losses}]
    where = 'every task run' if len(lowest) == len(tasks) else ', '.join(lowest)
    against = ', '.join(f'`{method}`' for method in compared) or 'no other method'
    not_run = f'; not run: {", ".join(f"`{m}`" for m in missing)}' if missing else ''
    if lowest:
        lines.append(
            f'- `{OFFLINE_DEFAULT}` (the offline default) has the lowest mean final cost of '
            f'the non-LLM methods on {where} (compared with {against}{not_run}).'
        )
    else:
        lines.append(f'- Compared with {against}{not_run}.')
    return lines


def _measured(results: Selection) -> dict[str, object]:
    """Return what the 'Measured ...' sentence of a results document says about it."""
    doc, config = results.document, results.config
    return {
        'date': doc['machine'].get('date', '?'),
        'machine': machine_line(doc['machine']),
        'goals': config.get('goals'),
        'iterations': config.get('iterations'),
        'runs': len(doc['runs']),
        'wall_s': format_number(doc.get('wall_s', 0)),
        'command': doc.get('command') or 'icpi bench',
    }


def _reach_cell(entry: Mapping) -> str:
    """Return the median trials to the threshold and the share of runs that never got there."""
    reach = entry.get('to_threshold')
    if not reach:
        return '—'
    if reach['median'] is None:
        return 'never'
    trials = format_number(reach['median'])
    never = reach['never_rate']
    return f'{trials} ({format_percent(never)} never)' if never else trials


def _method_header(task: str, iterations: object) -> list[str]:
    """Return the column heads of a task's comparison table."""
    threshold = f'{success_threshold(task) * 100:g} cm'
    return [
        'method',
        f'final cost after {iterations} iterations, mean ± std',
        'median / max',
        'last five trials, mean',
        'best so far, mean (final − best)',
        f'success (≤ {threshold})',
        f'trials to ≤ {threshold}: median (never)',
        'runs',
    ]


def _method_row(method: str, entry: Mapping) -> list[str]:
    """Return one method's cells of a task's comparison table (`_method_header`)."""
    if 'final' not in entry:
        return [f'`{method}`', f'failed: {"; ".join(entry.get("errors", []))}'] + [''] * 6
    final, best = entry['final'], entry['best']
    failed = f' ({entry["failed"]} failed)' if entry['failed'] else ''
    last = entry.get('last_five')
    return [
        f'`{method}`' + (' (offline default)' if method == OFFLINE_DEFAULT else ''),
        f'**{format_mm(final["mean"])}** ± {format_mm(final["std"])}',
        f'{format_mm(final["median"])} / {format_mm(final["max"])}',
        format_mm(last['mean']) if last else '—',
        f'{format_mm(best["mean"])} (+{format_mm(final["mean"] - best["mean"])})',
        format_percent(entry['success_rate']),
        _reach_cell(entry),
        f'{entry["n"]}{failed}',
    ]


def methods_section(methods: Selection | None, image: str, catalogue: 'Catalogue') -> list[str]:
    """Return the method comparison: per-task tables, the verdict, the curves.

    Args:
        methods: the aggregates of bench_methods.json, or None when there is none.
        image: the path of the curves figure relative to the page ('' for none).
        catalogue: the page's catalogue (the figure's text).

    Returns:
        The section's lines.
    """
    out = ['## Methods side by side', '']
    if methods is None:
        return out + [prose('methods_missing', methods_json=METHODS_JSON)]
    doc, config = methods.document, methods.config
    out += [
        prose(
            'methods_measured',
            **_measured(methods),
            workers=config.get('workers') or '?',
            partial='' if doc.get('complete') else ' (interrupted: partial)',
        ),
        prose('methods_intro'),
    ]
    for task in methods.tasks():
        entries = [(method, methods.get(task, method)) for method in methods.methods()]
        rows = [_method_row(method, entry) for method, entry in entries if entry]
        out += [f'### {task}', '']
        out += markdown_table(_method_header(task, config.get('iterations')), rows)
        out.append('')
    out += ['### Is the offline default the best non-LLM method?', '']
    out += compare_offline_default(methods)
    out += ['', prose('methods_history')]
    if image:
        out += [f'![{catalogue.figures["curves"].alt}]({image})', '', prose('curves_caption')]
    return out


def _llm_row(task: str, method: str, entry: Mapping) -> list[str]:
    """Return one LLM method's cells: its costs, who answered its steps, at what cost."""
    answers = entry['answers']
    steps = answers['steps'] + answers['failed_steps']
    final = entry.get('final')
    p50, p99 = answers['latency_p50_s'], answers['latency_p99_s']
    tokens = answers['tokens_per_step']
    return [
        task,
        f'`{method}`',
        f'`{answers["model"]}`',
        f'{format_mm(final["mean"])}' if final else '—',
        f'{format_mm(entry["best"]["mean"])}' if final else '—',
        format_percent(entry.get('success_rate', 0.0)),
        f'{format_percent(answers["model_share"])} '
        f'({format_percent(answers["first_try_share"])} first try, '
        f'{answers["repaired_steps"]} repaired)',
        f'{answers["fallback_steps"]} / {steps}',
        f'{entry["failed"]}',
        '—' if p50 is None else f'{p50 * 1e3:.0f} / {p99 * 1e3:.0f} ms',
        '—' if tokens is None else f'{tokens:.0f}',
    ]


def llm_section(llm: Selection | None) -> list[str]:
    """Return the LLM methods' results: costs, and who answered the steps at what cost.

    Args:
        llm: the aggregates of bench_llm.json (runs against a real model), or None.

    Returns:
        The section's lines.
    """
    out = ['## LLM methods against a real model', '']
    if llm is None:
        return out + [prose('llm_missing', llm_json=LLM_JSON)]
    out.append(prose('llm_measured', **_measured(llm)))
    rows = [
        _llm_row(task, method, entry)
        for task in llm.tasks()
        for method in llm.methods()
        if (entry := llm.get(task, method)) and 'answers' in entry
    ]
    header = [
        'task',
        'method',
        'model',
        'final cost, mean',
        'mean best so far',
        'success',
        'steps answered by the model',
        'fallback steps',
        'failed runs',
        'latency p50 / p99 per answer',
        'tokens per step',
    ]
    return out + markdown_table(header, rows) + ['']


def overhead_breakdown(system: Mapping, catalogue: 'Catalogue') -> list[str]:
    """Median and p99 of each part of an iteration over the graph (the ros_overhead bench)."""
    parts = (system.get('ros_overhead') or {}).get('parts_ms') or {}
    if not parts:
        return []
    rows = [
        [label, *(format_number(parts[key][stat]) for stat in ('median', 'p99', 'max'))]
        for key, label in catalogue.overhead_parts.items()
        if key in parts
    ]
    out = markdown_table(['part of an iteration', 'median ms', 'p99 ms', 'max ms'], rows)
    first = system['ros_overhead'].get('first_iteration_overhead_ms')
    if first:
        shown = ', '.join(format_number(value) for value in first)
        out += ['', f'First iteration of each run: {shown} ms.']
    return [*out, '']


# The further tables a section can have (`table:` in catalogue.yaml).
SECTION_TABLES: dict[str, Callable[[Mapping, 'Catalogue'], list[str]]] = {
    'overhead_breakdown': overhead_breakdown,
}


def other_results(system: Mapping, known: set[str]) -> list[str]:
    """Return the section listing the results no row reads (empty if there are none)."""
    extra = sorted(key for key in system if key not in known and key != 'machine')
    if not extra:
        return []
    rows = []
    for key in extra:
        result = system[key]
        shown = (
            timing(result, None)
            if isinstance(result, dict) and 'median' in result
            else f'`{json.dumps(result)}`'
        )
        rows.append([f'`{key}`', shown, bench_command(key)])
    return ['## Other results', '', *markdown_table(['result', 'measured', 'command'], rows), '']
