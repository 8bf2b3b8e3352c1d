# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PNG figures of the benchmark results (matplotlib's Agg canvas: no display, no pyplot)."""

import io
import math
import re
from pathlib import Path

from icpi_ros.core.bench.harness import (
    LLM_METHODS,
    OFFLINE_METHODS,
    Selection,
    success_threshold,
)
from icpi_ros.core.files import write_atomic

DPI = 80  # ~ 700 x 500 px: readable on the page, well under 100 KB per figure
PLANNER_KEY = re.compile(r'planner_(?P<improver>\w+?)_(?P<size>\d+)$')


def _figure(nrows: int, ncols: int, width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout='constrained')
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _save(fig, path: Path | str) -> Path:
    """Write the figure as a 128-colour PNG (a third of the size; the figures are committed)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI)
    buffer.seek(0)
    image = Image.open(buffer).convert('RGB').quantize(colors=128)
    return write_atomic(path, lambda f: image.save(f, format='png', optimize=True))


def _colour(method: str) -> str:
    """Return the same colour for a method in every figure."""
    known = list(OFFLINE_METHODS + LLM_METHODS)
    index = known.index(method) if method in known else len(known) + sum(map(ord, method)) % 4
    return f'C{index % 10}'


def _grid(count: int) -> tuple[int, int]:
    cols = min(2, count)
    return math.ceil(count / cols), cols


def plot_curves(selection: Selection, path: Path | str) -> Path | None:
    """Plot median cost per iteration (band: quartiles) of every method, one panel per task."""
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
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    _legend(fig, axes.flat[0], 'success threshold')
    return _save(fig, path)


def _legend(fig, ax, threshold_label: str) -> None:
    """One legend for the whole figure, below the panels."""
    handles, labels = ax.get_legend_handles_labels()
    labels = [threshold_label if label.endswith(' cm') else label for label in labels]
    fig.legend(handles, labels, loc='outside lower center', ncols=len(labels), fontsize=8)


def ablated_methods(selection: Selection, encoding: str, sizes: list[int]) -> list[str]:
    """Return the methods that read the dataset and have runs with `encoding` and a size."""

    def ran(task: str, method: str, size: int) -> bool:
        entry = selection.get(task, method, encoding, selection.size_key(task, size))
        return bool(entry and entry.get('examples'))

    return [
        m
        for m in selection.methods()
        if any(ran(t, m, s) for t in selection.tasks() for s in sizes)
    ]


def plot_size_ablation(selection: Selection, path: Path | str) -> Path | None:
    """Plot mean final cost against the number of examples, one panel per task."""
    sizes = sorted(selection.config.get('sizes') or [])
    methods = ablated_methods(selection, 'error', sizes)
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
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    _legend(fig, axes.flat[0], 'success threshold')
    return _save(fig, path)


def plot_encoding_ablation(selection: Selection, path: Path | str) -> Path | None:
    """Plot mean final cost per task for each method with the error and the raw encoding."""
    encodings = list(selection.config.get('encodings') or [])
    methods = ablated_methods(selection, 'raw', [0])
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
    return _save(fig, path)


def planner_series(system: dict) -> dict[str, list[tuple[int, dict]]]:
    """Return the planner-latency results by improver: [(examples, summary)] by size."""
    series: dict[str, list[tuple[int, dict]]] = {}
    for key, value in system.items():
        match = PLANNER_KEY.match(key)
        if match and isinstance(value, dict) and 'median' in value:
            series.setdefault(match['improver'], []).append((int(match['size']), value))
    return {name: sorted(points, key=lambda p: p[0]) for name, points in series.items()}


def plot_planner_latency(system: dict, path: Path | str) -> Path | None:
    """Plot planner step latency (median and p99) against the dataset size."""
    series = planner_series(system)
    if not series:
        return None
    fig, axes = _figure(1, 1, 6.0, 3.6)
    ax = axes[0, 0]
    for i, (name, points) in enumerate(sorted(series.items())):
        sizes = [p[0] for p in points]
        ax.plot(sizes, [p[1]['median'] for p in points], marker='o', color=f'C{i}', label=name)
        ax.plot(
            sizes,
            [p[1]['p99'] for p in points],
            marker='.',
            ls=':',
            color=f'C{i}',
            label=f'{name} p99',
        )
    ax.plot([300], [2.0], marker='v', color='k', ls='none', label='target (p99)')
    ax.plot([1e6], [20.0], marker='v', color='k', ls='none')
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('examples in the dataset')
    ax.set_ylabel('planner step [ms]')
    ax.grid(True, which='both', alpha=0.25)
    ax.legend(fontsize=8)
    return _save(fig, path)
