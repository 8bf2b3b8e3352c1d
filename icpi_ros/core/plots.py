# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every figure icpi_ros draws, as PNG bytes; the callers write them where they belong.

The cost curve of a run (`costs_png`: costs.png of the run records) and the benchmark
figures of docs/benchmarks.md (`curves_png`, `size_ablation_png`, `encoding_ablation_png`,
`planner_latency_png`). matplotlib's Figure and Agg canvas, not pyplot: no global backend
switch, no GUI, thread-safe. matplotlib is imported inside the functions: it takes a while to
import, and importing this module must stay cheap (the run records import it).
"""

import io
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from icpi_ros.core.bench.methods import LLM_METHODS, OFFLINE_METHODS, success_threshold
from icpi_ros.core.validation import InvalidInput

if TYPE_CHECKING:
    from icpi_ros.core.bench.results import Selection

BENCH_DPI = 80  # ~ 700 x 500 px: readable on the page, well under 100 KB per figure


def _figure(nrows: int, ncols: int, width: float, height: float, dpi: int = BENCH_DPI):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout='constrained')
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _png(fig) -> bytes:
    """Return the figure as a PNG at its own resolution."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png')
    return buffer.getvalue()


def _small_png(fig) -> bytes:
    """Return the figure as a 128-colour PNG: a third of the size (the figures are committed)."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=BENCH_DPI)
    buffer.seek(0)
    out = io.BytesIO()
    Image.open(buffer).convert('RGB').quantize(colors=128).save(out, format='png', optimize=True)
    return out.getvalue()


def costs_png(costs: Sequence[float], title: str = '', tolerance: Any = None) -> bytes:
    """Plot the cost per iteration of one run.

    The y axis is logarithmic when every cost is positive; the best trial is marked.

    Args:
        costs: the cost of each trial (m), in order.
        title: the figure's title (default: 'cost per iteration').
        tolerance: a positive number draws the run's tolerance as a dashed line.

    Returns:
        The figure as PNG bytes (costs.png of a run record).

    Raises:
        InvalidInput: there are no costs.
    """
    from matplotlib.ticker import MaxNLocator

    if not costs:
        raise InvalidInput('costs: nothing to plot')
    xs = list(range(len(costs)))
    best = min(xs, key=costs.__getitem__)
    fig, axes = _figure(1, 1, 6.4, 4.0, dpi=100)
    ax = axes[0, 0]
    ax.plot(xs, costs, marker='o', label='cost')
    ax.plot(
        [best],
        [costs[best]],
        marker='*',
        markersize=16,
        linestyle='none',
        color='tab:red',
        label=f'best: {costs[best]:.4g} m (iteration {best})',
    )
    if isinstance(tolerance, numbers.Real) and tolerance > 0:
        ax.axhline(float(tolerance), linestyle='--', color='gray', label=f'tolerance {tolerance} m')
    if all(c > 0 for c in costs):
        ax.set_yscale('log')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel('iteration')
    ax.set_ylabel('cost [m]')
    ax.set_title(title or 'cost per iteration')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend()
    return _png(fig)


def _colour(method: str) -> str:
    """Return the same colour for a method in every figure."""
    known = list(OFFLINE_METHODS + LLM_METHODS)
    index = known.index(method) if method in known else len(known) + sum(map(ord, method)) % 4
    return f'C{index % 10}'


def _grid(count: int) -> tuple[int, int]:
    cols = min(2, count)
    return math.ceil(count / cols), cols


def curves_png(selection: 'Selection') -> bytes | None:
    """Plot median cost per iteration (band: quartiles) of every method, one panel per task.

    Args:
        selection: the aggregates of a bench results document.

    Returns:
        The figure as PNG bytes, or None when the document has no task.
    """
    from matplotlib.ticker import MaxNLocator

    tasks = selection.tasks()
    if not tasks:
        return None
    rows, cols = _grid(len(tasks))
    fig, axes = _figure(rows, cols, 4.6 * cols, 3.3 * rows)
    for ax, task in zip(axes.flat, tasks, strict=False):
        threshold = None
        for method in selection.methods():
            entry = selection.get(task, method)
            if not entry or 'curve' not in entry:
                continue
            curve, colour = entry['curve'], _colour(method)
            xs = range(1, len(curve['median']) + 1)
            ax.fill_between(xs, curve['q25'], curve['q75'], color=colour, alpha=0.15, lw=0)
            ax.plot(xs, curve['median'], color=colour, label=method, lw=1.6)
            threshold = entry['threshold_m']
        if threshold:
            ax.axhline(threshold, color='gray', ls='--', lw=1, label=f'{threshold * 100:g} cm')
        ax.set_yscale('log')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f'{task} (n = {selection.config.get("goals", "?")} goals)', fontsize=10)
        ax.set_xlabel('iteration')
        ax.set_ylabel('cost [m]')
        ax.grid(True, alpha=0.3)
    return _panels_png(fig, axes, len(tasks))


def _panels_png(fig, axes, used: int) -> bytes:
    """Hide the panels past `used`, put one legend below them all; return the PNG.

    The first panel's entries make the legend; its threshold line ('... cm') reads
    'success threshold'.
    """
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    labels = ['success threshold' if label.endswith(' cm') else label for label in labels]
    fig.legend(handles, labels, loc='outside lower center', ncols=len(labels), fontsize=8)
    return _small_png(fig)


def size_ablation_png(selection: 'Selection') -> bytes | None:
    """Plot mean final cost against the number of examples, one panel per task.

    Args:
        selection: the aggregates of a bench results document.

    Returns:
        The figure as PNG bytes, or None without a dataset-size ablation of two sizes.
    """
    sizes = sorted(selection.config.get('sizes') or [])
    methods = selection.ablated_methods('error', sizes)
    tasks = selection.tasks()
    if len(sizes) < 2 or not methods:
        return None
    rows, cols = _grid(len(tasks))
    fig, axes = _figure(rows, cols, 4.2 * cols, 3.0 * rows)
    for ax, task in zip(axes.flat, tasks, strict=False):
        for method in methods:
            keys = [selection.size_key(task, s) for s in sizes]
            points = [selection.get(task, method, 'error', key) for key in keys]
            points = [p for p in points if p and 'final' in p]
            if points:
                ax.plot(
                    [p['examples'] for p in points],
                    [p['final']['mean'] for p in points],
                    marker='o',
                    color=_colour(method),
                    label=method,
                )
        ax.axhline(success_threshold(task), color='gray', ls='--', lw=1)
        ax.set_xscale('log')
        ax.set_yscale('log')
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_title(task, fontsize=10)
        ax.set_xlabel('examples in the dataset')
        ax.set_ylabel('mean final cost [m]')
        ax.grid(True, alpha=0.3)
    return _panels_png(fig, axes, len(tasks))


def encoding_ablation_png(selection: 'Selection') -> bytes | None:
    """Plot mean final cost per task for each method with the error and the raw encoding.

    Args:
        selection: the aggregates of a bench results document.

    Returns:
        The figure as PNG bytes, or None without an encoding ablation.
    """
    encodings = list(selection.config.get('encodings') or [])
    methods = selection.ablated_methods('raw', [0])
    tasks = selection.tasks()
    if len(encodings) < 2 or not methods:
        return None
    fig, axes = _figure(1, 1, 7.5, 3.4)
    ax = axes[0, 0]
    bars = [(m, e) for m in methods for e in encodings]
    width = 0.8 / len(bars)
    for i, (method, encoding) in enumerate(bars):
        xs, ys = [], []
        for j, task in enumerate(tasks):
            entry = selection.get(task, method, encoding)
            if entry and 'final' in entry:
                xs.append(j + (i - (len(bars) - 1) / 2) * width)
                ys.append(entry['final']['mean'])
        ax.bar(
            xs,
            ys,
            width,
            color=_colour(method),
            hatch='//' if encoding != 'error' else None,
            edgecolor='white',
            label=f'{method}, {encoding}',
        )
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_yscale('log')
    ax.set_ylabel('mean final cost [m]')
    ax.grid(True, axis='y', which='both', alpha=0.25)
    ax.legend(fontsize=8)
    return _small_png(fig)


def planner_latency_png(
    series: Mapping[str, Sequence[tuple[int, Mapping]]], targets: Sequence[tuple[int, float]]
) -> bytes | None:
    """Plot planner step latency (median and p99) against the dataset size.

    Args:
        series: per improver, (examples, latency summary in ms) by size.
        targets: the p99 targets, (examples, ms).

    Returns:
        The figure as PNG bytes, or None without a planner result.
    """
    if not series:
        return None
    fig, axes = _figure(1, 1, 6.0, 3.6)
    ax = axes[0, 0]
    for index, (name, points) in enumerate(sorted(series.items())):
        sizes = [size for size, _ in points]
        colour = f'C{index}'
        medians = [latency['median'] for _, latency in points]
        ax.plot(sizes, medians, marker='o', color=colour, label=name)
        p99s = [latency['p99'] for _, latency in points]
        ax.plot(sizes, p99s, marker='.', ls=':', color=colour, label=f'{name} p99')
    for index, (size, value) in enumerate(targets):
        label = {'label': 'target (p99)'} if index == 0 else {}
        ax.plot([size], [value], marker='v', color='k', ls='none', **label)
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('examples in the dataset')
    ax.set_ylabel('planner step [ms]')
    ax.grid(True, which='both', alpha=0.25)
    ax.legend(fontsize=8)
    return _small_png(fig)
