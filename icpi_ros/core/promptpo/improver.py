# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO: the LLM writes policies as Python code, each candidate is tried on the robot.

Each round the LLM reads the task as Python source (`task_source`), the trials so far at
this goal and the best code so far, and writes N candidate `policy(goal)` functions. Each is
run in the sandbox (`sandbox`); the validated, clipped thetas are proposed one per call, so
one candidate costs exactly one trial, like one iteration of the other improvers, and budgets
compare at equal numbers of trials. A candidate the sandbox refuses costs no trial: it is
reported in the details. When a round's candidates are all
scored, the next call asks for the next round.

The planner service is stateless, so the state is kept per run (the run id of the query; a
call by hand without one: per task and goal) and synchronised with the run's history, like
bayes_opt: each call brings the theta just executed and its error, which is attributed to
the candidate that proposed that theta.
"""

import dataclasses

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.improvers.episodes import EpisodeCache, episode_key
from icpi_ros.core.llm import Completion, LLMClient, LLMConfig, LLMError
from icpi_ros.core.prompt import estimate_tokens
from icpi_ros.core.promptpo.prompting import extract_code, retry_message, round_messages
from icpi_ros.core.promptpo.sandbox import (
    SandboxLimits,
    SandboxUnavailable,
    evaluate_policies,
    require_isolation,
)
from icpi_ros.core.promptpo.state import Candidate, Episode

MAX_CANDIDATES = 16
# Answer length allowed per candidate asked for (the configured max_tokens is for ICPI).
TOKENS_PER_CANDIDATE = 512
MAX_ANSWER_TOKENS = 8192


def _llm_record(messages: list[dict], completion: Completion | None) -> dict:
    record: dict = {
        'messages': messages,
        'prompt_tokens_estimate': estimate_tokens('\n'.join(m['content'] for m in messages)),
    }
    if completion is not None:
        record.update(completion.record())
    return record


class PromptPO:
    """Policies written by an OpenAI-compatible chat model, run in the sandbox."""

    name = 'promptpo'

    def __init__(self, context: ImproverContext, limits: SandboxLimits | None = None) -> None:
        n = context.promptpo_candidates
        if not 1 <= n <= MAX_CANDIDATES:
            raise ImproverFailed(f'promptpo.candidates must be in [1, {MAX_CANDIDATES}], got {n}')
        self._n = n
        self._limits = limits or SandboxLimits(isolation=context.promptpo_sandbox)
        try:
            # Refuse to start without kernel isolation (unless the weaker one is asked for).
            self.warning = require_isolation(self._limits.isolation)
        except (SandboxUnavailable, ValueError) as exc:
            raise ImproverFailed(str(exc)) from None
        self._sandbox = {'isolation': self._limits.isolation}
        if self.warning:
            self._sandbox['warning'] = self.warning
        self._stop = context.stop
        config = context.llm or LLMConfig.from_env()
        tokens = min(MAX_ANSWER_TOKENS, max(config.max_tokens, TOKENS_PER_CANDIDATE * n))
        try:
            self._client = LLMClient(dataclasses.replace(config, max_tokens=tokens), context.stop)
        except LLMError as exc:
            raise ImproverFailed(str(exc)) from None
        self._episodes: EpisodeCache[Episode] = EpisodeCache()

    def _episode(self, query: PolicyQuery) -> Episode:
        goal = query.episode_goal()
        if goal is None:
            raise ImproverFailed('promptpo needs the goal: send it with the error or outcome')
        episode = self._episodes.get(episode_key(query, goal), lambda: Episode(query.task, goal))
        episode.sync(query)
        return episode

    def propose(self, query: PolicyQuery) -> Proposal:
        """Score the query's trial, then return the next candidate (a new round if needed)."""
        episode = self._episode(query)
        details: dict = {'scored': episode.record(query)}
        if not episode.queue:
            details.update(self._new_round(episode))
        candidate = episode.queue.popleft()
        candidate.status = 'proposed'
        episode.awaiting = candidate
        details.update(
            round=candidate.round,
            candidate=candidate.index,
            code_sha=candidate.sha,
            code=candidate.code,
            clipped=candidate.result.clipped,
            sandbox_s=round(candidate.result.seconds, 4),
            best=episode.summary(),
            trials=len(episode.trials),
            llm_calls=episode.llm_calls,
            sandbox=dict(self._sandbox),
        )
        if candidate.result.printed:
            details['printed'] = candidate.result.printed
        return Proposal(candidate.result.theta.copy(), details)

    def _ask(self, messages: list[dict], calls: list[dict], failure: dict) -> Completion:
        if self._stop.is_set():
            raise ImproverFailed('promptpo: stopped', failure)
        try:
            completion = self._client.complete(messages)
        except LLMError as exc:
            calls.append(_llm_record(messages, None))
            raise ImproverFailed(f'LLM call failed: {exc}', failure) from None
        calls.append(_llm_record(messages, completion))
        return completion

    def _new_round(self, episode: Episode) -> dict:
        """Ask for N candidates (a second time, with the errors, if none is usable)."""
        messages = round_messages(episode, self._n, self._limits)
        episode.round += 1
        calls: list[dict] = []
        rejected: list[dict] = []
        info = {'new_round': episode.round, 'llm': calls, 'rejected': rejected}
        for attempt in (1, 2):
            completion = self._ask(messages, calls, info)
            episode.llm_calls += 1
            blocks = extract_code(completion.text)
            if len(blocks) > self._n:
                info['ignored_blocks'] = len(blocks) - self._n
            codes = blocks[: self._n]
            results = evaluate_policies(episode.task, codes, episode.goal, self._limits)
            pairs = enumerate(zip(codes, results, strict=True))
            candidates = [Candidate(episode.round, i, code, result) for i, (code, result) in pairs]
            this_attempt = self._screen(candidates, attempt)
            if not codes:
                this_attempt.append(
                    {'attempt': attempt, 'candidate': None, 'reason': 'no ```python block'}
                )
            rejected += this_attempt
            info['round_sandbox_s'] = [round(result.seconds, 4) for result in results]
            valid = [c for c in candidates if c.status == 'valid']
            if valid:
                episode.candidates = candidates
                episode.queue.extend(valid)
                info['valid'] = len(valid)
                return info
            messages = [
                *messages,
                {'role': 'assistant', 'content': completion.text},
                {'role': 'user', 'content': retry_message(this_attempt, self._n)},
            ]
        episode.candidates = []
        reasons = '; '.join(f'{r["candidate"]}: {r["reason"]}' for r in rejected)[:500]
        raise ImproverFailed(
            f'promptpo round {episode.round}: no candidate gave a usable theta in 2 answers '
            f'({reasons})',
            info,
        )

    @staticmethod
    def _screen(candidates: list[Candidate], attempt: int) -> list[dict]:
        """Mark failed and duplicate candidates rejected; return their reports."""
        reports = []
        seen: dict[tuple, int] = {}
        for candidate in candidates:
            reason, stage = candidate.result.reason, candidate.result.stage
            if candidate.result.ok:
                key = tuple(np.round(candidate.result.theta, 12))
                if key in seen:
                    reason, stage = f'same theta as candidate {seen[key]}', 'duplicate'
                else:
                    seen[key] = candidate.index
                    continue
            candidate.status, candidate.reason = 'rejected', reason
            reports.append(
                {
                    'attempt': attempt,
                    'candidate': candidate.index,
                    'code_sha': candidate.sha,
                    'reason': reason,
                    'stage': stage,
                }
            )
        return reports
