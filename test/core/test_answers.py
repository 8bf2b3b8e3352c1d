# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The answer grammar of icpi_ros.core.answers: what honest models write, and what is refused."""

import numpy as np
import pytest

from icpi_ros.core.answers import ResponseRejected, parse_delta
from icpi_ros.core.tasks import load_tasks

TASK = load_tasks()['slide-gc']
DELTA = [0.01, -0.02, 0.03]


@pytest.mark.parametrize(
    'text',
    [
        '0.01 -0.02 0.03',
        '0.01, -0.02, 0.03',
        'Δθ: 0.01, -0.02, 0.03',
        'delta_theta = 0.01 -0.02 0.03',
        '[0.01, -0.02, 0.03]',
        '(0.01, -0.02, 0.03)',
        '```\n0.01 -0.02 0.03\n```',
        '```text\n0.01 -0.02 0.03\n```\n',
        'Based on the closest examples, the change is:\n0.01 -0.02 0.03',
        'Looking at the pattern, the answer is: 0.01 -0.02 0.03',
        '<think>The last lines have errors near 0.04, so 1 2 3\nwould be wrong.</think>\n'
        '0.01 -0.02 0.03',
        '<THINKING>short</THINKING> 0.01 -0.02 0.03',
        '0.01 -0.02 0.03.',
        '0.01 \u22120.02 0.03',
        '0.01 \u20130.02 +0.03',
        '-> 0.01 -0.02 0.03',
        '→ 0.01 -0.02 0.03',
        '0.0500 0.1000 0.3000 | 0.0400 -0.0100 -> 0.01 -0.02 0.03',
        '**Answer:** `0.01 -0.02 0.03`',
        '- 0.01 -0.02 0.03',
        '1e-2 -2E-2 3e-2',
        '\n\n  0.01   -0.02\t0.03  \n',
        '0.01 -0.02 0.03\n0.5 0.5 0.5',  # the first number line wins
    ],
)
def test_accepted_forms(text):
    np.testing.assert_allclose(parse_delta(text, TASK, 'stop'), DELTA)


@pytest.mark.parametrize(
    ('text', 'finish_reason', 'reason'),
    [
        ('', 'stop', 'an empty answer'),
        ('Sure! Here is the change you asked for.', 'stop', 'words among the numbers'),
        ('0.01 -0.02', 'stop', 'lines of 2 numbers'),
        ('0.01 -0.02 0.03 0.04', 'stop', 'lines of 4 numbers'),
        ('0.01\n-0.02 0.03 0.04 0.05', 'stop', 'lines of 1, 4 numbers'),
        ('0.01 -0.02 0.03 because', 'stop', 'words among the numbers'),
        ('The answer is 0.01 -0.02 0.03', 'stop', 'words among the numbers'),
        ('0.01 apples -0.02 0.03', 'stop', 'words among the numbers'),
        ('Step 2: 0.01 -0.02 0.03', 'stop', 'words among the numbers'),  # a label with a digit
        ('0.01 -0.02 0x10', 'stop', 'words among the numbers'),
        ('0.01 nan 0.02', 'stop', 'not finite'),
        ('0.01 -inf 0.02', 'stop', 'not finite'),
        ('0.01 1e999 0.02', 'stop', 'not finite'),
        ('5.0 0.0 0.0', 'stop', r'change of angle \(5\) exceeds 0.7'),
        ('0.01 -0.02 0.03', 'length', 'cut off'),
        ('0.01 -0.02 0.03', 'content_filter', 'cut off'),
        ('<think>0.01 -0.02 0.03 seems right but', 'stop', 'unfinished reasoning'),
        ('0.01 -0.02 0.03 <think>', 'stop', 'unfinished reasoning'),
    ],
)
def test_refused_forms(text, finish_reason, reason):
    with pytest.raises(ResponseRejected, match=reason):
        parse_delta(text, TASK, finish_reason)


def test_the_range_limit_scales():
    assert parse_delta('0.5 0 0', TASK)[0] == 0.5
    with pytest.raises(ResponseRejected, match='exceeds 0.35'):
        parse_delta('0.5 0 0', TASK, max_step_ranges=0.5)
