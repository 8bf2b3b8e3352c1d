# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Camera-based tracking: camera model, colour segmentation, plane projection, trajectories."""
