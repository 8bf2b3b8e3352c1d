# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every node parameter that `ros2 param set` may change is applied when set (issue 16).

Read from the node sources (no rclpy): a parameter declared without read_only=True must be
named in the node's post-set callback (`_on_parameters_set`), or a set that succeeds would
change nothing (dry_run, publish_plan, min_coverage and buffer_s did exactly that).
"""

import ast
from pathlib import Path

import pytest

NODES = sorted((Path(__file__).resolve().parents[2] / 'icpi_ros' / 'nodes').glob('*.py'))


def _settable(tree: ast.AST) -> list[str]:
    names = []
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'declare'):
            continue
        name = call.args[1]
        if not isinstance(name, ast.Constant):  # f-strings: only read-only ones (hsv_*)
            read_only = {k.arg: k.value for k in call.keywords}.get('read_only')
            assert isinstance(read_only, ast.Constant) and read_only.value, ast.unparse(call)
            continue
        read_only = {k.arg: k.value for k in call.keywords}.get('read_only')
        if not (isinstance(read_only, ast.Constant) and read_only.value is True):
            names.append(name.value)
    return names


def _applied(tree: ast.AST) -> set[str]:
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and fn.name == '_on_parameters_set':
            return {
                c.value
                for c in ast.walk(fn)
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            }
    return set()


@pytest.mark.parametrize('path', NODES, ids=lambda p: p.stem)
def test_settable_parameters_are_applied_when_set(path):
    tree = ast.parse(path.read_text())
    missing = [n for n in _settable(tree) if n not in _applied(tree)]
    assert not missing, f'{path.name}: settable but never applied: {missing} (read_only=True?)'


def test_the_audit_sees_the_run_time_parameters():
    seen = {p.stem: sorted(_settable(ast.parse(p.read_text()))) for p in NODES}
    assert seen['trial_executor'] == ['dry_run', 'publish_plan']
    assert seen['trajectory_tracker'] == ['buffer_s', 'min_coverage']
    assert seen['sim_bridge'] == ['idle_rate_hz', 'realtime_factor']
    assert seen['icpi_planner'] == ['fallback_improver', 'improver']
    assert seen['improvement_loop'] == []
