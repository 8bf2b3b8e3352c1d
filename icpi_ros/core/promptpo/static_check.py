# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Layer 1 of the PromptPO sandbox: the static check of policy code, before any process starts.

`check_code` refuses code over `MAX_CODE_BYTES`, code that does not parse, imports other than
math and numpy (linalg, random, fft), names or attributes starting with a double underscore
(no `__import__`, `__subclasses__`, `__globals__`), private attributes,
open/exec/eval/compile/getattr/globals/..., numpy's file and introspection functions, frame
and code attributes, attribute names in match class patterns or format-string fields that
would be refused as attributes, `.format`/`.format_map` but on a literal it can read, classes
that are not plain (a metaclass, keywords), and code without its entry point: a top-level
`policy` (or a class `Policy` with `act`), or the class and method the persistent child
serves. The child's restricted runtime (`sandbox_child`) and the kernel layer
hold without it; it rejects most hostile code with a reason the LLM can act on.
"""

import ast
import re
import string

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.promptpo.sandbox_child import ALLOWED_MODULES, NUMPY_DENIED

MAX_CODE_BYTES = 8192
DENIED_NAMES = frozenset(
    {
        'breakpoint',
        'builtins',
        'compile',
        'delattr',
        'dir',
        'eval',
        'exec',
        'exit',
        'getattr',
        'globals',
        'help',
        'input',
        'locals',
        'memoryview',
        'object',
        'open',
        'quit',
        'setattr',
        'super',
        'type',
        'vars',
    }
)
DENIED_ATTRIBUTES = NUMPY_DENIED | {
    'ctypes',
    'dump',
    'dumps',
    'mro',
    'os',
    'popen',
    'subprocess',
    'sys',
    'system',
    'tofile',
}
# Frames, code objects, tracebacks and generators lead back to the runner's globals.
DENIED_PREFIXES = ('ag_', 'co_', 'cr_', 'f_', 'gi_', 'tb_')
# Dunder methods a plain class may define (attribute access to dunders stays forbidden).
CLASS_DUNDERS = frozenset(
    {
        '__init__',
        '__call__',
        '__repr__',
        '__str__',
        '__len__',
        '__iter__',
        '__next__',
        '__getitem__',
        '__contains__',
        '__eq__',
        '__lt__',
        '__le__',
        '__gt__',
        '__ge__',
        '__bool__',
    }
)
_FORMAT = ('format', 'format_map')


class CodeRejected(IcpiError, ValueError):
    """The static check refused the code; the message names the violation."""


def _attribute_problem(attr: str) -> str | None:
    if attr.startswith('_') or attr in DENIED_ATTRIBUTES or attr.startswith(DENIED_PREFIXES):
        return f'forbidden attribute .{attr}'
    return None


_FIELD_PART = re.compile(r'\.([^.\[]*)|\[([^\]]*)\]')


def _format_problem(text: str, depth: int = 0) -> str | None:
    """Return the str.format field of `text` naming a forbidden attribute or key, if any."""
    if '{' not in text or depth > 2:
        return None
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:  # not a format string: str.format would refuse it as well
        return None
    for _, name, spec, _ in fields:
        if name is None:
            continue
        head = re.split(r'[.\[]', name, maxsplit=1)[0]
        if head.startswith('_'):
            return f'forbidden format field {{{name}}}'
        for attr, key in _FIELD_PART.findall(name[len(head) :]):
            if (attr and _attribute_problem(attr)) or key.startswith('_'):
                return f'forbidden format field {{{name}}}'
        nested = _format_problem(spec or '', depth + 1)
        if nested:
            return nested
    return None


def _violation(node: ast.AST, methods: set[int]) -> str | None:  # noqa: C901
    """Return the first rule `node` breaks; `methods`: ids of functions defined in a class."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name not in ALLOWED_MODULES:
                return f'forbidden import {alias.name}'
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            return 'forbidden relative import'
        if node.module not in ALLOWED_MODULES:
            return f'forbidden import {node.module}'
        for alias in node.names:
            if alias.name == '*' or alias.name.startswith('_') or alias.name in DENIED_NAMES:
                return f'forbidden import {alias.name} from {node.module}'
            if alias.name in DENIED_ATTRIBUTES:
                return f'forbidden import {alias.name} from {node.module}'
    elif isinstance(node, ast.Name):
        if node.id.startswith('__') or node.id in DENIED_NAMES:
            return f'forbidden name {node.id}'
    elif isinstance(node, ast.Attribute):
        if node.attr in _FORMAT and not (
            isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        ):
            return f'forbidden attribute .{node.attr} (only on a string literal)'
        return _attribute_problem(node.attr)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _format_problem(node.value)
    elif isinstance(node, ast.MatchClass):  # case C(attr=...) reads C's attributes by name
        for attr in node.kwd_attrs:
            problem = _attribute_problem(attr)
            if problem:
                return problem + ' (match pattern)'
    elif isinstance(node, ast.MatchAs | ast.MatchStar | ast.MatchMapping):
        name = node.rest if isinstance(node, ast.MatchMapping) else node.name
        if name and name.startswith('__'):
            return f'forbidden name {name}'
    elif isinstance(node, ast.ClassDef):
        if node.keywords:
            return 'forbidden class keyword (no metaclass; plain classes only)'
        if node.name.startswith('__'):
            return f'forbidden name {node.name}'
    elif (
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith('__')
        and (id(node) not in methods or node.name not in CLASS_DUNDERS)
    ):
        return f'forbidden name {node.name}'
    return None


def _defines_policy(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == 'policy':
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == 'policy' for t in node.targets
        ):
            return True
    return _defines_class(tree, 'Policy', ('act',))


def _defines_class(tree: ast.Module, name: str, methods: tuple[str, ...]) -> bool:
    return any(
        isinstance(node, ast.ClassDef)
        and node.name == name
        and any(isinstance(f, ast.FunctionDef) and f.name in methods for f in node.body)
        for node in tree.body
    )


def check_code(
    code: str, max_bytes: int = MAX_CODE_BYTES, entry: tuple[str, tuple[str, ...]] | None = None
) -> None:
    """Refuse code the sandbox will not run (layer 1).

    Args:
        code: the policy's source.
        max_bytes: the largest source accepted (UTF-8 bytes).
        entry: (class, method names): the code must define that class at the top level with
            one of those methods (the persistent child's `Policy` with `act`, `Feedback` with
            `summarise`); None: a top-level `policy(goal)` or a class `Policy` with `act`.

    Raises:
        CodeRejected: naming the first violation found.

    """
    size = len(code.encode('utf-8', errors='replace'))
    if size > max_bytes:
        raise CodeRejected(f'code too large: {size} bytes (limit {max_bytes})')
    try:
        tree = ast.parse(code, '<policy>')
    except SyntaxError as exc:
        raise CodeRejected(f'syntax error: {exc.msg} (line {exc.lineno})') from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise CodeRejected(f'unparsable code: {type(exc).__name__}') from None
    methods = {
        id(f)
        for c in ast.walk(tree)
        if isinstance(c, ast.ClassDef)
        for f in c.body
        if isinstance(f, ast.FunctionDef)
    }
    for node in ast.walk(tree):
        problem = _violation(node, methods)
        if problem:
            line = getattr(node, 'lineno', None)
            raise CodeRejected(problem + (f' (line {line})' if line else ''))
    if entry is not None and not _defines_class(tree, *entry):
        raise CodeRejected(
            f'the code defines no top-level class {entry[0]} with a method {" or ".join(entry[1])}'
        )
    if entry is None and not _defines_policy(tree):
        raise CodeRejected(
            'the code defines no top-level function policy(goal) (nor a class Policy with act)'
        )
