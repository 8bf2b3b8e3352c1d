# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""sim_bridge as a real process: trajectories in, joint states and images out, bad input refused."""

import json
import signal
import sys

import numpy as np

READY = r'\[sim_bridge\]: ready'


def test_trajectory_moves_the_arm_and_the_camera_publishes(ros_graph):
    bridge = ros_graph.start('sim_bridge', ['sim_bridge'], ready=READY, timeout=30)
    done = ros_graph.run([sys.executable, 'test/nodes/helpers/bridge_probe.py'], timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])

    # The good trajectory turned the base by 0.3 rad in about 1 s of simulated time, starting at
    # its stamp, not before.
    np.testing.assert_allclose(np.array(got['final']) - got['home'], [0.3, 0, 0, 0], atol=0.01)
    assert 0.8 <= got['move_sim_s'] <= 1.6
    assert got['moved_before_start'] == []
    # The three bad ones were refused, with the reason in the log, and the sim kept running.
    for reason in ('unknown joints', 'joint elbow = 5.000', 'strictly increase'):
        bridge.wait_for_output(f'rejected trajectory: .*{reason}')
    # A real rendered image and matching intrinsics.
    assert got['image'] == [480, 640, 'rgb8', 1920]
    assert 30 < got['image_mean'] < 250
    assert got['images_during_move'] >= 5
    f = got['camera_k'][0]
    assert got['camera_k'][2] == 319.5 and got['camera_k'][5] == 239.5 and 500 < f < 650
    # Ground truth of the puck at its start.
    np.testing.assert_allclose(got['object'], [0.42, 0.0], atol=1e-3)
    # Reset: an unknown task is refused, a real one switches the scene.
    assert got['bad_reset'][0] is False and "unknown task 'nope'" in got['bad_reset'][1]
    assert got['good_reset'][0] is True and 'rope-swing' in got['good_reset'][1]
    bridge.assert_clean_exit(bridge.stop())


def test_sigterm_stops_the_bridge_cleanly(ros_graph):
    # Process managers send SIGTERM; the physics thread and renderer must wind down as on Ctrl-C.
    bridge = ros_graph.start('sim_bridge', ['sim_bridge'], ready=READY, timeout=30)
    bridge.assert_clean_exit(bridge.stop(sig=signal.SIGTERM))


def test_a_double_takes_an_integer_from_the_command_line(ros_graph):
    """`-p realtime_factor:=0` arrives as INTEGER; the DOUBLE parameter takes it (0 is allowed)."""
    bridge = ros_graph.start(
        'sim_bridge', ['sim_bridge', '--ros-args', '-p', 'realtime_factor:=0'], READY, timeout=30
    )
    bridge.wait_for_output(r'realtime_factor 0\b')
    bridge.assert_clean_exit(bridge.stop())
    bad = ros_graph.start('sim_bridge', ['sim_bridge', '--ros-args', '-p', 'realtime_factor:=x'])
    assert bad.wait(timeout=30) == 1
    assert "cannot start: parameter realtime_factor: expected a double, got 'x'" in bad.output()
