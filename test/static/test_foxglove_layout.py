# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""config/foxglove_layout.json: valid JSON, every panel placed, every topic one the bag has."""

import json
import re

from icpi_ros.nodes.run_recorder import IMAGE_TOPIC, TOPICS


def _panels(tree) -> list[str]:
    if isinstance(tree, str):
        return [tree]
    return _panels(tree['first']) + _panels(tree['second'])


def _topics(value) -> set[str]:
    """Topic names in a panel's config: message paths start with the topic."""
    found = set()
    if isinstance(value, dict):
        for item in value.values():
            found |= _topics(item)
    elif isinstance(value, list):
        for item in value:
            found |= _topics(item)
    elif isinstance(value, str) and value.startswith('/'):
        found.add(re.match(r'(/[\w/]+)', value).group(1))
    return found


def test_the_layout_places_every_panel_and_names_only_recorded_topics(repo_root):
    layout = json.loads((repo_root / 'config' / 'foxglove_layout.json').read_text())
    panels = layout['configById']
    assert sorted(_panels(layout['layout'])) == sorted(panels)
    recorded = {*TOPICS, f'{IMAGE_TOPIC}/compressed'}
    used = _topics(panels)
    assert used <= recorded, used - recorded
    assert panels['Image!camera']['imageMode']['imageTopic'] == f'{IMAGE_TOPIC}/compressed'
    assert '/trial_executor/trial_result' in used and '/trajectory_tracker/trajectory' in used
