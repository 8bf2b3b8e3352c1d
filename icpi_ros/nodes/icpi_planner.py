# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""icpi_planner: answers `~/next_policy` with the next policy parameters for a task.

Each request carries task, theta and error (or outcome and goal); `llm`, `knn_*` and
`random_shooting` need nothing else. `bayes_opt` rebuilds its study from the run's history
that the request carries; `promptpo` keeps its rounds per run id (synchronised with that
history). Datasets are loaded once at start. The LLM call runs inside the service callback,
bounded by `llm.timeout_s` and `llm.max_retries`; nothing else shares this node.
"""

import json
import time

import numpy as np
from icpi_interfaces.srv import NextPolicy
from rclpy.node import Node

from icpi_ros.core.improvers import (
    Improver,
    ImproverContext,
    ImproverFailed,
    make_improver,
    resolve_default,
    resolve_fallback,
)
from icpi_ros.core.planning import make_history, make_query, next_policy
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.icpi_planner_params import CHOICES, declare_params
from icpi_ros.nodes.runtime import choice_validator, run_node, stop_requested

NODE_NAME = 'icpi_planner'


class IcpiPlanner(Node):
    """Planning service: (task, theta, error) -> clipped, finite theta_next."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = params = declare_params(self)
        self.add_on_set_parameters_callback(choice_validator(CHOICES))
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._tasks = load_tasks(params.tasks_file or None)
        library = ExampleLibrary(params.datasets_dir or None, encoding=params.encoding)
        with_data = library.available(self._tasks)  # loads and indexes each dataset once
        self._improver_context = ImproverContext(
            seed=params.seed,
            k=params.k,
            encoding=params.encoding,
            examples=library,
            llm=params.llm,
            promptpo_candidates=params.promptpo_candidates,
            promptpo_sandbox=params.promptpo_sandbox,
            episode_memory=params.episode_memory,
            stop=stop_requested(),
            log=self.get_logger().warning,
        )
        # The run-time values of improver (resolved) and fallback_improver.
        self._default_improver = self._resolve(params.improver)
        self._fallback = params.fallback_improver
        self._improvers: dict[str, Improver] = {}
        if 'promptpo' in (self._default_improver, self._fallback):
            try:  # configured up front: refuse to start without its sandbox
                self._improver('promptpo')
            except ImproverFailed as exc:
                raise InvalidInput(f'promptpo: {exc}') from None
        self._service = self.create_service(NextPolicy, '~/next_policy', self._on_next_policy)
        endpoint = params.llm.describe() if params.llm.endpoint_configured else 'none'
        self.get_logger().info(
            f'ready: {len(self._tasks)} tasks from {self._tasks.source}; datasets for '
            f'{", ".join(with_data) or "no task"} from {library.directory}; improver '
            f'{self._default_improver!r}, fallback {self._fallback or "none"}; LLM endpoint '
            f'{endpoint}; service {self.resolve_service_name("~/next_policy")}'
        )

    def _resolve(self, name: str) -> str:
        resolved, warning = resolve_default(name, self._improver_context.llm)
        if warning:
            self.get_logger().warning(warning)
        return resolved

    def _on_parameters_set(self, params) -> None:
        for param in params:
            if param.name == 'improver':
                self._default_improver = self._resolve(param.value)
                self.get_logger().info(f'default improver is now {self._default_improver!r}')
            elif param.name == 'fallback_improver':
                self._fallback = param.value
                self.get_logger().info(f'fallback improver is now {param.value or "none"!r}')

    def _improver(self, name: str) -> Improver:
        if name not in self._improvers:
            self._improvers[name] = make_improver(name, self._improver_context)
            warning = getattr(self._improvers[name], 'warning', '')
            if warning:
                self.get_logger().warning(warning)
        return self._improvers[name]

    def _reject(self, response: NextPolicy.Response, message: str, details=None):
        response.success = False
        response.message = message
        response.details_json = json.dumps(details or {})
        self.get_logger().warning(f'next_policy {message}')
        return response

    def _on_next_policy(
        self, request: NextPolicy.Request, response: NextPolicy.Response
    ) -> NextPolicy.Response:
        started = time.perf_counter()
        try:
            response = self._answer(request, response)
        finally:
            response.compute_s = time.perf_counter() - started
        return response

    def _answer(self, request: NextPolicy.Request, response: NextPolicy.Response):
        try:
            task = self._tasks[request.task]
            history = make_history(task, request.history_theta, request.history_outcome)
            query = make_query(
                task,
                request.theta,
                request.error,
                request.outcome,
                request.goal,
                request.run_id,
                history,
            )
            name = self._resolve(request.improver) if request.improver else self._default_improver
            improver = self._improver(name)
            fallback_name = resolve_fallback(
                self._fallback, name, task.name, self._improver_context.examples
            )
            fallback = self._improver(fallback_name) if fallback_name else None
        except InvalidInput as exc:
            return self._reject(response, f'rejected: {exc}')
        except ImproverFailed as exc:
            return self._reject(response, f'improver unavailable: {exc}')
        try:
            step = next_policy(improver, query, fallback)
        except (ImproverFailed, InvalidInput) as exc:
            return self._reject(response, f'improver failed: {exc}', getattr(exc, 'details', {}))
        response.success = True
        response.theta_next = step.theta_next.tolist()
        response.delta_theta = step.delta_theta.tolist()
        response.improver_used = step.improver
        response.clipped = step.clipped
        notes = [step.improver]
        if step.fallback_reason:
            notes.append(f'fallback after: {step.fallback_reason}')
            self.get_logger().warning(f'next_policy used {step.improver}: {step.fallback_reason}')
        if step.clipped:
            notes.append('clipped to bounds')
        response.message = '; '.join(notes)
        response.details_json = json.dumps(step.details)
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
