# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The tracker's parameters, declared in one place: `declare_params(node)`.

`min_coverage` and `buffer_s` may be set at run time: TrajectoryTrackerParams holds their
start-up values; the node applies new ones where they are used (the tracker configuration of
the next request, the detection buffer from the next frame: `_on_parameters_set`). Every other
parameter is read-only.
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.tracker import TrackerConfig
from icpi_ros.nodes.runtime import declare

RELIABILITIES = ('reliable', 'best_effort')


@dataclass(frozen=True)
class TrajectoryTrackerParams:
    """Every trajectory_tracker parameter, as declared at start-up."""

    calibration_file: str
    tracker: TrackerConfig  # hsv_*, min_area_px, plane_*, reject_border, min_coverage
    buffer_s: float  # start-up value; settable at run time
    publish_debug_image: bool
    image_reliability: str


def declare_params(node: Node) -> TrajectoryTrackerParams:
    """Declare the tracker's parameters on `node` and return their values.

    Raises:
        InvalidInput: no colour range, or a tracker configuration that does not make sense.

    """
    calibration = declare(
        node, 'calibration_file', '', 'Camera pose YAML from `icpi calibrate`.', read_only=True
    )
    ranges = []
    for suffix in ('', '_2'):
        low = declare(node, f'hsv_low{suffix}', [0, 0, 0], 'HSV lower bound.', read_only=True)
        high = declare(node, f'hsv_high{suffix}', [0, 0, 0], 'HSV upper bound.', read_only=True)
        if any(high):
            ranges.append((tuple(low), tuple(high)))
    normal = declare(
        node, 'plane_normal', [0.0, 0.0, 1.0], 'Normal of the marker plane.', read_only=True
    )
    tracker = TrackerConfig(
        hsv_ranges=tuple(ranges),
        min_area_px=declare(node, 'min_area_px', 20, 'Smallest blob, px.', read_only=True),
        plane_normal=tuple(normal),
        plane_offset=declare(
            node, 'plane_offset', 0.042, 'Marker plane offset (m).', read_only=True
        ),
        reject_border=declare(
            node, 'reject_border', True, 'Refuse blobs touching the border.', read_only=True
        ),
        min_coverage=declare(
            node,
            'min_coverage',
            0.8,
            'Minimum detected fraction. Settable at run time: applies to the next request.',
            float_range=(0.0, 1.0),
        ),
    )
    if not ranges:
        raise InvalidInput('parameters hsv_low/hsv_high: no colour range given')
    return TrajectoryTrackerParams(
        calibration_file=calibration,
        tracker=tracker,
        buffer_s=declare(
            node,
            'buffer_s',
            30.0,
            'Seconds of detections kept. Settable at run time: applies from the next frame.',
            float_range=(1.0, 600.0),
        ),
        publish_debug_image=declare(
            node, 'publish_debug_image', False, 'Publish ~/debug_image.', read_only=True
        ),
        image_reliability=declare(
            node,
            'image_reliability',
            'reliable',
            'QoS reliability of the camera pair (image_raw and camera_info, which one driver '
            'publishes alike). Full frames are large: best effort over UDP drops most of them '
            'unless the DDS socket buffers are raised.',
            read_only=True,
            choices=RELIABILITIES,
        ),
    )
