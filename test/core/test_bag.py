# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The run bag's file format: ros2msg schemas, JPEG frames, chunked writing, truncated reading."""

import cv2
import numpy as np
import pytest
from geometry_msgs.msg import Point
from icpi_interfaces.msg import TrialResult
from mcap_ros2.reader import read_ros2_messages
from rclpy.serialization import serialize_message
from sensor_msgs.msg import JointState

from icpi_ros.cli import main
from icpi_ros.core.bag import BagWriter, RateCap, compress_frame, message_definition
from icpi_ros.core.bag_read import ReadState, bag_path, read_messages, summarize
from icpi_ros.core.validation import InvalidInput

SEPARATOR = '=' * 80


def test_a_schema_is_the_msg_file_then_each_dependency_once():
    text = message_definition('icpi_interfaces/msg/TrialResult')
    own, *deps = text.split(SEPARATOR + '\n')
    assert 'ObjectTrajectory trajectory' in own and 'float64 cost' in own
    names = [dep.splitlines()[0] for dep in deps]
    # Header's Time and TrialResult's own start_stamp: one Time; ObjectTrajectory's Point too.
    assert sorted(names) == sorted(
        {
            'MSG: std_msgs/Header',
            'MSG: builtin_interfaces/Time',
            'MSG: icpi_interfaces/ObjectTrajectory',
            'MSG: geometry_msgs/Point',
        }
    )
    assert 'geometry_msgs/Point[] points' in text
    assert message_definition('sensor_msgs/JointState') == message_definition(
        'sensor_msgs/msg/JointState'
    )


@pytest.mark.parametrize(
    ('name', 'message'),
    [
        ('sensor_msgs/msg/NoSuchThing', 'no '),
        ('no_such_pkg/msg/X', 'not installed'),
        ('JointState', 'expected pkg/msg/Name'),
        ('pkg/srv/X', 'expected pkg/msg/Name'),
    ],
)
def test_an_unknown_type_is_refused(name, message):
    with pytest.raises(InvalidInput, match=message):
        message_definition(name)


def _trial(i: int) -> TrialResult:
    trial = TrialResult(trial_id=f'run-{i}', cost=0.01 * i, theta=[0.1, 0.2, float(i)])
    trial.trajectory.points = [Point(x=1.0, y=float(i))]
    return trial


def _write_bag(path, messages: int = 200, chunk_size: int = 2048, bag=None, first: int = 0):
    bag = bag or BagWriter(path, chunk_size=chunk_size)
    for i in range(first, first + messages):
        bag.write(
            '/joint_states',
            'sensor_msgs/msg/JointState',
            serialize_message(JointState(name=['j1'], position=[float(i)])),
            i * 10_000_000,
            i * 10_000_000,
        )
        if i % 50 == 0:
            bag.write(
                '/trial', 'icpi_interfaces/msg/TrialResult', serialize_message(_trial(i)), i, i
            )
    return bag


def test_a_closed_bag_decodes_with_mcap_ros2(tmp_path):
    path = tmp_path / 'run.mcap'
    _write_bag(path).close()
    decoded = list(read_ros2_messages(str(path)))
    trials = [m.ros_msg for m in decoded if m.channel.topic == '/trial']
    assert [t.trial_id for t in trials] == ['run-0', 'run-50', 'run-100', 'run-150']
    assert trials[1].trajectory.points[0].y == 50.0 and list(trials[1].theta) == [0.1, 0.2, 50.0]
    states = [m for m in decoded if m.channel.topic == '/joint_states']
    assert [m.ros_msg.position[0] for m in states] == [float(i) for i in range(200)]
    assert states[3].log_time_ns == 30_000_000 and states[0].schema.encoding == 'ros2msg'
    summary = summarize(path)
    assert summary.complete and summary.problem == '' and summary.messages == 204
    assert summary.topics['/trial'].type_name == 'icpi_interfaces/msg/TrialResult'
    assert summary.duration_s == pytest.approx(1.99)


def test_a_truncated_bag_is_read_up_to_its_last_complete_chunk(tmp_path):
    path = tmp_path / 'run.mcap'
    bag = _write_bag(path, 150)
    bag.sync()
    synced = path.stat().st_size  # what a SIGKILL now would leave: 150 states made durable
    _write_bag(path, 50, bag=bag, first=150)
    data = path.read_bytes()
    cut = tmp_path / 'cut.mcap'
    seen = []
    for size in (synced, synced // 2, 200, 8):
        cut.write_bytes(data[:size])
        summary = summarize(cut)
        assert not summary.complete and 'truncated' in summary.problem
        state = ReadState()
        read = read_messages(cut, ['/joint_states'], state)
        positions = [m.position[0] for _, _, m in read]
        assert positions == [float(i) for i in range(len(positions))]  # a prefix, in order
        assert not state.complete and state.problem and state.chunks == summary.chunks
        assert summary.messages >= len(positions)
        seen.append(len(positions))
    assert seen[0] == 150 and 0 < seen[1] < 150 and seen[2:] == [0, 0]
    bag.close()
    assert summarize(path).complete
    state = ReadState()
    assert len(list(read_messages(path, None, state))) == 204
    assert state.complete and state.problem == ''
    (tmp_path / 'text.mcap').write_text('not a bag at all')
    with pytest.raises(InvalidInput, match='not an MCAP file'):
        list(read_messages(tmp_path / 'text.mcap'))


def test_bag_info_says_what_a_bag_holds_and_flags_a_cut_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('ICPI_RUNS_DIR', str(tmp_path))
    (tmp_path / 'r1').mkdir()
    _write_bag(tmp_path / 'r1' / 'run.mcap').close()
    assert main(['bag', 'info', 'r1']) == 0
    out = capsys.readouterr().out
    assert 'closed' in out and 'messages: 204' in out and 'sensor_msgs/msg/JointState' in out
    data = (tmp_path / 'r1' / 'run.mcap').read_bytes()
    (tmp_path / 'cut.mcap').write_bytes(data[: len(data) // 3])
    assert main(['bag', 'info', str(tmp_path / 'cut.mcap'), '--json']) == 4
    captured = capsys.readouterr()
    assert 'not closed' in captured.err
    assert main(['bag', 'info', 'nope']) == 2
    assert 'no bag for' in capsys.readouterr().err
    (tmp_path / 'text.mcap').write_text('not a bag at all')
    assert main(['bag', 'info', str(tmp_path / 'text.mcap')]) == 2
    assert 'not an MCAP file' in capsys.readouterr().err
    assert bag_path(str(tmp_path / 'r1'), tmp_path) == tmp_path / 'r1' / 'run.mcap'


def test_a_frame_is_scaled_down_and_keeps_its_colours():
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, :320] = (255, 0, 0)  # left half red (RGB), right half green
    frame[:, 320:] = (0, 255, 0)
    jpeg = compress_frame(frame.tobytes(), 640, 480, 'rgb8', max_width=320, quality=80)
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    assert image[120, 40].tolist() == pytest.approx([0, 0, 255], abs=12)  # BGR: red
    assert image[120, 280].tolist() == pytest.approx([0, 255, 0], abs=12)
    small = compress_frame(bytes(12 * 4), 4, 4, 'bgr8', max_width=320, quality=80, step=12)
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == (4, 4, 3)
    # Row padding (step > width x channels) is dropped.
    padded = compress_frame(bytes(16 * 4), 4, 4, 'mono8', max_width=320, quality=80, step=16)
    assert cv2.imdecode(np.frombuffer(padded, np.uint8), cv2.IMREAD_UNCHANGED).shape == (4, 4)


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'encoding': 'yuv422'}, 'encoding'),
        ({'width': 8}, 'bytes'),
        ({'quality': 0}, 'quality'),
        ({'max_width': 0}, 'max_width'),
    ],
)
def test_a_bad_frame_is_refused(kwargs, message):
    args = {'width': 4, 'height': 4, 'encoding': 'rgb8', 'max_width': 320, 'quality': 80}
    args.update(kwargs)
    with pytest.raises(InvalidInput, match=message):
        compress_frame(bytes(48), **args)


def test_the_rate_cap_lets_one_frame_through_per_period_and_follows_a_clock_reset():
    cap = RateCap(10.0)
    times = [0, 50_000_000, 100_000_000, 150_000_000, 210_000_000, 5_000_000]
    assert [cap.admit(t) for t in times] == [True, False, True, False, True, True]
    assert all(RateCap(0.0).admit(t) for t in (5, 5, 5))
