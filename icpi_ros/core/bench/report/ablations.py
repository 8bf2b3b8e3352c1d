# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The ablations section of the page: dataset size, encoding and episode memory.

Each reads the method comparison (bench_methods.json) on the comparison's own episodes.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING

from icpi_ros.core.bench.report.formatting import format_mm, format_percent, markdown_table
from icpi_ros.core.bench.report.prose import prose
from icpi_ros.core.bench.report.rows import NOT_MEASURED
from icpi_ros.core.bench.results import Selection

if TYPE_CHECKING:
    from icpi_ros.core.bench.report.catalogue import Catalogue


def _final_cell(entry: Mapping | None) -> str:
    if not entry:
        return '—'
    if 'final' not in entry:
        return f'failed ({entry["failed"]} runs)'
    return f'{format_mm(entry["final"]["mean"])} [{format_percent(entry["success_rate"])}]'


def _mean_cell(entry: Mapping | None, measure: str) -> str:
    """Return one measure of an aggregate as the ablation tables show it."""
    if not entry:
        return '—'
    if 'final' not in entry:
        return 'failed'
    if measure == 'success_rate':
        return format_percent(entry[measure])
    return format_mm(entry[measure]['mean']) if measure in entry else '—'


def memory_table(methods: Selection) -> list[str]:
    """Return the episode-memory ablation: final, last five and success, memory on / off.

    Args:
        methods: the aggregates of the method comparison.

    Returns:
        The table's lines, or [] when no method was run with the memory off.
    """
    rows = []
    for task in methods.tasks():
        for method in methods.memory_ablated_methods():
            on, off = methods.get(task, method), methods.get(task, method, episode_memory=False)
            if on or off:
                rows.append(
                    [task, f'`{method}`']
                    + [
                        f'{_mean_cell(on, measure)} / {_mean_cell(off, measure)}'
                        for measure in ('final', 'last_five', 'success_rate')
                    ]
                )
    if not rows:
        return []
    head = ['final cost, mean', 'last five trials, mean', 'success']
    return markdown_table(['task', 'method', *(f'{name}: on / off' for name in head)], rows)


def ablations_section(
    methods: Selection | None, images: Mapping[str, str], catalogue: 'Catalogue'
) -> list[str]:
    """Return the dataset-size, encoding and episode-memory ablation tables and figures.

    Args:
        methods: the aggregates of bench_methods.json, or None when there is none.
        images: figure name -> path relative to the page ('size', 'encoding'; may lack them).
        catalogue: the page's catalogue (the figures' text, the encodings' names).

    Returns:
        The section's lines.
    """
    out = ['## Ablations', '']
    if methods is None:
        return out + [NOT_MEASURED, '']
    config = methods.config
    out.append(prose('ablations_intro', subsample_seed=config.get('subsample_seed', 0)))
    sizes = sorted(config.get('sizes') or [])
    ablated = methods.ablated_methods('error', sizes) if sizes else []
    if len(sizes) > 1 and ablated:
        rows = [
            [task, f'`{method}`']
            + [
                _final_cell(methods.get(task, method, 'error', methods.size_key(task, size)))
                for size in sizes
            ]
            for task in methods.tasks()
            for method in ablated
        ]
        out += ['### Dataset size', '']
        out += markdown_table(['task', 'method'] + [f'{size} examples' for size in sizes], rows)
        out.append('')
        if images.get('size'):
            out += [f'![{catalogue.figures["size"].alt}]({images["size"]})', '']
    else:
        out += ['Dataset size: not run (`--sizes`).', '']
    encodings = list(config.get('encodings') or [])
    encoded = methods.ablated_methods('raw', [0]) if 'raw' in encodings else []
    if len(encodings) > 1 and encoded:
        rows = [
            [task, f'`{method}`']
            + [_final_cell(methods.get(task, method, encoding)) for encoding in encodings]
            for task in methods.tasks()
            for method in encoded
        ]
        names = [catalogue.encodings.get(encoding, encoding) for encoding in encodings]
        out += ['### Encoding', '']
        out += markdown_table(['task', 'method', *names], rows)
        out.append('')
        if images.get('encoding'):
            out += [f'![{catalogue.figures["encoding"].alt}]({images["encoding"]})', '']
    else:
        out += ['Encoding: not run (`--encodings error,raw`).', '']
    memory = memory_table(methods)
    if memory:
        out += ['### Episode memory', '', prose('memory_ablation'), *memory, '']
    else:
        out += ['Episode memory: not run (`--memory-ablation`).', '']
    return out
