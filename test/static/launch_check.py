# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Static reading of launch files with `ast` (launch/launch_ros cannot be installed here).

Finds what a launch file references without running it: the executables of Node actions,
package-share paths built with PathJoinSubstitution([FindPackageShare(pkg), 'dir', 'file'])
and the arguments declared with DeclareLaunchArgument.
"""

import ast
import re
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
            arg = node.args[0] if node.args else kwargs.get('name')
            description = kwargs.get('description')
            # Names and descriptions computed from data (icpi_ros.bringup) are checked there.
            refs.arguments[_const(arg) or ast.unparse(arg)] = (
                (_const(description) or ast.unparse(description)) if description else None
            )
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


def description_calls(path: Path, module: str = 'icpi_ros.bringup') -> dict[str, list[set[str]]]:
    """Names a launch file imports from `module`, with the keyword sets of each call to them."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }
    calls: dict[str, list[set[str]]] = {name: [] for name in imported}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, 'id', None) in calls:
            calls[node.func.id].append({k.arg for k in node.keywords if k.arg})
    return calls


def declared_parameters(node_file: Path) -> set[str]:
    """Parameters a node declares with `declare(self, 'name', ...)`, plus use_sim_time.

    As regular expressions: an f-string name (f'hsv_low{suffix}') matches any filling.
    """
    tree = ast.parse(node_file.read_text(), filename=str(node_file))
    patterns = {'use_sim_time'}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == 'declare' and len(node.args) > 1:
            name = node.args[1]
            if _const(name):
                patterns.add(re.escape(_const(name)))
            elif isinstance(name, ast.JoinedStr):
                patterns.add(
                    ''.join(
                        re.escape(v.value) if isinstance(v, ast.Constant) else '.*'
                        for v in name.values
                    )
                )
    return patterns


def undeclared(names, patterns: set[str]) -> set[str]:
    """Return the names that no declared-parameter pattern matches."""
    return {n for n in names if not any(re.fullmatch(p, n) for p in patterns)}
