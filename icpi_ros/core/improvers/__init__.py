# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Improvers behind one interface, created by name."""

from collections.abc import Callable

from icpi_ros.core.improvers.base import Improver, PolicyQuery
from icpi_ros.core.improvers.random_shooting import RandomShooting
from icpi_ros.core.validation import InvalidInput

# name -> factory(seed) for every improver this version provides.
IMPROVERS: dict[str, Callable[[int], Improver]] = {
    RandomShooting.name: RandomShooting,
}


def make_improver(name: str, seed: int = 0) -> Improver:
    """Create the improver called `name`."""
    try:
        factory = IMPROVERS[name]
    except KeyError:
        known = ', '.join(sorted(IMPROVERS))
        raise InvalidInput(f'unknown improver {name!r}; available: {known}') from None
    return factory(seed)


__all__ = ['IMPROVERS', 'Improver', 'PolicyQuery', 'make_improver']
