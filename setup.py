# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""ament_python package icpi_ros: the ROS-free core, the nodes and the `icpi` command."""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'icpi_ros'
HERE = Path(__file__).parent


def _data(folder: str, pattern: str) -> list[str]:
    return sorted(str(p.relative_to(HERE)) for p in (HERE / folder).glob(pattern))


# One console script per node (entry points guard the import against Ctrl-C), plus `icpi`.
NODES = {
    'icpi_planner': 'icpi_ros.nodes.entry:icpi_planner',
    'sim_bridge': 'icpi_ros.nodes.entry:sim_bridge',
    'trajectory_tracker': 'icpi_ros.nodes.entry:trajectory_tracker',
    'trial_executor': 'icpi_ros.nodes.entry:trial_executor',
    'improvement_loop': 'icpi_ros.nodes.entry:improvement_loop',
    'run_recorder': 'icpi_ros.nodes.entry:run_recorder',
}

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=[PACKAGE, f'{PACKAGE}.*']),
    # Read with importlib.resources: the benchmarks page's row catalogue and prose template.
    package_data={f'{PACKAGE}.core.bench.report': ['catalogue.yaml', 'notes.md']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', _data('launch', '*.launch.py')),
        (f'share/{PACKAGE}/config', _data('config', '*.yaml') + _data('config', '*.json')),
        (f'share/{PACKAGE}/data', _data('data', '*.json') + ['data/README.md']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='icpi_ros maintainers',
    maintainer_email='maintainers@icpi-ros.org',
    description='In-context policy improvement for dynamic manipulation over ROS 2.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'icpi = icpi_ros.cli:main',
            *(f'{name} = {target}' for name, target in NODES.items()),
        ],
    },
)
