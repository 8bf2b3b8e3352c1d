# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The tracker's detection buffer and window verdict without ROS (core.vision.window)."""

import numpy as np

from icpi_ros.core.vision.tracker import Detection
from icpi_ros.core.vision.window import DetectionBuffer, judge_window

SEEN, MISSED = Detection(True, point=(0.1, 0.2, 0.0)), Detection(False, reason='no blob')


def test_the_buffer_keeps_buffer_s_seconds_of_stamps_and_answers_windows():
    buffer = DetectionBuffer(buffer_s=1.0)
    assert buffer.newest() == -np.inf and buffer.window(0.0, 9.0) == []
    for stamp in np.arange(0.0, 2.01, 0.25):
        buffer.add(float(stamp), SEEN if stamp < 1.5 else MISSED)
    assert buffer.newest() == 2.0
    assert [t for t, _ in buffer.window(0.0, 9.0)] == [1.0, 1.25, 1.5, 1.75, 2.0]
    assert [d.valid for _, d in buffer.window(1.25, 1.75)] == [True, False, False]  # inclusive
    buffer.buffer_s = 0.3  # set at run time: applies from the next frame
    assert len(buffer.window(0.0, 9.0)) == 5
    buffer.add(2.25, SEEN)
    assert [t for t, _ in buffer.window(0.0, 9.0)] == [2.0, 2.25]


def test_a_window_is_valid_with_frames_and_enough_coverage():
    assert judge_window(0, 0.0, 0.8, 1.0, 2.5) == (False, 'no frames between 1.000 and 2.500 s')
    assert judge_window(10, 0.5, 0.8, 1.0, 2.5) == (
        False,
        'object seen in 50% of 10 frames, below min_coverage 80%: trajectory invalid',
    )
    assert judge_window(10, 0.8, 0.8, 1.0, 2.5) == (True, '10 frames, coverage 80%')
    assert judge_window(3, 0.0, 0.0, 1.0, 2.5)[0]  # min_coverage 0: any complete window
