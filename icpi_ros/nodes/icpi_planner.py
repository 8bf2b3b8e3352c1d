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
    AUTO,
    FALLBACK_CHOICES,
    IMPROVERS,
    Improver,
    ImproverContext,
    ImproverFailed,
    make_improver,
    resolve_default,
    resolve_fallback,
)
from icpi_ros.core.llm import APIS, DEFAULT_MODEL, LLMConfig
from icpi_ros.core.planning import make_history, make_query, next_policy
from icpi_ros.core.promptpo.improver import MAX_CANDIDATES
from icpi_ros.core.promptpo.sandbox import ISOLATIONS
from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS, ExampleLibrary
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes.runtime import choice_validator, declare, run_node, stop_requested

NODE_NAME = 'icpi_planner'


class IcpiPlanner(Node):
    """Planning service: (task, theta, error) -> clipped, finite theta_next."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        names = sorted(IMPROVERS)
        choices = {'improver': [AUTO, *names], 'fallback_improver': ['', *FALLBACK_CHOICES]}
        tasks_file = declare(
            self,
            'tasks_file',
            '',
            'Path of the task definitions (YAML); empty uses the package config/tasks.yaml.',
            read_only=True,
        )
        self._improver_param = declare(
            self,
            'improver',
            AUTO,
            'Improver used when a request leaves `improver` empty; auto: llm when an LLM '
            'endpoint is configured, else knn_linear.',
            choices=choices['improver'],
        )
        self._fallback = declare(
            self,
            'fallback_improver',
            AUTO,
            'Improver that answers when the requested one fails (the LLM is down, or its '
            'answers are refused after the repairs); auto: knn_linear behind llm when the task '
            'has a dataset; none (or empty): fail the request instead.',
            choices=choices['fallback_improver'],
        )
        k = declare(
            self,
            'k',
            DEFAULT_K,
            'Examples retrieved per query (llm, knn_linear).',
            read_only=True,
            int_range=(1, 200),
        )
        encoding = declare(
            self,
            'encoding',
            'error',
            'Prompt and retrieval encoding: error (e = outcome - goal) or raw (outcome, goal).',
            read_only=True,
            choices=list(ENCODINGS),
        )
        datasets_dir = declare(
            self,
            'datasets_dir',
            '',
            'Folder of the improvement datasets (<task>.json); empty: the package data/.',
            read_only=True,
        )
        seed = declare(
            self,
            'seed',
            0,
            'Seed of the improvers random number generators.',
            read_only=True,
            int_range=(0, 2**31 - 1),
        )
        llm = LLMConfig.from_env(
            base_url=declare(
                self,
                'llm.base_url',
                '',
                'OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI); empty: '
                '$OPENAI_BASE_URL, else the OpenAI API. The key is read from $OPENAI_API_KEY '
                'only.',
                read_only=True,
            ),
            model=declare(
                self,
                'llm.model',
                '',
                f'Model; empty: $ICPI_LLM_MODEL, else {DEFAULT_MODEL}.',
                read_only=True,
            ),
            temperature=declare(
                self,
                'llm.temperature',
                0.0,
                'Sampling temperature.',
                read_only=True,
                float_range=(0.0, 2.0),
            ),
            max_tokens=declare(
                self,
                'llm.max_tokens',
                64,
                'Answer length limit (tokens).',
                read_only=True,
                int_range=(8, 4096),
            ),
            timeout_s=declare(
                self,
                'llm.timeout_s',
                30.0,
                'Timeout of one request (s).',
                read_only=True,
                float_range=(0.1, 600.0),
            ),
            max_retries=declare(
                self,
                'llm.max_retries',
                3,
                'Retries on timeouts, 429 and 5xx, with exponential backoff from 1 s.',
                read_only=True,
                int_range=(0, 10),
            ),
            api=declare(
                self,
                'llm.api',
                'chat',
                'Request form: chat (system + user turn) or completions (the example lines as '
                'one raw prompt with a newline stop, for base models).',
                read_only=True,
                choices=list(APIS),
            ),
            system_role=declare(
                self,
                'llm.system_role',
                True,
                'Send the instructions as a system turn; false: they open the user turn (for '
                'models without a system role).',
                read_only=True,
            ),
            reasoning=declare(
                self,
                'llm.reasoning',
                False,
                'A reasoning model: send max_completion_tokens and no temperature (also '
                'adapted automatically when the endpoint refuses them).',
                read_only=True,
            ),
            repair_attempts=declare(
                self,
                'llm.repair_attempts',
                2,
                'Re-asks after a refused answer, with the reason as a follow-up turn; then the '
                'fallback improver answers.',
                read_only=True,
                int_range=(0, 10),
            ),
        )
        promptpo_candidates = declare(
            self,
            'promptpo.candidates',
            4,
            'promptpo: candidate policies the LLM writes per round; each costs one trial.',
            read_only=True,
            int_range=(1, MAX_CANDIDATES),
        )
        promptpo_sandbox = declare(
            self,
            'promptpo.sandbox',
            'kernel',
            'promptpo: isolation of LLM-written code. kernel: bubblewrap namespaces + seccomp '
            '(promptpo refuses to start without them); rlimits: Python checks and rlimits '
            'only, weaker, warned in the log and the run record.',
            read_only=True,
            choices=list(ISOLATIONS),
        )
        self.add_on_set_parameters_callback(choice_validator(choices))
        self.add_post_set_parameters_callback(self._on_parameters_set)

        self._tasks = load_tasks(tasks_file or None)
        library = ExampleLibrary(datasets_dir or None, encoding=encoding)
        with_data = library.available(self._tasks)  # loads and indexes each dataset once
        self._improver_context = ImproverContext(
            seed=seed,
            k=k,
            encoding=encoding,
            examples=library,
            llm=llm,
            promptpo_candidates=promptpo_candidates,
            promptpo_sandbox=promptpo_sandbox,
            stop=stop_requested(),
            log=self.get_logger().warning,
        )
        self._default_improver = self._resolve(self._improver_param)
        self._improvers: dict[str, Improver] = {}
        if 'promptpo' in (self._default_improver, self._fallback):
            try:  # configured up front: refuse to start without its sandbox
                self._improver('promptpo')
            except ImproverFailed as exc:
                raise InvalidInput(f'promptpo: {exc}') from None
        self._service = self.create_service(NextPolicy, '~/next_policy', self._on_next_policy)
        endpoint = llm.describe() if llm.endpoint_configured else 'none'
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
