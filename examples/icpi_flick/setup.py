# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""For colcon (ament_python): the metadata and the entry point are in pyproject.toml."""

from setuptools import setup

setup(
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/icpi_flick']),
        ('share/icpi_flick', ['package.xml']),
    ],
)
