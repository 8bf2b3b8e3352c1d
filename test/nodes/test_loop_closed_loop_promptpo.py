# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The improvement loop refuses closed-loop PromptPO it cannot run, before anything runs.

Only the loop node runs (no executor, no planner): without an LLM endpoint, with settings the
search cannot take, or as a resume, a push-gc promptpo goal is refused with a clear message
and no run record.
"""

from action_msgs.msg import GoalStatus
from icpi_interfaces.action import Improve

from icpi_ros.graph.client import ICPIClient

Codes = Improve.Result


def test_closed_loop_promptpo_without_an_endpoint_is_refused(ros_graph, monkeypatch, tmp_path):
    for name in ('OPENAI_BASE_URL', 'OPENAI_API_KEY'):
        monkeypatch.delenv(name, raising=False)
    runs = tmp_path / 'runs'
    ros_graph.start(
        'improvement_loop',
        ['improvement_loop', '--ros-args', '-p', f'runs_dir:={runs}'],
        ready=r'\]: ready',
    )
    monkeypatch.setenv('ROS_DOMAIN_ID', str(ros_graph.domain_id))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    client = ICPIClient(node_name='closed_loop_refusal_test')
    try:
        answers = [
            client.improve('push-gc', improver='promptpo', promptpo=(1, 2, 1)),
            client.improve('push-gc', improver='promptpo', promptpo=(0, 0, 21)),
            client.improve('push-gc', improver='promptpo', resume_run_id='latest'),
            client.improve('nope', improver='promptpo'),  # the θ loop's refusal, as before
        ]
    finally:
        client.close()
    for status, _ in answers:
        assert status == GoalStatus.STATUS_ABORTED
    (_, endpoint), (_, episodes), (_, resume), (_, unknown) = answers
    assert endpoint.error_code == Codes.INVALID_GOAL
    assert 'promptpo on push-gc needs an LLM endpoint: set llm.base_url' in endpoint.error_msg
    assert episodes.error_code == Codes.INVALID_GOAL
    assert 'promptpo_episodes must be in [1, 20], got 21' in episodes.error_msg
    assert resume.error_code == Codes.RESUME_FAILED and 'cannot be resumed' in resume.error_msg
    assert unknown.error_code == Codes.INVALID_GOAL and "unknown task 'nope'" in unknown.error_msg
    assert not any(r.run_id for _, r in answers) and not runs.exists()
