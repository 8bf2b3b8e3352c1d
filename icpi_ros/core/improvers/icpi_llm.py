# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""ICPI: retrieve the k nearest examples, ask the LLM to complete the pattern, parse its delta."""

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.llm import LLMClient, LLMConfig, LLMError
from icpi_ros.core.prompt import ResponseRejected, build_prompt, estimate_tokens, parse_delta


class IcpiLLM:
    """In-context policy improvement with an OpenAI-compatible chat model."""

    name = 'llm'

    def __init__(self, context: ImproverContext) -> None:
        if context.examples is None:
            raise ImproverFailed('llm needs an improvement dataset')
        self._examples = context.examples
        self._k = context.k
        self._encoding = context.encoding
        try:
            self._client = LLMClient(context.llm or LLMConfig.from_env(), context.stop)
        except LLMError as exc:
            raise ImproverFailed(str(exc)) from None

    def propose(self, query: PolicyQuery) -> Proposal:
        """Theta + the model's delta; the prompt, answer and usage go into the details."""
        index = self._examples.index(query.task)
        nb = index.nearest(query.theta, query.error, query.goal, self._k)
        prompt = build_prompt(
            query.task,
            index.dataset,
            nb.indices,
            query.theta,
            query.error,
            query.goal,
            self._encoding,
        )
        details = {
            'neighbours': nb.indices.tolist(),
            'messages': prompt.messages,
            'prompt_tokens_estimate': estimate_tokens(prompt.text),
        }
        try:
            completion = self._client.complete(prompt.messages)
        except LLMError as exc:
            raise ImproverFailed(f'LLM call failed: {exc}', details) from None
        details.update(completion.record())
        try:
            delta = parse_delta(completion.text, query.task)
        except ResponseRejected as exc:
            raise ImproverFailed(f'LLM answer rejected: {exc}', details) from None
        details['delta_theta'] = delta.tolist()
        return Proposal(query.theta + delta, details)
