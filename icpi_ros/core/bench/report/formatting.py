# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""How numbers and tables read on the benchmarks page."""

from collections.abc import Sequence

# Units as the page writes them.
UNITS = {'us': 'µs'}


def format_number(value: float) -> str:
    """Return a measured value with about three significant digits.

    Args:
        value: the number.

    Returns:
        E.g. '1,234' (at least 100: no decimals), '12.3', '0.042'.
    """
    magnitude = abs(value)
    if magnitude >= 100:
        return f'{value:,.0f}'
    if magnitude >= 1:
        return f'{value:.3g}'
    return f'{value:.2g}'


def format_count(count: int | None) -> str:
    """Return a sample count with thousands separators ('?' when unknown)."""
    return '?' if count is None else f'{count:,}'


def format_mm(value_m: float) -> str:
    """Return a length given in metres as millimetres, e.g. '2.3 mm'."""
    return f'{format_number(value_m * 1e3)} mm'


def format_percent(rate: float) -> str:
    """Return a rate in [0, 1] as a whole percentage, e.g. '67 %'."""
    return f'{rate * 100:.0f} %'


def format_unit(unit: str) -> str:
    """Return a result's unit as the page writes it ('us' -> 'µs')."""
    return UNITS.get(unit, unit)


def verdict(met: bool | None) -> str:
    """Return the table cell saying whether a target was met ('—': no verdict)."""
    return {True: 'met', False: '**missed**', None: '—'}[met]


def table_cell(text: object) -> str:
    """Return `text` safe inside a table cell (error messages may hold pipes, newlines)."""
    return ' '.join(str(text).split()).replace('|', '\\|')


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Return the lines of a Markdown table.

    Args:
        header: the column heads (written as given).
        rows: the cells of each row (made safe with `table_cell`).

    Returns:
        The header line, the rule and one line per row.
    """
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(table_cell(cell) for cell in row) + ' |' for row in rows]
    return lines
