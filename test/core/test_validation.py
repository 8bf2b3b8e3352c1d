# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""as_vector: the one gate every vector from outside passes through."""

import numpy as np
import pytest

from icpi_ros.core.validation import InvalidInput, as_vector


def test_accepts_finite_vector_of_the_right_length():
    out = as_vector('theta', [1, 2.5, -3], 3)
    assert out.dtype == float
    np.testing.assert_array_equal(out, [1.0, 2.5, -3.0])


@pytest.mark.parametrize(
    ('values', 'message'),
    [
        ([1.0, 2.0], 'theta: expected 3 values, got 2'),
        ([], 'theta: expected 3 values, got 0'),
        ([1.0, float('nan'), 2.0], r'theta\[1\] is nan'),
        ([1.0, 2.0, float('-inf')], r'theta\[2\] is -inf'),
        (['a', 1.0, 2.0], 'theta: expected 3 numbers'),
        ([[1.0], [2.0], [3.0]], 'theta: expected 3 values'),
    ],
)
def test_rejects_with_the_field_name(values, message):
    with pytest.raises(InvalidInput, match=message):
        as_vector('theta', values, 3)
