# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A system figure's target (`Limit`) and how each kind of result reads in the table.

A reading turns one result of bench_results.json (a summary such as `stats.summary` gives,
or a benchmark's own fields) into the "measured" cell, the statistic the target names in
bold. The catalogue names them (`reads:`) by their key in `READINGS`.
"""

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from icpi_ros.core.bench.report.formatting import (
    format_count,
    format_mm,
    format_number,
    format_unit,
)

COMPARISONS = {'<=': operator.le, '>=': operator.ge}


@dataclass(frozen=True)
class Limit:
    """A target: `stat` of the result compared with `value` (in the result's unit)."""

    stat: str
    op: str  # '<=' or '>='
    value: float
    unit: str
    label: str = ''  # how the target reads; default: from the fields

    def text(self) -> str:
        """Return the target as the table shows it, e.g. 'median ≤ 60 ms'."""
        if self.label:
            return self.label
        sign = '≤' if self.op == '<=' else '≥'
        return f'{self.stat} {sign} {self.value:g} {self.unit}'.replace('  ', ' ')

    def met(self, value: float) -> bool:
        """Return whether `value` meets the target."""
        return COMPARISONS[self.op](value, self.value)


Reading = Callable[[Mapping, Limit | None], str]


def timing(result: Mapping, limit: Limit | None) -> str:
    """Return e.g. `median **26.4 ms** (min 25.0, max 38.3; n = 30)`, the target's stat bold."""
    unit = format_unit(result.get('unit', ''))
    lead = limit.stat if limit and limit.stat in ('median', 'p99', 'max', 'min') else 'median'
    others = [stat for stat in ('median', 'p99', 'min', 'max') if stat != lead and stat in result]
    rest = ', '.join(f'{stat} {format_number(result[stat])}' for stat in others)
    count = format_count(result.get('n'))
    return f'{lead} **{format_number(result[lead])} {unit}** ({rest}; n = {count})'


def render_fps(result: Mapping, limit: Limit | None) -> str:
    """Return the frame time and the frame rate it allows."""
    return (
        f'median {format_number(result["median"])} ms/frame = '
        f'**{format_number(result["fps_median"])} fps** (min {format_number(result["min"])}, '
        f'max {format_number(result["max"])} ms; n = {result["n"]})'
    )


def real_time(result: Mapping, limit: Limit | None) -> str:
    """Return the real-time factor of the bridge with the camera on."""
    images = result.get('images_per_wall_s')
    extra = f'; {format_number(images)} images per wall second' if images else ''
    return f'**{format_number(result["median"])}×** real time{extra}'


def jitter(result: Mapping, limit: Limit | None) -> str:
    """Return the jitter of each parameter's sweep, the largest bold."""
    per_parameter = result.get('per_parameter', {})
    worst = max(per_parameter, key=per_parameter.get) if per_parameter else None

    def shown(value: float) -> str:
        return format_number(value) if value >= 0.01 else '< 0.01'

    parts = [
        f'{name} **{shown(value)} mm**' if name == worst else f'{name} {shown(value)}'
        for name, value in per_parameter.items()
    ]
    return ', '.join(parts) + ' RMS' if parts else f'max **{format_number(result["max"])} mm**'


def tracker_error(result: Mapping, limit: Limit | None) -> str:
    """Return the mean and max tracking error and the worst coverage."""
    return (
        f'mean **{format_number(result["mean_error_mm"])} mm**, '
        f'max {format_number(result["max_error_mm"])} mm, '
        f'lowest coverage {result["coverage_min"] * 100:.0f} % ({result["n"]} trials)'
    )


def prompt_size(result: Mapping, limit: Limit | None) -> str:
    """Return the prompt's size in characters and estimated tokens."""
    return (
        f'estimated **{format_number(result["tokens_estimate_max"])} tokens** max (median '
        f'{format_number(result["tokens_estimate_median"])}); '
        f'{format_number(result["median"])} characters median ({result["n"]} queries)'
    )


def calibration(result: Mapping, limit: Limit | None) -> str:
    """Return the calibration's errors against the simulator's exact camera pose."""
    return (
        f'reprojection **{format_number(result["reprojection_error_px"])} px**, rotation off '
        f'by {format_number(result["rotation_error_deg"])}°, position by '
        f'{format_number(result["position_error_mm"])} mm; {format_number(result["median"])} ms'
    )


def demo_wall(result: Mapping, limit: Limit | None) -> str:
    """Return the demo's wall time (the `demo` result: `wall_s` summary + final cost)."""
    text = timing(result['wall_s'], limit)
    final = result.get('final_cost_m')
    if isinstance(final, dict):  # a summary over the repeats
        text += f'; final cost median {format_mm(final["median"])} (max {format_mm(final["max"])})'
    elif isinstance(final, int | float):
        text += f'; final cost {format_mm(final)}'
    return text


def idle_cpu(result: Mapping, limit: Limit | None) -> str:
    """Return each node's CPU with no trial running, and the camera's rate in the trials."""
    cpu = result.get('cpu_percent', {})
    nodes = ', '.join(f'{name} {format_number(value)} %' for name, value in cpu.items())
    rates = result.get('camera_hz_in_trials') or []
    camera = '; camera during the trials after it: '
    camera += f'{", ".join(format_number(rate) for rate in rates)} Hz'
    text = f'worst core node **{format_number(result["max"])} %** of a core ({nodes})'
    return text + (camera if rates else '')


def recording_wall(result: Mapping, limit: Limit | None) -> str:
    """Return the recorder's added iteration wall time per pair of runs."""
    pairs = f'{result["iterations"]} iterations × {result["pairs"]} pairs'
    return f'{timing(result, limit)}, {pairs} with and without'


def recording_cpu(result: Mapping, limit: Limit | None) -> str:
    """Return the recorder's added CPU (all node processes) and its own share of a core."""
    own = ', '.join(f'{format_number(c)} %' for c in result['recorder_cpu_percent_of_a_core'])
    return f'{timing(result["cpu"], limit)}; the recorder itself {own} of a core'


def recording_bag(result: Mapping, limit: Limit | None) -> str:
    """Return the bag's size for 20 iterations, extrapolated from its size per iteration."""
    per_iteration = result['bag_bytes_per_iteration'] / 1e6
    return (
        f'**{format_number(result["bag_mb_20_iterations"])} MB** for 20 iterations '
        f'({format_number(per_iteration)} MB per iteration × 20)'
    )


def sweep_overhead(result: Mapping, limit: Limit | None) -> str:
    """Return Ray's wall-time overhead over the process pool, and the two wall times."""
    pool, ray = result.get('pool_wall_s') or [], result.get('ray_wall_s') or []
    pairs = zip(pool, ray, strict=True)
    walls = ', '.join(f'{format_number(p)}/{format_number(r)} s' for p, r in pairs)
    same = 'the same records' if result.get('same_records') else '**different records**'
    return (
        f'{timing(result, limit)}; pool/Ray {walls} for {result.get("runs", "?")} runs; '
        f'{same}; Ray start-up {format_number(result.get("ray_start_s", 0))} s more'
    )


def llm_concurrency(result: Mapping, limit: Limit | None) -> str:
    """Return the LLM sweep's wall time at each --llm-concurrency, and the speed-up."""
    walls, speedup = result.get('wall_s', {}), result.get('speedup', {})
    levels = ', '.join(
        f'{level}: **{format_number(wall)} s** ({format_number(speedup.get(level, 0))}×)'
        for level, wall in walls.items()
    )
    calls = next(iter(result.get('llm_calls', {}).values()), '?')
    return f'{levels}; {calls} LLM calls of {format_number(result.get("latency_s", 0))} s'


READINGS: dict[str, Reading] = {
    reading.__name__: reading
    for reading in (
        timing,
        render_fps,
        real_time,
        jitter,
        tracker_error,
        prompt_size,
        calibration,
        demo_wall,
        idle_cpu,
        recording_wall,
        recording_cpu,
        recording_bag,
        sweep_overhead,
        llm_concurrency,
    )
}
