# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Where the package's configuration files are, with or without a ROS install."""

import os
from pathlib import Path

CONFIG_DIR_ENV = 'ICPI_CONFIG_DIR'


def config_dir() -> Path:
    """Return the folder holding tasks.yaml and the node configs.

    Order: $ICPI_CONFIG_DIR; the source tree next to this package (checkouts, symlink
    installs); the installed package share (`share/icpi_ros/config`).
    """
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    source_tree = Path(__file__).resolve().parents[2] / 'config'
    if (source_tree / 'tasks.yaml').is_file():
        return source_tree
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory('icpi_ros')) / 'config'
    except (ImportError, LookupError):
        return source_tree


def config_file(name: str) -> Path:
    """Return the path of config file `name` (which may not exist)."""
    return config_dir() / name
