# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Print a graph run's closed-loop figures per trial: missed deadlines, safety events, timing.

Usage: python scripts/closed_loop_deadlines.py [RUN]   (a run folder; default runs/latest)

Reads `trials.jsonl` of a run the graph recorded (`icpi demo --task push-gc ...`, or the
Improve action) and prints one line per trial and a summary line; `--json` prints them as
one JSON object. The figures are the executor's (TrialResult, the lines' `closed_loop`).
"""

import argparse
import json
import sys
from pathlib import Path

from icpi_ros.core.run_lines import read_run_file


def main(argv: list[str] | None = None) -> int:
    """Print the figures of one run; exit 2 when it has no closed-loop trial."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run', nargs='?', default='runs/latest', help='run folder')
    parser.add_argument('--json', action='store_true', help='one JSON object')
    args = parser.parse_args(argv)
    trials, _ = read_run_file(Path(args.run) / 'trials.jsonl')
    rows = [(t['iteration'], t['cost'], t['closed_loop']) for t in trials if t.get('closed_loop')]
    if not rows:
        print(f'{args.run}: no closed-loop trial', file=sys.stderr)
        return 2
    missed = [c['missed_deadlines'] for _, _, c in rows]
    summary = {
        'trials': len(rows),
        'steps': sum(c['control_steps'] for _, _, c in rows),
        'missed_deadlines': missed,
        'missed_total': sum(missed),
        'safety_events': [c['safety_events'] for _, _, c in rows],
        'slowest_step_ms': round(1000 * max(c['step_wall_max_s'] for _, _, c in rows), 2),
        'costs_mm': [round(1000 * cost, 2) for _, cost, _ in rows],
    }
    if args.json:
        print(json.dumps(summary))
        return 0
    for iteration, cost, c in rows:
        print(
            f'{iteration:3d}: cost {1000 * cost:7.2f} mm, {c["control_steps"]} steps, '
            f'{c["missed_deadlines"]} missed deadlines, {c["safety_events"]} safety events, '
            f'slowest step {1000 * c["step_wall_max_s"]:.1f} ms'
        )
    print(
        f'{summary["trials"]} trials, {summary["steps"]} steps: {summary["missed_total"]} missed '
        f'deadlines, slowest step {summary["slowest_step_ms"]} ms'
    )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
