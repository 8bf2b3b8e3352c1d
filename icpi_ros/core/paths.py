# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Where the package's configuration and data files are, with or without a ROS install."""

import os
import subprocess
from pathlib import Path

CONFIG_DIR_ENV = 'ICPI_CONFIG_DIR'
DATA_DIR_ENV = 'ICPI_DATA_DIR'


def _package_dir(kind: str, env: str, marker: str) -> Path:
    """Return `$env`, the source tree's `kind` folder (if it has `marker`), or the share."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    source_tree = Path(__file__).resolve().parents[2] / kind
    if (source_tree / marker).exists():
        return source_tree
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory('icpi_ros')) / kind
    except (ImportError, LookupError):
        return source_tree


def config_dir() -> Path:
    """Return the folder holding tasks.yaml and the node configs.

    Order: $ICPI_CONFIG_DIR; the source tree next to this package (checkouts, symlink
    installs); the installed package share (`share/icpi_ros/config`).
    """
    return _package_dir('config', CONFIG_DIR_ENV, 'tasks.yaml')


def config_file(name: str) -> Path:
    """Return the path of config file `name` (which may not exist)."""
    return config_dir() / name


def data_dir() -> Path:
    """Return the folder holding the shipped improvement datasets (`<task>.json`).

    Same order as `config_dir`, with $ICPI_DATA_DIR and `share/icpi_ros/data`.
    """
    return _package_dir('data', DATA_DIR_ENV, 'README.md')


def source_commit() -> str | None:
    """Return the git commit of the source tree this package runs from, for provenance.

    Returns:
        The full commit hash, with `-dirty` appended when tracked files have changes; None
        when the package does not run from a git checkout (an installed copy) or git fails.

    """
    tree = Path(__file__).resolve().parents[2]
    if not (tree / '.git').exists():  # a folder in a checkout, a file in a worktree
        return None
    describe = ['describe', '--always', '--dirty', '--abbrev=40', '--exclude=*']  # no tags
    try:
        done = subprocess.run(
            ['git', '-C', str(tree), *describe],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None
