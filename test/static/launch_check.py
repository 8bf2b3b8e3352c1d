# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Static reading of launch files with `ast` (launch/launch_ros cannot be installed here).

Finds what a launch file references without running it: the executables of Node actions,
package-share paths built with PathJoinSubstitution([FindPackageShare(pkg), 'dir', 'file'])
and the arguments declared with DeclareLaunchArgument.
"""

import ast
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class LaunchRefs:
    """What one launch file references."""

    executables: list[tuple[str, str]] = field(default_factory=list)  # (package, executable)
    share_paths: list[tuple[str, ...]] = field(default_factory=list)  # ('config', 'x.yaml')
    arguments: dict[str, str | None] = field(default_factory=dict)  # name -> description
    defaults: dict[str, str] = field(default_factory=dict)  # name -> default_value, if any
    node_parameters: int = 0  # parameters=[...] written in the launch file itself
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
            # Names and descriptions computed from data (icpi_ros.graph.description) are
            # checked there.
            key = _const(arg) or ast.unparse(arg)
            refs.arguments[key] = (
                (_const(description) or ast.unparse(description)) if description else None
            )
            default = kwargs.get('default_value')
            if default is not None:
                text = _const(default)
                refs.defaults[key] = ast.unparse(default) if text is None else text
        if 'parameters' in kwargs:
            refs.node_parameters += 1
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


def description_calls(
    path: Path, module: str = 'icpi_ros.graph.description'
) -> dict[str, list[set[str]]]:
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


def node_sources(nodes_dir: Path, executable: str) -> list[Path]:
    """Return a node's module, its `<executable>_params.py` and the `*_params.py` it imports.

    The loop's params file imports the planner's llm.* and promptpo.sandbox declarations.
    """
    params = nodes_dir / f'{executable}_params.py'
    if not params.is_file():
        return [nodes_dir / f'{executable}.py']
    shared = sorted(
        {
            nodes_dir / f'{node.module.rsplit(".", 1)[1]}.py'
            for node in ast.walk(ast.parse(params.read_text(), str(params)))
            if isinstance(node, ast.ImportFrom)
            and (node.module or '').startswith('icpi_ros.nodes.')
            and node.module.endswith('_params')
        }
    )
    return [nodes_dir / f'{executable}.py', params, *shared]


def declared_parameters(*node_files: Path) -> set[str]:
    """Parameters the files declare with `declare(self, 'name', ...)`, plus use_sim_time.

    As regular expressions: an f-string name (f'hsv_low{suffix}') matches any filling.
    """
    patterns = {'use_sim_time'}
    for node in (n for f in node_files for n in ast.walk(ast.parse(f.read_text(), str(f)))):
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


def _kind(value: object) -> str | None:
    """ParameterType name of a Python parameter value (None: not a parameter type)."""
    scalar = {bool: 'bool', int: 'integer', float: 'double', str: 'string'}
    if isinstance(value, list | tuple):
        kinds = {scalar.get(type(v)) for v in value}
        return f'{kinds.pop()}_array' if len(kinds) == 1 and None not in kinds else None
    return scalar.get(type(value))


def declared_parameter_types(node_file: Path, module: str | None = None) -> dict[str, str | None]:
    """Parameter name pattern -> the type its `declare(self, name, default, ...)` gives it.

    The type is the default's: a literal, else the expression evaluated in the node's module
    (`list(ArmSpec().joint_names)`); None when neither works. use_sim_time is a bool.
    """
    tree = ast.parse(node_file.read_text(), filename=str(node_file))
    namespace = vars(importlib.import_module(module)) if module else {}
    types: dict[str, str | None] = {'use_sim_time': 'bool'}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) == 'declare' and len(node.args) > 2:
            name = node.args[1]
            if _const(name):
                pattern = re.escape(_const(name))
            elif isinstance(name, ast.JoinedStr):
                pattern = ''.join(
                    re.escape(v.value) if isinstance(v, ast.Constant) else '.*' for v in name.values
                )
            else:
                continue
            try:
                default = ast.literal_eval(node.args[2])
            except ValueError:
                try:
                    default = eval(ast.unparse(node.args[2]), dict(namespace))
                except Exception:
                    default = None
            types[pattern] = _kind(default)
    return types


def declared_type(name: str, types: dict[str, str | None]) -> str | None:
    """The declared type of parameter `name` (None: unknown or undeclared)."""
    return next((kind for p, kind in types.items() if re.fullmatch(p, name)), None)


@dataclass(frozen=True)
class Typed:
    """What launch_ros's ParameterValue(value, value_type=...) gets, recorded for checking."""

    value: object
    kind: str


def launch_type_problems(params: dict, types: dict[str, str | None]) -> list[str]:
    """Parameters handed to launch_ros that would not arrive with the type the node declares.

    A plain `str` arrives as a STRING (launch_ros writes it quoted); a Python value arrives
    with its own type (an int is fine for a double: the nodes coerce it); a `Typed` value
    with its value_type.
    """
    problems = []
    for name, value in params.items():
        want = declared_type(name, types)
        got = value.kind if isinstance(value, Typed) else _kind(value)
        if got == 'integer' and want == 'double':
            got = 'double'
        if got != want:
            shown = f'{type(value).__name__} {value!r}'
            problems.append(f'{name}: {shown} arrives as {got}, the node declares {want}')
    return problems
