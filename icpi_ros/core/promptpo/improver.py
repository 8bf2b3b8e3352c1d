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
import hashlib
import re
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from icpi_ros.core.improvers.base import ImproverContext, ImproverFailed, PolicyQuery, Proposal
from icpi_ros.core.llm import Completion, LLMClient, LLMConfig, LLMError
from icpi_ros.core.prompt import estimate_tokens
from icpi_ros.core.promptpo.sandbox import (
    SandboxLimits,
    SandboxResult,
    SandboxUnavailable,
    evaluate_policies,
    require_isolation,
)
from icpi_ros.core.promptpo.task_source import render_task_source
from icpi_ros.core.scoring import COST_FUNCTIONS
from icpi_ros.core.tasks import TaskSpec

# Episodes kept at most (one per run, or per task and goal); the oldest is dropped first.
MAX_EPISODES = 64
MAX_CANDIDATES = 16
# Answer length allowed per candidate asked for (the configured max_tokens is for ICPI).
TOKENS_PER_CANDIDATE = 512
MAX_ANSWER_TOKENS = 8192
# Trials listed in the prompt: the most recent ones (the best is always shown with its code).
FEEDBACK_TRIALS = 40
DECIMALS = 4
_FENCED = re.compile(r'```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```', re.DOTALL | re.IGNORECASE)


def extract_code(text: str) -> list[str]:
    """Return the fenced code blocks of an answer (or the whole answer if it is bare code)."""
    blocks = [b.strip('\n') + '\n' for b in _FENCED.findall(text) if b.strip()]
    if not blocks and 'def policy' in text:
        blocks = [text.strip('\n') + '\n']
    return blocks


def code_sha(code: str) -> str:
    """Short content hash naming a candidate in records and prompts."""
    return hashlib.sha256(code.encode('utf-8', errors='replace')).hexdigest()[:12]


def _vec(values: np.ndarray) -> str:
    return '[' + ', '.join(f'{v:.{DECIMALS}f}' for v in values) + ']'


@dataclass
class Candidate:
    """One policy of one round and what became of it."""

    round: int
    index: int
    code: str
    result: SandboxResult
    status: str = 'valid'  # valid, rejected, proposed, scored, not executed
    reason: str = ''  # why it was rejected
    cost: float | None = None
    error: np.ndarray | None = None

    @property
    def sha(self) -> str:
        """Hash of the code."""
        return code_sha(self.code)

    def label(self) -> str:
        """Where it comes from, for prompts."""
        return f'round {self.round} candidate {self.index} (code {self.sha})'


@dataclass
class Trial:
    """One executed theta at this goal."""

    theta: np.ndarray
    outcome: np.ndarray
    cost: float
    source: str


@dataclass
class Episode:
    """PromptPO's state for one task and goal."""

    task: TaskSpec
    goal: np.ndarray
    round: int = 0
    candidates: list[Candidate] = field(default_factory=list)  # the current round's
    queue: deque = field(default_factory=deque)  # valid candidates not yet proposed
    awaiting: Candidate | None = None  # proposed, its trial not reported yet
    trials: list[Trial] = field(default_factory=list)
    best: Candidate | None = None
    llm_calls: int = 0

    def record(self, query: PolicyQuery) -> dict:
        """Attribute the query's trial to the candidate that proposed its theta."""
        theta, _ = self.task.clip(query.theta)
        outcome = self.goal + query.error
        cost = COST_FUNCTIONS[self.task.cost](outcome, self.goal)
        cand, self.awaiting = self.awaiting, None
        if cand is not None and np.allclose(theta, cand.result.theta, rtol=0.0, atol=1e-9):
            cand.status, cand.cost, cand.error = 'scored', cost, query.error
            if self.best is None or cost < self.best.cost:
                self.best = cand
            source, scored = cand.label(), {'round': cand.round, 'candidate': cand.index}
        else:
            if cand is not None:  # something else was executed (a fallback, a manual call)
                cand.status = 'not executed'
            source = 'initial theta' if not self.trials else 'theta not from a candidate'
            scored = {'source': source}
        self.trials.append(Trial(theta, outcome, cost, source))
        return {**scored, 'cost': round(cost, 6)}

    def sync(self, query: PolicyQuery) -> None:
        """Make the trials before the query's those of its run's history.

        A restarted planner (no state) learns the run's trials, their code unknown; a resumed
        run that asks about its last trial again does not count that trial twice.
        """
        if (not query.run_id and not query.history) or len(self.trials) == len(query.history):
            return  # a call by hand carries no history: its episode keeps its own
        costs = query.history_costs()
        known = self.trials[: len(query.history)]
        self.trials = known + [
            Trial(h.theta, h.outcome, c, 'earlier trial of the run')
            for h, c in zip(query.history[len(known) :], costs[len(known) :], strict=True)
        ]

    def summary(self) -> dict:
        """Best candidate so far, for the details."""
        if self.best is None:
            return {}
        b = self.best
        return {'cost': round(b.cost, 6), 'round': b.round, 'candidate': b.index, 'code_sha': b.sha}


def system_message(task: TaskSpec, n: int, limits: SandboxLimits) -> str:
    """Instructions: what to write, the sandbox's rules and the answer format."""
    names = ', '.join(f'{p.name} ({p.unit})' for p in task.parameters)
    return (
        'You write robot control policies as Python code. The user shows the task as a Python '
        'module: the policy parameters theta and their bounds, how theta moves the robot, and '
        'the cost function. Write the missing function `policy(goal)` (or a class `Policy` '
        'whose method `act(self, goal)` is called): it returns theta, a '
        f'list of {task.theta_dim} floats ({names}). Every candidate is run once on the robot '
        "at this episode's goal and you are told its outcome and cost (lower is better); use "
        'all trials to improve.\n'
        'Rules, enforced by a sandbox (a candidate that breaks one is discarded): import only '
        'math and numpy (numpy.linalg, numpy.random, numpy.fft); no files, no other modules, '
        'no names starting with an underscore after a dot or with two underscores (methods '
        'such as __init__ excepted), plain classes only (no metaclass); '
        f'at most {limits.max_code_bytes} bytes; return within {limits.timeout_s:g} s using '
        f'at most {limits.memory_mb:g} MB. theta is clipped to the bounds.\n'
        f'Answer with {n} different candidates, each a complete program in its own ```python '
        'block.'
    )


def _trials_block(ep: Episode) -> str:
    shown = ep.trials[-FEEDBACK_TRIALS:]
    skipped = len(ep.trials) - len(shown)
    older = f' ({skipped} older ones not shown)' if skipped else ''
    lines = [
        f'Trials at this goal, oldest first{older}: (theta, outcome, cost).',
        '```python',
        'TRIALS = [',
    ]
    for t in shown:
        lines.append(
            f'    ({_vec(t.theta)}, {_vec(t.outcome)}, {t.cost:.{DECIMALS}f}),  # {t.source}'
        )
    lines += [']', '```']
    return '\n'.join(lines)


def _round_block(ep: Episode) -> str:
    lines = [f'Round {ep.round} results:']
    for c in ep.candidates:
        if c.status == 'scored':
            what = f'cost {c.cost:.{DECIMALS}f}, error (outcome - goal) {_vec(c.error)}'
            if c.result.clipped:
                what += f', theta clipped to the bounds: {_vec(c.result.theta)}'
        elif c.status == 'rejected':
            what = f'discarded, no trial: {c.reason}'
        else:
            what = 'not executed'
        lines.append(f'- candidate {c.index} (code {c.sha}): {what}')
    return '\n'.join(lines)


def _best_block(ep: Episode) -> str:
    b = ep.best
    return (
        f'Best policy so far: {b.label()}, cost {b.cost:.{DECIMALS}f} {ep.task.outcome_unit}.\n'
        f'```python\n{b.code}```'
    )


def round_messages(ep: Episode, n: int, limits: SandboxLimits) -> list[dict[str, str]]:
    """Chat messages asking for the next round: task source, trials, last round, best code."""
    parts = [
        f'The task:\n```python\n{render_task_source(ep.task)}```',
        f"This episode's goal: GOAL = {_vec(ep.goal)}",
        _trials_block(ep),
    ]
    if ep.candidates:
        parts.append(_round_block(ep))
    if ep.best is not None:
        parts.append(_best_block(ep))
    parts.append(f'Write {n} candidate policies for round {ep.round + 1}.')
    return [
        {'role': 'system', 'content': system_message(ep.task, n, limits)},
        {'role': 'user', 'content': '\n\n'.join(parts)},
    ]


def retry_message(rejected: list[dict], n: int) -> str:
    """Follow-up after a round in which no candidate gave a usable theta."""
    reasons = '\n'.join(f'- candidate {r["candidate"]}: {r["reason"]}' for r in rejected)
    return (
        f'None of these candidates gave a usable theta:\n{reasons}\n'
        f'Write {n} new candidates that follow the rules, each in its own ```python block.'
    )


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
        self._episodes: dict[tuple, Episode] = {}

    def _episode(self, query: PolicyQuery) -> Episode:
        task = query.task
        if query.goal is not None:
            goal = np.asarray(query.goal, dtype=float)
        elif not task.goal_conditioned:
            goal = np.array(task.default_goal, dtype=float)
        else:
            raise ImproverFailed('promptpo needs the goal: send it with the error or outcome')
        key = query.run_id or (task.name, tuple(np.round(goal, 9)))
        if key not in self._episodes:
            if len(self._episodes) >= MAX_EPISODES:
                self._episodes.pop(next(iter(self._episodes)))
            self._episodes[key] = Episode(task, goal)
        ep = self._episodes[key]
        ep.sync(query)
        return ep

    def propose(self, query: PolicyQuery) -> Proposal:
        """Score the query's trial, then return the next candidate (a new round if needed)."""
        ep = self._episode(query)
        details: dict = {'scored': ep.record(query)}
        if not ep.queue:
            details.update(self._new_round(ep))
        cand = ep.queue.popleft()
        cand.status = 'proposed'
        ep.awaiting = cand
        details.update(
            round=cand.round,
            candidate=cand.index,
            code_sha=cand.sha,
            code=cand.code,
            clipped=cand.result.clipped,
            sandbox_s=round(cand.result.seconds, 4),
            best=ep.summary(),
            trials=len(ep.trials),
            llm_calls=ep.llm_calls,
            sandbox=dict(self._sandbox),
        )
        if cand.result.printed:
            details['printed'] = cand.result.printed
        return Proposal(cand.result.theta.copy(), details)

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

    def _new_round(self, ep: Episode) -> dict:
        """Ask for N candidates (a second time, with the errors, if none is usable)."""
        messages = round_messages(ep, self._n, self._limits)
        ep.round += 1
        calls: list[dict] = []
        rejected: list[dict] = []
        info = {'new_round': ep.round, 'llm': calls, 'rejected': rejected}
        for attempt in (1, 2):
            completion = self._ask(messages, calls, info)
            ep.llm_calls += 1
            blocks = extract_code(completion.text)
            if len(blocks) > self._n:
                info['ignored_blocks'] = len(blocks) - self._n
            codes = blocks[: self._n]
            results = evaluate_policies(ep.task, codes, ep.goal, self._limits)
            pairs = enumerate(zip(codes, results, strict=True))
            cands = [Candidate(ep.round, i, code, res) for i, (code, res) in pairs]
            this_attempt = self._screen(cands, attempt)
            if not codes:
                this_attempt.append(
                    {'attempt': attempt, 'candidate': None, 'reason': 'no ```python block'}
                )
            rejected += this_attempt
            info['round_sandbox_s'] = [round(r.seconds, 4) for r in results]
            valid = [c for c in cands if c.status == 'valid']
            if valid:
                ep.candidates = cands
                ep.queue.extend(valid)
                info['valid'] = len(valid)
                return info
            messages = [
                *messages,
                {'role': 'assistant', 'content': completion.text},
                {'role': 'user', 'content': retry_message(this_attempt, self._n)},
            ]
        ep.candidates = []
        reasons = '; '.join(f'{r["candidate"]}: {r["reason"]}' for r in rejected)[:500]
        raise ImproverFailed(
            f'promptpo round {ep.round}: no candidate gave a usable theta in 2 answers ({reasons})',
            info,
        )

    @staticmethod
    def _screen(cands: list[Candidate], attempt: int) -> list[dict]:
        """Mark failed and duplicate candidates rejected; return their reports."""
        reports = []
        seen: dict[tuple, int] = {}
        for c in cands:
            reason, stage = c.result.reason, c.result.stage
            if c.result.ok:
                key = tuple(np.round(c.result.theta, 12))
                if key in seen:
                    reason, stage = f'same theta as candidate {seen[key]}', 'duplicate'
                else:
                    seen[key] = c.index
                    continue
            c.status, c.reason = 'rejected', reason
            reports.append(
                {
                    'attempt': attempt,
                    'candidate': c.index,
                    'code_sha': c.sha,
                    'reason': reason,
                    'stage': stage,
                }
            )
        return reports
