# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""docs/interfaces.md documents every parameter the nodes declare and every interface field.

Without ROS: the parameters are read from the `declare(self, 'name', default, ...)` calls in
icpi_ros/nodes/*.py with `ast` (a node module `<node>.py` and, beside it, its parameter module
`<node>_params.py`; names built in a `for` loop over literal values, such as the tracker's
`hsv_low{suffix}`, are expanded; any other computed name fails the test, to be taught here),
and the fields and constants from the msg/, srv/ and action/ files.

The doc's layout that is checked: a level-2 heading `` ## `<node>` `` per node (its NODE_NAME),
with a parameter row `` | `name` | type | `default` | range | read-only or settable | ... | ``;
a heading `` ### `<folder>/<Name>` `` per interface file, with a row
`` | part | `field` | `type` | ... | `` per field (part: message, request, response, goal,
result, feedback) and `` | part | `NAME` | `type` = value | ... | `` per constant.
"""

import ast
import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / 'docs' / 'interfaces.md'
NODES = ROOT / 'icpi_ros' / 'nodes'
PARAMS_SUFFIX = '_params'  # `<node>_params.py` declares the parameters of `<node>.py`
PARTS = {
    'msg': ('message',),
    'srv': ('request', 'response'),
    'action': ('goal', 'result', 'feedback'),
}


class Declared:
    """One `declare(...)` call: name, default (a literal, else None), read-only."""

    def __init__(self, name: str, default, literal: bool, read_only: bool) -> None:
        self.name, self.default, self.literal, self.read_only = name, default, literal, read_only


def _names(node: ast.expr, bindings: dict[str, list], where: str) -> list[str]:
    """The parameter names an argument can take (f-strings over loop variables expanded)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        options = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                options.append([part.value])
            elif (
                isinstance(part, ast.FormattedValue)
                and isinstance(part.value, ast.Name)
                and part.value.id in bindings
            ):
                options.append([str(v) for v in bindings[part.value.id]])
            else:
                raise AssertionError(f'{where}: a parameter name this test cannot read')
        return [''.join(p) for p in itertools.product(*options)]
    raise AssertionError(f'{where}: a parameter name this test cannot read')


def declared_parameters(path: Path) -> tuple[str, list[Declared]]:
    """Return the NODE_NAME of a node module and the parameters it declares."""
    tree = ast.parse(path.read_text(), str(path))
    node_name = ''
    found: list[Declared] = []

    def visit(node: ast.AST, bindings: dict[str, list]) -> None:
        nonlocal node_name
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == 'NODE_NAME' for t in node.targets
        ):
            node_name = ast.literal_eval(node.value)
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, ast.Tuple | ast.List)
        ):
            values = [ast.literal_eval(e) for e in node.iter.elts]
            inner = {**bindings, node.target.id: values}
            for child in node.body + node.orelse:
                visit(child, inner)
            return
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == 'declare'
        ):
            where = f'{path.name}:{node.lineno}'
            assert len(node.args) >= 3, f'{where}: declare(node, name, default, ...)'
            try:
                default, literal = ast.literal_eval(node.args[2]), True
            except ValueError:
                default, literal = None, False
            read_only = any(
                k.arg == 'read_only' and isinstance(k.value, ast.Constant) and k.value.value
                for k in node.keywords
            )
            for name in _names(node.args[1], bindings, where):
                found.append(Declared(name, default, literal, read_only))
        for child in ast.iter_child_nodes(node):
            visit(child, bindings)

    visit(tree, {})
    return node_name, found


def node_modules() -> dict[str, list[Declared]]:
    """Every node module's parameters (its own and its parameter module's), by node name."""
    nodes = {}
    for path in sorted(NODES.glob('*.py')):
        if path.stem.endswith(PARAMS_SUFFIX):
            node_file = path.with_name(path.stem.removesuffix(PARAMS_SUFFIX) + '.py')
            assert node_file.is_file(), f'{path.name}: no node module {node_file.name} beside it'
            continue  # read with its node module
        name, params = declared_parameters(path)
        companion = path.with_name(path.stem + PARAMS_SUFFIX + '.py')
        if companion.is_file():
            companion_name, companion_params = declared_parameters(companion)
            assert not companion_name, f'{companion.name}: NODE_NAME belongs in {path.name}'
            assert name, f'{path.name} has a parameter module but no NODE_NAME'
            params = params + companion_params
        if name:
            nodes[name] = params
        else:
            assert not params, f'{path.name} declares parameters but has no NODE_NAME'
    return nodes


def interface_fields(path: Path) -> list[tuple[str, str, str, str | None]]:
    """Return (part, name, type, constant value or None) of each line of an interface file."""
    parts = iter(PARTS[path.parent.name])
    part = next(parts)
    fields = []
    for raw in path.read_text().splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        if line == '---':
            part = next(parts)
            continue
        kind, rest = line.split(None, 1)
        if '=' in rest:
            name, value = (s.strip() for s in rest.split('=', 1))
            fields.append((part, name, kind, value))
        else:
            assert len(rest.split()) == 1, f'{path}: a default value ({raw!r}): teach the test'
            fields.append((part, rest, kind, None))
    return fields


def section(text: str, title: str) -> str:
    """The text under the heading `title`, up to the next heading of the same or higher level."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r'(#+) (.*)$', line)
        if match and match.group(2).strip() == title:
            level = len(match.group(1))
            body = []
            for other in lines[i + 1 :]:
                heading = re.match(r'(#+) ', other)
                if heading and len(heading.group(1)) <= level:
                    break
                body.append(other)
            return '\n'.join(body)
    raise AssertionError(f'docs/interfaces.md has no heading {title!r}')


def rows(body: str) -> list[list[str]]:
    """The cells of every table row in `body`."""
    return [
        [cell.strip() for cell in line.strip().strip('|').split('|')]
        for line in body.splitlines()
        if line.startswith('|') and not re.match(r'\|\s*-', line)
    ]


def yaml_form(value) -> str:
    """A default as a user writes it (`-p name:=value`, a params file)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return value or '""'
    if isinstance(value, list | tuple):
        return '[' + ', '.join(yaml_form(v) for v in value) + ']'
    return repr(value)


def ros_type(value) -> str | None:
    """The parameter type a literal default declares (None: cannot tell)."""
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'integer'
    if isinstance(value, float):
        return 'double'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, list) and value:
        inner = {ros_type(v) for v in value}
        return f'{inner.pop()}[]' if len(inner) == 1 else None
    return None


@pytest.fixture(scope='module')
def doc() -> str:
    assert DOC.is_file(), 'docs/interfaces.md is missing'
    return DOC.read_text()


def test_the_parser_sees_every_node_and_the_built_names():
    nodes = node_modules()
    assert set(nodes) == {
        'icpi_planner',
        'sim_bridge',
        'trajectory_tracker',
        'trial_executor',
        'improvement_loop',
        'run_recorder',
    }
    names = {p.name for p in nodes['trajectory_tracker']}
    assert {'hsv_low', 'hsv_high', 'hsv_low_2', 'hsv_high_2'} <= names
    executor = {p.name for p in nodes['trial_executor']}
    assert {'joint_names', 'workspace_max', 'max_stroke_m'} <= executor  # in the helpers
    assert 'llm.base_url' in {p.name for p in nodes['icpi_planner']}  # inside a call


@pytest.mark.parametrize('node', sorted(node_modules()))
def test_every_declared_parameter_is_documented(doc, node):
    body = section(doc, f'`{node}`')
    documented = {r[0]: r for r in rows(body) if r and re.fullmatch(r'`[^`]+`', r[0])}
    problems = []
    for param in node_modules()[node]:
        row = documented.get(f'`{param.name}`')
        if row is None:
            problems.append(f'{param.name}: no row')
            continue
        if len(row) < 6:
            problems.append(f'{param.name}: expected name, type, default, range, access, meaning')
            continue
        access = 'read-only' if param.read_only else 'settable'
        if row[4] != access:
            problems.append(f'{param.name}: access is {access}, the doc says {row[4]!r}')
        if param.literal:
            kind = ros_type(param.default)
            if kind is not None and row[1] != kind:
                problems.append(f'{param.name}: type {kind}, the doc says {row[1]!r}')
            default = f'`{yaml_form(param.default)}`'
            if not row[2].startswith(default):
                problems.append(f'{param.name}: default {default}, the doc says {row[2]!r}')
    assert not problems, f'docs/interfaces.md, section `{node}`:\n' + '\n'.join(problems)


INTERFACE_FILES = sorted(
    str(p.relative_to(ROOT)) for folder in PARTS for p in (ROOT / folder).glob(f'*.{folder}')
)


@pytest.mark.parametrize('relative', INTERFACE_FILES)
def test_every_interface_field_and_constant_is_documented(doc, relative):
    path = ROOT / relative
    title = f'`{path.parent.name}/{path.stem}`'
    table = [
        r for r in rows(section(doc, title)) if len(r) >= 4 and r[0] in PARTS[path.parent.name]
    ]
    documented = {(r[0], r[1]): r[2] for r in table}
    problems = []
    expected = set()
    for part, name, kind, value in interface_fields(path):
        expected.add((part, f'`{name}`'))
        cell = documented.get((part, f'`{name}`'))
        want = f'`{kind}`' + ('' if value is None else f' = {value}')
        if cell is None:
            problems.append(f'{part} {name}: no row')
        elif cell != want:
            problems.append(f'{part} {name}: type {want}, the doc says {cell!r}')
    for key in documented.keys() - expected:
        problems.append(f'{key[0]} {key[1]}: documented, but not in {relative}')
    assert not problems, f'docs/interfaces.md, section {title}:\n' + '\n'.join(problems)


def test_the_readme_links_the_interfaces_doc():
    readme = (ROOT / 'README.md').read_text()
    assert readme.count('](docs/interfaces.md)') >= 2  # the Docs list and the Interfaces section
