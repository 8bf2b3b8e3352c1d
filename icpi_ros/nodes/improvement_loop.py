# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""improvement_loop: action `~/improve`, the ICPI loop over the graph, with run records.

Each iteration sends an ExecuteTrial goal to the trial executor, records the trial (fsynced),
asks the planner's NextPolicy service for the next theta and publishes feedback. The loop
itself is the core's `run_loop`, the same one `icpi improve` runs without ROS; one goal's
state is an `ImproveRun` (improve_run.py), the clients are in loop_clients.py. PromptPO on a
closed-loop task (push-gc) is the core's closed-loop search instead, each episode an
ExecuteTrial goal with the LLM's code (closed_loop_improve.py).
"""

from pathlib import Path

from icpi_interfaces.action import Improve
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from icpi_ros.core.records import default_runs_dir
from icpi_ros.core.tasks import load_tasks
from icpi_ros.nodes.closed_loop_improve import ClosedLoopImprove, is_closed_loop_promptpo
from icpi_ros.nodes.improve_run import ImproveRun
from icpi_ros.nodes.improvement_loop_params import declare_params
from icpi_ros.nodes.loop_clients import Codes, PlannerClient, TrialClient
from icpi_ros.nodes.runtime import LATCHED, OneGoalAtATime, run_node

NODE_NAME = 'improvement_loop'


class ImprovementLoop(Node):
    """Runs Improve goals one at a time."""

    def __init__(self) -> None:
        """Declare the parameters, create the clients and the action server."""
        super().__init__(NODE_NAME)
        self._params = params = declare_params(self)
        self._tasks = load_tasks(params.tasks_file or None)
        self._runs = Path(params.runs_dir) if params.runs_dir else default_runs_dir()
        group = ReentrantCallbackGroup()
        self._trials = TrialClient(self, params.executor_action, params.trial_timeout_s, group)
        self._planner = PlannerClient(self, params.planner_service, params.planner_timeout_s, group)
        self._goals = OneGoalAtATime(
            self,
            Improve,
            '~/improve',
            self._run,
            group,
            'run',
            lambda message: Improve.Result(error_code=Codes.BUSY, error_msg=message),
        )
        # The folder of the run going on, empty between runs (the run recorder's cue).
        self._run_pub = self.create_publisher(String, '~/run', LATCHED)
        self._run_pub.publish(String(data=''))
        self.get_logger().info(
            f'ready: action {self.resolve_topic_name("~/improve")}, runs in {self._runs}'
        )

    def drain(self, timeout_s: float) -> None:
        """Wait for a running Improve goal to end (it sees the stop event)."""
        self._goals.drain(timeout_s)

    def _run(self, handle) -> Improve.Result:
        """Execute one Improve goal (an executor thread); `~/run` names its folder meanwhile."""

        def describe(text: str) -> None:  # told once the run's record is open
            self._goals.describe_running(text)
            self._run_pub.publish(String(data=str(run.record.path.resolve())))

        if is_closed_loop_promptpo(self._tasks, handle.request):
            run = ClosedLoopImprove(
                handle,
                self._tasks[handle.request.task],
                self._runs,
                self._trials,
                self.get_logger(),
                describe,
                self._params.llm,
                self._params.promptpo_sandbox,
            )
        else:
            run = ImproveRun(
                handle,
                self._tasks,
                self._runs,
                self._trials,
                self._planner,
                self.get_logger(),
                describe,
            )
        try:
            return run.execute()
        finally:
            self._run_pub.publish(String(data=''))


def main(args: list[str] | None = None) -> None:
    """Run the improvement loop until Ctrl-C."""
    raise SystemExit(run_node(ImprovementLoop, args, threads=4))


if __name__ == '__main__':
    main()
