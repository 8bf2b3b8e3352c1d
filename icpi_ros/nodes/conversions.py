# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Conversions between ROS message fields and plain Python values."""

import math

from builtin_interfaces.msg import Duration, Time


def to_time(seconds: float) -> Time:
    """builtin_interfaces/Time from seconds."""
    sec = int(math.floor(seconds))
    nanosec = int(round((seconds - sec) * 1e9))
    if nanosec >= 1_000_000_000:
        sec, nanosec = sec + 1, nanosec - 1_000_000_000
    return Time(sec=sec, nanosec=nanosec)


def to_duration(seconds: float) -> Duration:
    """builtin_interfaces/Duration from non-negative seconds."""
    t = to_time(seconds)
    return Duration(sec=t.sec, nanosec=t.nanosec)


def seconds(stamp: Time | Duration) -> float:
    """Seconds of a Time or Duration."""
    return stamp.sec + stamp.nanosec * 1e-9
