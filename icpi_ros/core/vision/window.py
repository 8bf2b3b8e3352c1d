# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The tracker's memory of recent frames and its verdict on a trial window, without ROS.

The trajectory_tracker node keeps every frame's detection for `buffer_s` seconds of image
stamps (DetectionBuffer) and answers a window [start, end] from them: complete once a frame
at or after `end` has been tracked, valid when enough of its frames saw the marker
(`judge_window`).
"""

from collections import deque

import numpy as np

from icpi_ros.core.vision.tracker import Detection


class DetectionBuffer:
    """Stamped detections of the last `buffer_s` seconds (image stamps), oldest first."""

    def __init__(self, buffer_s: float) -> None:
        self.buffer_s = buffer_s  # settable at run time: applies from the next frame
        self._detections: deque[tuple[float, Detection]] = deque()

    def add(self, stamp: float, detection: Detection) -> None:
        """Keep one frame's detection; drop those older than `buffer_s` before it."""
        self._detections.append((stamp, detection))
        while self._detections and self._detections[0][0] < stamp - self.buffer_s:
            self._detections.popleft()

    def newest(self) -> float:
        """Return the stamp of the newest frame (-inf before the first)."""
        return self._detections[-1][0] if self._detections else -np.inf

    def window(self, start: float, end: float) -> list[tuple[float, Detection]]:
        """Return the detections stamped in [start, end], in order."""
        return [(t, d) for t, d in self._detections if start <= t <= end]


def judge_window(
    frames: int, coverage: float, min_coverage: float, start: float, end: float
) -> tuple[bool, str]:
    """Judge a complete window of tracked frames.

    Args:
        frames: the number of frames in the window.
        coverage: the fraction of them with a valid detection.
        min_coverage: the smallest fraction that makes a valid trajectory.
        start: the window's start (s), for the message.
        end: the window's end (s), for the message.

    Returns:
        Whether the trajectory is valid, and the message that says so or why not.

    """
    if not frames:
        return False, f'no frames between {start:.3f} and {end:.3f} s'
    if coverage < min_coverage:
        return False, (
            f'object seen in {coverage:.0%} of {frames} frames, below '
            f'min_coverage {min_coverage:.0%}: trajectory invalid'
        )
    return True, f'{frames} frames, coverage {coverage:.0%}'
