# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every node parameter that `ros2 param set` may change is applied when set (issue 16).

Read from the node sources (no rclpy): a parameter declared without read_only=True (in the
node module `<node>.py` or its parameter module `<node>_params.py`) must be named in the
node's post-set callback (`_on_parameters_set`, in the node module), or a set that succeeds
would change nothing (dry_run, publish_plan, min_coverage and buffer_s did exactly that).
"""

import ast
from pathlib import Path

import pytest

PARAMS_SUFFIX = '_params'  # `<node>_params.py` declares the parameters of `<node>.py`
NODES = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / 'icpi_ros' / 'nodes').glob('*.py')
    if not p.stem.endswith(PARAMS_SUFFIX)
)


def _declarations(path: Path) -> list[ast.AST]:
    """The trees of a node module and of its parameter module, if it has one."""
    companion = path.with_name(path.stem + PARAMS_SUFFIX + '.py')
    return [ast.parse(p.read_text()) for p in (path, companion) if p.is_file()]


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
    settable = [n for tree in _declarations(path) for n in _settable(tree)]
    missing = [n for n in settable if n not in _applied(ast.parse(path.read_text()))]
    assert not missing, f'{path.name}: settable but never applied: {missing} (read_only=True?)'


def test_every_parameter_module_belongs_to_a_node_module():
    folder = NODES[0].parent
    for path in folder.glob(f'*{PARAMS_SUFFIX}.py'):
        assert path.with_name(path.stem.removesuffix(PARAMS_SUFFIX) + '.py') in NODES, path.name


def test_the_audit_sees_the_run_time_parameters():
    seen = {p.stem: sorted(n for t in _declarations(p) for n in _settable(t)) for p in NODES}
    assert seen['trial_executor'] == ['dry_run', 'publish_plan']
    assert seen['trajectory_tracker'] == ['buffer_s', 'min_coverage']
    assert seen['sim_bridge'] == ['idle_rate_hz', 'realtime_factor']
    assert seen['icpi_planner'] == ['fallback_improver', 'improver']
    assert seen['improvement_loop'] == []
