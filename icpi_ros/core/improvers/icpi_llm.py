# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""ICPI: retrieve the k nearest examples, ask the LLM to complete the pattern, read its delta.

A refused answer (see icpi_ros.core.answers) is not the end of the step: the model is asked
again up to `LLMConfig.repair_attempts` times. In chat form the refused answer and the reason
go back as two more turns (a repair prompt); in completions form, which has no turns, the same
text is sent again at `REPAIR_TEMPERATURE` so that the model can answer differently. Every
exchange is kept in the step's details (`exchanges`), also when the step fails.
"""

import numpy as np

from icpi_ros.core.answers import ResponseRejected, parse_delta
from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.llm import Completion, LLMClient, LLMConfig, LLMError
from icpi_ros.core.prompt import Prompt, build_prompt, estimate_tokens
from icpi_ros.core.tasks import TaskSpec

REPAIR_TEMPERATURE = 0.7
# The completions form stops at the end of the answer line.
COMPLETION_STOP = ['\n']


def repair_turn(task: TaskSpec, reason: str) -> str:
    """Return the follow-up turn after a refused answer: why, and the format again."""
    names = ', '.join(p.name for p in task.parameters)
    return (
        f'Your answer was refused: {reason}. Reply with exactly {task.theta_dim} numbers '
        f'separated by spaces (the change of {names}) and nothing else.'
    )


def _sum_usage(exchanges: list[dict]) -> dict:
    total: dict[str, int] = {}
    for exchange in exchanges:
        for key, value in exchange.get('usage', {}).items():
            total[key] = total.get(key, 0) + value
    return total


class IcpiLLM:
    """In-context policy improvement with an OpenAI-compatible model."""

    name = 'llm'

    def __init__(self, context: ImproverContext) -> None:
        if context.examples is None:
            raise ImproverFailed('llm needs an improvement dataset')
        self._examples = context.examples
        self._k = context.k
        self._encoding = context.encoding
        self._episode_memory = context.episode_memory
        self._config = context.llm or LLMConfig.from_env()
        try:
            self._client = LLMClient(self._config, context.stop, context.log)
        except LLMError as exc:
            raise ImproverFailed(str(exc)) from None

    def _ask(self, prompt: Prompt, task: TaskSpec, refused: list[tuple[str, str]]) -> Completion:
        if self._config.api == 'completions':
            temperature = REPAIR_TEMPERATURE if refused else None
            return self._client.complete_text(prompt.completion_text, COMPLETION_STOP, temperature)
        messages = list(prompt.messages)
        for answer, reason in refused:
            messages += [
                {'role': 'assistant', 'content': answer},
                {'role': 'user', 'content': repair_turn(task, reason)},
            ]
        return self._client.complete(messages)

    def propose(self, query: PolicyQuery) -> Proposal:
        """Theta + the model's delta; every exchange with the model goes into the details."""
        task = query.task
        index = self._examples.index(task)
        episode = query.episode_examples() if self._episode_memory else None
        nb = index.nearest(query.theta, query.error, query.goal, self._k, episode)
        rows = index.rows(nb, episode)
        prompt = build_prompt(
            task,
            rows,
            np.arange(len(rows)),
            query.theta,
            query.error,
            query.goal,
            self._encoding,
            from_episode=rows.from_episode,
        )
        chat = self._config.api == 'chat'
        exchanges: list[dict] = []
        details = {
            **nb.record(episode),
            'api': self._config.api,
            **({'messages': prompt.messages} if chat else {'prompt': prompt.completion_text}),
            'prompt_tokens_estimate': estimate_tokens(prompt.text),
            'exchanges': exchanges,
        }
        refused: list[tuple[str, str]] = []
        for attempt in range(self._config.repair_attempts + 1):
            if attempt and chat:
                exchanges[-1]['repair_prompt'] = repair_turn(task, refused[-1][1])
            try:
                completion = self._ask(prompt, task, refused)
            except LLMError as exc:
                exchanges.append({'error': str(exc)})
                details['usage'] = _sum_usage(exchanges)
                raise ImproverFailed(f'LLM call failed: {exc}', details) from None
            exchanges.append(completion.record())
            try:
                delta = parse_delta(completion.text, task, completion.finish_reason)
            except ResponseRejected as exc:
                exchanges[-1]['refused'] = str(exc)
                refused.append((completion.text, str(exc)))
                continue
            details.update(
                response=completion.text,
                delta_theta=delta.tolist(),
                repairs=attempt,
                usage=_sum_usage(exchanges),
            )
            return Proposal(query.theta + delta, details)
        details['usage'] = _sum_usage(exchanges)
        raise ImproverFailed(
            f'LLM answer rejected {len(refused)} times, last: {refused[-1][1]}', details
        )
