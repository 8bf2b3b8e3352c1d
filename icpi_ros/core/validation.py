# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Input validation shared by every entry point (services, actions, CLI, config files)."""

from collections.abc import Iterable

import numpy as np

from icpi_ros.core.errors import Rejected


class InvalidInput(Rejected):
    """A request or file that cannot be used; the message names the offending field."""


def as_vector(name: str, values: Iterable[float], length: int) -> np.ndarray:
    """Return `values` as a finite float vector of exactly `length` entries.

    Raises:
        InvalidInput: naming `name` when the length is wrong or an entry is not finite.

    """
    try:
        vec = np.asarray(list(values), dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f'{name}: expected {length} numbers ({exc})') from None
    if vec.ndim != 1 or vec.shape[0] != length:
        raise InvalidInput(f'{name}: expected {length} values, got {vec.size}')
    bad = np.flatnonzero(~np.isfinite(vec))
    if bad.size:
        raise InvalidInput(f'{name}[{int(bad[0])}] is {vec[bad[0]]}: every value must be finite')
    return vec
