# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi sandbox-run`: one policy file through exactly the sandbox path PromptPO uses."""

import argparse
import json
import sys
from pathlib import Path

from icpi_ros.exit_codes import EXIT_OK, EXIT_REJECTED, EXIT_UNAVAILABLE


def _cmd_sandbox_run(args: argparse.Namespace) -> int:
    import numpy as np

    from icpi_ros.core.promptpo.sandbox import (
        ISOLATIONS,
        SandboxLimits,
        SandboxUnavailable,
        evaluate_policies,
        require_isolation,
    )
    from icpi_ros.core.tasks import load_tasks

    assert args.sandbox in ISOLATIONS  # argparse's choices
    task = load_tasks(args.tasks_file)[args.task]
    goal = np.array(task.default_goal if args.goal is None else task.check_goal(args.goal))
    try:
        code = Path(args.file).read_text(encoding='utf-8', errors='replace')
    except OSError as exc:
        print(f'icpi sandbox-run: cannot read {args.file}: {exc.strerror}', file=sys.stderr)
        return EXIT_REJECTED
    try:
        warning = require_isolation(args.sandbox)
    except SandboxUnavailable as exc:
        print(f'icpi sandbox-run: {exc}', file=sys.stderr)
        return EXIT_UNAVAILABLE
    if warning:
        print(f'icpi sandbox-run: warning: {warning}', file=sys.stderr)
    limits = SandboxLimits(timeout_s=args.timeout, isolation=args.sandbox)
    (result,) = evaluate_policies(task, [code], goal, limits)
    out = {
        'ok': result.ok,
        'theta': None if result.theta is None else result.theta.tolist(),
        'clipped': result.clipped,
        'stage': result.stage,
        'reason': result.reason,
        'seconds': round(result.seconds, 4),
        'sandbox': args.sandbox,
    }
    if result.printed:
        out['printed'] = result.printed
    if args.json:
        print(json.dumps(out))
    elif result.ok:
        clipped = ' (clipped to the bounds)' if result.clipped else ''
        print(f'ok: theta = {out["theta"]}{clipped} in {out["seconds"]:.3f} s')
    else:
        print(f'rejected at {result.stage}: {result.reason} ({out["seconds"]:.3f} s)')
    return EXIT_OK if result.ok else EXIT_REJECTED


def add_parsers(sub: argparse._SubParsersAction, floats) -> None:
    """Register `sandbox-run` on the `icpi` parser; `floats` parses vectors."""
    from icpi_ros.core.promptpo.sandbox import ISOLATIONS, SandboxLimits

    p = sub.add_parser(
        'sandbox-run',
        help='run one policy file in the PromptPO sandbox and print the result',
        description='Static check, sandboxed child process and validation, exactly as PromptPO '
        'runs an LLM-written candidate: prints ok, theta, stage, reason and seconds. Exit '
        'codes: 0 ok, 2 rejected, 3 the sandbox is not available here.',
    )
    p.add_argument('file', metavar='FILE', help='Python source defining policy(goal)')
    p.add_argument('--task', required=True)
    p.add_argument('--goal', type=floats, default=None, help="default: the task's default goal")
    p.add_argument(
        '--sandbox',
        choices=ISOLATIONS,
        default='kernel',
        help='kernel (default): bubblewrap + seccomp; rlimits: weaker, see docs/architecture.md',
    )
    p.add_argument(
        '--timeout',
        type=float,
        default=SandboxLimits.timeout_s,
        help=f'wall-clock limit in s (default {SandboxLimits.timeout_s:g})',
    )
    p.add_argument('--tasks-file', default=None, help='tasks YAML (default: config/tasks.yaml)')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    p.set_defaults(func=_cmd_sandbox_run)
