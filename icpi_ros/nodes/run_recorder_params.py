# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The run recorder's parameters, declared in one place: `declare_params(node)`.

All are read-only.
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.nodes.runtime import declare


@dataclass(frozen=True)
class RunRecorderParams:
    """Every run_recorder parameter, as declared at start-up."""

    record_images: bool
    image_max_width: int
    image_jpeg_quality: int
    image_max_rate_hz: float
    chunk_bytes: int
    flush_period_s: float
    close_delay_s: float
    preroll_s: float


def declare_params(node: Node) -> RunRecorderParams:
    """Declare the recorder's parameters on `node` and return their values."""
    return RunRecorderParams(
        record_images=declare(
            node,
            'record_images',
            True,
            'Record the camera as JPEG on <image topic>/compressed.',
            read_only=True,
        ),
        image_max_width=declare(
            node,
            'image_max_width',
            640,
            'Recorded frames are scaled down to at most this width (px), aspect kept.',
            read_only=True,
            int_range=(16, 8192),
        ),
        image_jpeg_quality=declare(
            node,
            'image_jpeg_quality',
            75,
            'JPEG quality of the recorded frames.',
            read_only=True,
            int_range=(1, 100),
        ),
        image_max_rate_hz=declare(
            node,
            'image_max_rate_hz',
            15.0,
            'At most this many recorded frames per second of the graph clock; 0: every frame.',
            read_only=True,
            float_range=(0.0, 1000.0),
        ),
        chunk_bytes=declare(
            node,
            'chunk_bytes',
            1048576,
            'MCAP chunk size (bytes, before compression); each finished chunk is fsynced.',
            read_only=True,
            int_range=(1024, 1 << 30),
        ),
        flush_period_s=declare(
            node,
            'flush_period_s',
            2.0,
            'Wall seconds between forced chunk ends (fsynced): the most a SIGKILL loses.',
            read_only=True,
            float_range=(0.1, 3600.0),
        ),
        close_delay_s=declare(
            node,
            'close_delay_s',
            1.0,
            'Wall seconds the bag stays open after its run ends, for messages still in flight.',
            read_only=True,
            float_range=(0.0, 60.0),
        ),
        preroll_s=declare(
            node,
            'preroll_s',
            5.0,
            'A new bag starts with the messages of this many seconds (graph clock) before it '
            'opened: the run topic can reach the recorder after the run has begun.',
            read_only=True,
            float_range=(0.0, 60.0),
        ),
    )
