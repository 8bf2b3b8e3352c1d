# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The page's prose: named blocks of the package's Markdown template notes.md.

A block runs from its marker line (`<!-- block: name -->`) to the next; `$name` in it is
replaced by a value the report computes (`string.Template`: `$$` is a dollar sign).
"""

import functools
import re
from importlib import resources
from string import Template

TEMPLATE = 'notes.md'
MARKER = re.compile(r'^<!-- block: (?P<name>\w+) -->\n', re.MULTILINE)


@functools.cache
def _blocks() -> dict[str, Template]:
    """Return the blocks of notes.md by name (read once)."""
    text = resources.files(__package__).joinpath(TEMPLATE).read_text(encoding='utf-8')
    parts = MARKER.split(text)  # preamble, name, text, name, text, ...
    names, bodies = parts[1::2], parts[2::2]
    if len(set(names)) != len(names):
        raise ValueError(f'{TEMPLATE}: a block name is used twice')
    return {
        name: Template(body.strip('\n') + '\n') for name, body in zip(names, bodies, strict=True)
    }


def block_names() -> set[str]:
    """Return the names of the blocks of notes.md."""
    return set(_blocks())


def prose(name: str, **values: object) -> str:
    """Return one block of notes.md with its `$names` filled in.

    Args:
        name: the block's name.
        **values: the values its `$names` take (values it does not use are ignored).

    Returns:
        The block's text, ending with one newline.

    Raises:
        KeyError: there is no such block, or it uses a name `values` does not give.
    """
    return _blocks()[name].substitute(values)
