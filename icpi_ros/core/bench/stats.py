# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Summaries of repeated measurements and a description of the machine they ran on."""

import os
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

UNIT_SCALE = {'s': 1.0, 'ms': 1e3, 'us': 1e6}
SIGNIFICANT = 4  # digits kept of each cost in the bench results


def significant(value: float, digits: int = SIGNIFICANT) -> float:
    """Return `value` rounded to `digits` significant digits.

    Args:
        value: the number to round.
        digits: how many significant digits to keep.

    Returns:
        The rounded number, as a float.
    """
    return float(f'{value:.{digits}g}')


def summary(samples_s: Sequence[float], unit: str = 'ms') -> dict:
    """Return min/median/p99/max of samples given in seconds, expressed in `unit`."""
    values = np.asarray(samples_s, dtype=float) * UNIT_SCALE[unit]
    return {
        'unit': unit,
        'n': int(values.size),
        'min': float(values.min()),
        'median': float(statistics.median(values)),
        'p99': float(np.percentile(values, 99)),
        'max': float(values.max()),
    }


def describe(values: Sequence[float]) -> dict:
    """Return n, mean, sample standard deviation, median, min and max of `values`."""
    v = np.asarray(values, dtype=float)
    return {
        'n': int(v.size),
        'mean': float(v.mean()),
        'std': float(v.std(ddof=1)) if v.size > 1 else 0.0,
        'median': float(np.median(v)),
        'min': float(v.min()),
        'max': float(v.max()),
    }


def _os_name() -> str:
    try:
        for line in Path('/etc/os-release').read_text().splitlines():
            if line.startswith('PRETTY_NAME='):
                return line.split('=', 1)[1].strip().strip('"')
    except OSError:
        pass
    return f'{platform.system()} {platform.release()}'


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine_info() -> dict:
    """Describe this machine: cores, architecture, OS, memory, Python, MuJoCo, date."""
    try:
        from importlib.metadata import version

        mujoco = version('mujoco')
    except Exception:  # not installed: the description must still work
        mujoco = None
    return {
        'cpu': platform.processor() or platform.machine(),
        'arch': platform.machine(),
        'cores': os.cpu_count(),
        'memory_gib': _memory_gib(),
        'os': _os_name(),
        'python': platform.python_version(),
        'mujoco': mujoco,
        'date': time.strftime('%Y-%m-%d'),
    }


def machine_line(machine: dict) -> str:
    """Return one line such as `2 cores (x86_64), 24 GiB, Debian 12, CPython 3.11.7`."""
    arch = machine.get('arch') or machine.get('cpu', '?')
    parts = [f'{machine.get("cores", "?")} cores ({arch})']
    if machine.get('memory_gib'):
        parts.append(f'{machine["memory_gib"]:g} GiB')
    if machine.get('os'):
        parts.append(machine['os'])
    parts.append(f'CPython {machine.get("python", "?")}')
    if machine.get('mujoco'):
        parts.append(f'MuJoCo {machine["mujoco"]}')
    return ', '.join(parts)
