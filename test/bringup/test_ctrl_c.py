# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Ctrl-C of a whole graph, the way a terminal running `ros2 launch` delivers it.

The terminal sends SIGINT to every process of its group and ros2 launch forwards another, so
each node gets two SIGINTs milliseconds apart, at whatever it is doing: starting, idle, in a
trial, waiting for a plan. Every node must exit 0 with nothing on stderr but its log lines
(no traceback, no "exception was never retrieved"). The nodes get their parameters as
`ros2 launch` writes them (`NodeSpec.launched`).
"""

import contextlib
import os
import re
import signal
import socket
import threading
import time

import pytest
import rclpy
from icpi_interfaces.action import Improve
from rclpy.action import ActionClient

from icpi_ros.graph.bringup import Bringup
from icpi_ros.graph.demo import calibrate_sim_camera
from icpi_ros.graph.description import core_graph, sim_bridge

TASK = 'slide-gc'
FIRST_TRIAL_DONE = r'\]: trial \S+-0 '  # the executor's line after the first trial
ENTERED = r'^entry: importing '  # ICPI_TRACE_ENTRY: the entry point guards Ctrl-C from here
ROS_LOG_LINE = r'\[(DEBUG|INFO|WARN|ERROR|FATAL)\] \[\d+\.\d+\] \[\w+\]: '  # the rest is stray
SECOND_SIGINT_S = 0.003  # ros2 launch's forwarded SIGINT, after the terminal's


class SilentLLM:
    """An HTTP endpoint that accepts connections and never answers: planning never ends."""

    def __init__(self) -> None:
        self.sock = socket.create_server(('127.0.0.1', 0))
        self.url = f'http://127.0.0.1:{self.sock.getsockname()[1]}/v1'
        self.connected = threading.Event()
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            self.connected.set()

    def close(self) -> None:
        for conn in self._held:
            conn.close()
        self.sock.close()


def _graph(work, llm_url: str = '') -> Bringup:
    calibration = calibrate_sim_camera(TASK, work / 'calibration.yaml')
    improver = 'llm' if llm_url else 'knn_linear'
    core = core_graph(
        str(calibration),
        improver,
        str(work / 'runs'),
        use_sim_time=True,
        llm_base_url=llm_url,
        llm_model='silent' if llm_url else '',
    )
    specs = [sim_bridge(1.0), *core]
    return Bringup([spec.launched(work) for spec in specs], work)


def _ctrl_c(bringup: Bringup) -> list[str]:
    """SIGINT every process, twice within milliseconds; return the unclean exits."""
    processes = [p for p in bringup.graph.processes if p.proc.poll() is None]
    for _ in range(2):
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.proc.pid, signal.SIGINT)
        time.sleep(SECOND_SIGINT_S)
    problems = []
    for process in bringup.graph.processes:
        try:
            code = process.wait(15.0)
            process.assert_clean_exit(code)
            stray = [
                line
                for line in process.output('stderr').splitlines()
                if not re.match(f'{ENTERED}|{ROS_LOG_LINE}', line)
            ]
            assert not stray, f'{process.name} wrote to stderr:\n' + '\n'.join(stray)
        except (AssertionError, TimeoutError) as exc:
            problems.append(str(exc))
    return problems


def _stop(bringup: Bringup) -> None:
    try:
        problems = _ctrl_c(bringup)
    finally:
        bringup.stop()  # releases the domain (every process has exited or been killed)
    assert not problems, '\n\n'.join(problems)


@pytest.mark.parametrize('after_s', [0.0, 1.0])
def test_ctrl_c_while_the_graph_starts(tmp_path, after_s):
    """From the entry point on: importing, declaring parameters, creating the node.

    Before it (the interpreter and setuptools' script wrapper, ~0.1 s) Python's own
    KeyboardInterrupt is all there is.
    """
    bringup = _graph(tmp_path)
    bringup.graph.env['ICPI_TRACE_ENTRY'] = '1'
    for spec in bringup.specs:
        bringup.graph.start(spec.name, spec.argv(bringup.log_level), ENTERED)
    time.sleep(after_s)
    _stop(bringup)


def test_ctrl_c_when_idle(tmp_path):
    bringup = _graph(tmp_path)
    bringup.start()
    _stop(bringup)


def _improve_until(bringup: Bringup, moment: str, silent: SilentLLM | None = None) -> None:
    """Send an Improve goal; return at `moment`: 'trial' or 'planning' (waiting for the LLM)."""
    saved = dict(os.environ)
    os.environ.update(bringup.environment())
    rclpy.init()
    node = rclpy.create_node('ctrl_c_test')
    os.environ.clear()
    os.environ.update(saved)
    try:
        client = ActionClient(node, Improve, '/improvement_loop/improve')
        assert client.wait_for_server(timeout_sec=20.0)
        sent = client.send_goal_async(Improve.Goal(task=TASK, max_iterations=5))
        rclpy.spin_until_future_complete(node, sent, timeout_sec=10.0)
        assert sent.result().accepted
        executor = next(p for p in bringup.graph.processes if p.name == 'trial_executor')
        if moment == 'trial':
            time.sleep(1.0)  # the reset is done and the stroke is running (1.0 s at 1x)
            assert not re.search(FIRST_TRIAL_DONE, executor.output()), 'too late: trial done'
        else:
            executor.wait_for_output(FIRST_TRIAL_DONE, 20.0)
            assert silent is not None and silent.connected.wait(10.0)
            time.sleep(0.2)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def test_ctrl_c_mid_trial(tmp_path):
    bringup = _graph(tmp_path)
    bringup.start()
    try:
        _improve_until(bringup, 'trial')
    finally:
        _stop(bringup)


def test_ctrl_c_mid_planning(tmp_path):
    silent = SilentLLM()
    bringup = _graph(tmp_path, silent.url)
    bringup.start()
    try:
        _improve_until(bringup, 'planning', silent)
    finally:
        try:
            _stop(bringup)
        finally:
            silent.close()
