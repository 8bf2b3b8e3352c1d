# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_planner: answers `~/next_policy` with the next policy parameters for a task."""

import numpy as np
from icpi_interfaces.srv import NextPolicy
from rclpy.node import Node

from icpi_ros.core.improvers import IMPROVERS, Improver, make_improver
from icpi_ros.core.planning import ImproverFailed, make_query, next_policy
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.runtime import choice_validator, declare, run_node

NODE_NAME = 'icpi_planner'


class IcpiPlanner(Node):
    """Stateless planning service: (task, theta, error) -> clipped, finite theta_next."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        improvers = sorted(IMPROVERS)
        tasks_file = declare(
            self,
            'tasks_file',
            '',
            'Path of the task definitions (YAML); empty uses the package config/tasks.yaml.',
            read_only=True,
        )
        self._default_improver = declare(
            self,
            'improver',
            'random_shooting',
            'Improver used when a request leaves `improver` empty.',
            choices=improvers,
        )
        self._seed = declare(
            self,
            'seed',
            0,
            'Seed of the improvers random number generators.',
            read_only=True,
            int_range=(0, 2**31 - 1),
        )
        self.add_on_set_parameters_callback(choice_validator({'improver': improvers}))
        self.add_post_set_parameters_callback(self._on_parameters_set)

        self._tasks = load_tasks(tasks_file or None)
        self._improvers: dict[str, Improver] = {}
        self._service = self.create_service(NextPolicy, '~/next_policy', self._on_next_policy)
        self.get_logger().info(
            f'ready: {len(self._tasks)} tasks from {self._tasks.source}, improver '
            f'{self._default_improver!r}, service {self.resolve_service_name("~/next_policy")}'
        )

    def _on_parameters_set(self, params) -> None:
        for param in params:
            if param.name == 'improver':
                self._default_improver = param.value
                self.get_logger().info(f'default improver is now {param.value!r}')

    def _improver(self, name: str) -> Improver:
        if name not in self._improvers:
            self._improvers[name] = make_improver(name, self._seed)
        return self._improvers[name]

    def _on_next_policy(
        self, request: NextPolicy.Request, response: NextPolicy.Response
    ) -> NextPolicy.Response:
        try:
            task = self._tasks[request.task]
            query = make_query(task, request.theta, request.error, request.outcome, request.goal)
            improver = self._improver(request.improver or self._default_improver)
            step = next_policy(improver, query)
        except InvalidInput as exc:
            response.success = False
            response.message = f'rejected: {exc}'
            self.get_logger().warning(f'next_policy {response.message}')
            return response
        except ImproverFailed as exc:
            response.success = False
            response.message = f'improver failed: {exc}'
            self.get_logger().error(f'next_policy {response.message}')
            return response
        response.success = True
        response.theta_next = step.theta_next.tolist()
        response.delta_theta = step.delta_theta.tolist()
        response.improver_used = step.improver
        response.clipped = step.clipped
        response.message = f'{step.improver}' + (' (clipped to bounds)' if step.clipped else '')
        self.get_logger().debug(
            f'next_policy {task.name}: theta={np.round(query.theta, 4).tolist()} '
            f'-> {np.round(step.theta_next, 4).tolist()} by {step.improver}'
        )
        return response


def main(args: list[str] | None = None) -> None:
    """Run the planner node until Ctrl-C."""
    raise SystemExit(run_node(IcpiPlanner, args))


if __name__ == '__main__':
    main()
