# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Static reading of launch files with `ast` (launch/launch_ros cannot be installed here).

Finds what a launch file references without running it: the executables of Node actions,
package-share paths built with PathJoinSubstitution([FindPackageShare(pkg), 'dir', 'file'])
and the arguments declared with DeclareLaunchArgument.
"""

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LaunchRefs:
    """What one launch file references."""

    executables: list[tuple[str, str]] = field(default_factory=list)  # (package, executable)
    share_paths: list[tuple[str, ...]] = field(default_factory=list)  # ('config', 'x.yaml')
    arguments: dict[str, str | None] = field(default_factory=dict)  # name -> description
    has_entry_point: bool = False


def _const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')


def read_launch_file(path: Path) -> LaunchRefs:
    """Parse `path` and collect its references."""
    tree = ast.parse(path.read_text(), filename=str(path))
    refs = LaunchRefs()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == 'generate_launch_description':
            refs.has_entry_point = True
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        if name == 'Node':
            package, executable = _const(kwargs.get('package')), _const(kwargs.get('executable'))
            refs.executables.append((package or '?', executable or '?'))
        elif name == 'DeclareLaunchArgument':
            arg = _const(node.args[0]) if node.args else _const(kwargs.get('name'))
            description = kwargs.get('description')
            refs.arguments[arg or '?'] = _const(description) if description else None
        elif name == 'PathJoinSubstitution' and node.args and isinstance(node.args[0], ast.List):
            parts = [_const(e) for e in node.args[0].elts[1:]]
            if parts and all(parts):
                refs.share_paths.append(tuple(parts))
    return refs


def console_scripts(setup_py: Path) -> set[str]:
    """Return the executable names setup.py installs (the NODES dict plus `icpi`)."""
    tree = ast.parse(setup_py.read_text())
    names = {'icpi'}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == 'NODES' for t in node.targets)
            and isinstance(node.value, ast.Dict)
        ):
            names.update(_const(k) for k in node.value.keys if _const(k))
    return names
