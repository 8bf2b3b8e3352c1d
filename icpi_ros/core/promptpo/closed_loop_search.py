# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO closed loop: the LLM writes a controller class, rewritten from rollout feedback.

Once per search the LLM writes a `Feedback` class that summarises an episode in a few named
numbers (run by the injected `summarise`). Then per round it samples N `Policy` programs from
one prompt (the task as Python, `closed_loop_source`; the evaluation goals; the history of
earlier winners with their per-episode costs, feedback and reflections). Programs that are the
same up to comments, whitespace and docstrings are evaluated once per search. Each is run by
the injected `evaluate` for the search's episodes (the same goals and seeds for every
candidate, so scores compare) and scored by its mean cost. A malformed answer or a program
that fails (refused by the static check, a failed step, a crash) gets a follow-up with the
code and the reason, at most `repairs` times. The round's best enters the history; the best
so far is the result. An optional reflection compares each winner with the earlier ones.

Everything asked and answered, every candidate, score, repair and reflection is in the run
log (`SearchResult.log`, JSON-friendly); `on_round` receives each round's part as it ends.
"""

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from icpi_ros.core.answers import CUT_OFF_REASONS, ResponseRejected, strip_reasoning
from icpi_ros.core.errors import IcpiError
from icpi_ros.core.llm import Completion, LLMClient, LLMConfig, LLMError
from icpi_ros.core.loop import Stopped, draw_goal
from icpi_ros.core.promptpo.closed_loop_prompts import (
    EPISODE_LINE,
    MAX_ECHO,
    MAX_REASON,
    MAX_REFLECTION,
    feedback_messages,
    fenced,
    malformed_message,
    policy_messages,
    prompt_chars,
    read_program,
    reflection_messages,
    repair_message,
)
from icpi_ros.core.promptpo.closed_loop_source import render_closed_loop_source
from icpi_ros.core.promptpo.closed_loop_state import (
    EpisodeLike,
    Evaluation,
    SearchResult,
    SearchSettings,
    Winner,
    clean_stats,
    code_key,
    episode_summary,
)
from icpi_ros.core.promptpo.state import code_sha
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.validation import InvalidInput

Evaluate = Callable[[str, list[list[float]], list[int]], Sequence[EpisodeLike]]
Summarise = Callable[[str, dict], Mapping[str, float]]
ANSWER_TOKENS = 2048  # at least this many answer tokens (a program of MAX_CODE_BYTES and prose)


class EvaluationFailed(IcpiError, RuntimeError):
    """The evaluator itself failed, not the program (e.g. the robot's trial executor is gone).

    Raised by an `evaluate`; the search ends with status 'failed' and this reason, its best so
    far kept (a program's own failure is an IcpiError of another kind, or a failed episode).
    """


def _failure(exc: BaseException) -> str:
    return f'{type(exc).__name__}: {exc}'[:MAX_REASON]


class _Search:
    def __init__(self, task, evaluate, summarise, llm, settings, source, goals, stop, on_round):
        self.settings = settings
        self.evaluate, self.summarise, self.on_round = evaluate, summarise, on_round
        self.source = source if source is not None else render_closed_loop_source(task)
        self.seeds = [settings.seed + i for i in range(settings.episodes)]
        if goals is None:  # episode i's goal is drawn with its seed, as the loop draws one
            goals = [draw_goal(task, seed) for seed in self.seeds]
        self.goals = [task.check_goal(g).tolist() for g in goals]
        if len(self.goals) != settings.episodes:
            raise InvalidInput(f'{len(self.goals)} goals given for {settings.episodes} episodes')
        self.cache: dict[str, Evaluation] = {}
        self.history: list[Winner] = []
        self.best: Winner | None = None
        self.scored: list[tuple[int, str, Evaluation]] = []  # the running round's
        self.feedback: str | None = None
        self._check_bound()
        self.stop = stop or threading.Event()
        tokens = max(llm.max_tokens, ANSWER_TOKENS)
        self.client = LLMClient(dataclasses.replace(llm, max_tokens=tokens), self.stop)
        self.episodes_used = self.llm_calls = 0
        self.log: dict = {
            'settings': dataclasses.asdict(settings),
            'llm': llm.as_dict(),
            'goals': self.goals,
            'seeds': self.seeds,
            'task_source': self.source,
            'feedback': {'attempts': []},
            'rounds': [],
        }

    def _check_bound(self) -> None:
        s = self.settings
        fixed = prompt_chars(self._policy_messages(round_number=s.rounds, history=()))
        entry = s.max_code_bytes + 300 + EPISODE_LINE * s.episodes  # the best, briefly
        follow_up = max(s.max_code_bytes + MAX_REASON, MAX_ECHO) + 400
        feedback = prompt_chars(feedback_messages(self.source, s))
        needed = max(fixed + entry, feedback) + follow_up
        if needed > s.max_prompt_chars:
            raise InvalidInput(
                f'max_prompt_chars {s.max_prompt_chars} is too small for this task: its '
                f'prompts need {needed} (the task source, the best policy and a follow-up)'
            )

    def _policy_messages(self, round_number: int, history=None, reserve: int = 0) -> list[dict]:
        return policy_messages(
            self.source, self.goals, self.seeds, self.feedback,
            self.history if history is None else history, self.best, self.settings,
            round_number, reserve,
        )  # fmt: skip

    # --- asking -----------------------------------------------------------------------------

    def _ask(self, messages: list[dict], temperature: float | None = None) -> Completion:
        if self.stop.is_set():
            raise Stopped
        self.llm_calls += 1
        return self.client.complete(messages, temperature=temperature)

    def _converse(self, base, class_name, check, attempts: list, first=None, temperature=None):
        """Ask for a program until `check` accepts it, with at most `repairs` follow-ups.

        `base(reserve)` gives the request without follow-up turns, `check(code)` returns
        (result, reason), an empty reason for a usable program; `first` is a follow-up
        (the assistant turn, the user's) to start with. Returns (code, result) or (None, None).
        """
        turn = first
        for attempt in range(self.settings.repairs + (first is None)):
            extra = [] if turn is None else [
                {'role': 'assistant', 'content': turn[0]}, {'role': 'user', 'content': turn[1]}
            ]  # fmt: skip
            messages = base(prompt_chars(extra)) + extra
            completion = self._ask(messages, temperature)
            entry: dict = {'attempt': attempt, 'prompt_chars': prompt_chars(messages)}
            if turn is not None:  # the first request is the caller's to log
                entry['messages'] = messages
            entry.update(completion.record())
            attempts.append(entry)
            program = read_program(completion.text, completion.finish_reason, class_name)
            if program.code is None:
                entry.update(status='malformed', reason=program.problem)
                turn = (completion.text[:MAX_ECHO], malformed_message(program.problem, class_name))
                continue
            entry.update(code=program.code, code_sha=code_sha(program.code), blocks=program.blocks)
            result, reason = check(program.code, entry)
            if not reason:
                entry['status'] = 'ok'
                return program.code, result
            entry.update(status='failed', reason=reason)
            echo = program.code[: self.settings.max_code_bytes]  # a program too large: cut
            turn = (
                fenced(echo + ('' if echo == program.code else '\n# ...\n')),
                repair_message(reason, class_name),
            )
        return None, None

    def _too_large(self, code: str) -> str:
        size, limit = len(code.encode('utf-8', errors='replace')), self.settings.max_code_bytes
        return f'code too large: {size} bytes (limit {limit})' if size > limit else ''

    # --- evaluating -------------------------------------------------------------------------

    def _evaluate(self, code: str, where: tuple[int, int], entry: dict) -> tuple[Evaluation, str]:
        key = code_key(code)
        entry['key'] = key
        if key in self.cache:
            found = self.cache[key]
            entry['duplicate_of'] = {'round': found.first[0], 'candidate': found.first[1]}
        else:
            found = self.cache[key] = self._run(code, key, where)
        entry['evaluation'] = found.as_dict()
        return found, found.failed

    def _run(self, code: str, key: str, where: tuple[int, int]) -> Evaluation:
        evaluation = Evaluation(key, where)
        evaluation.failed = self._too_large(code)
        if evaluation.failed:
            return evaluation
        if self.stop.is_set():
            raise Stopped
        try:
            episodes = list(self.evaluate(code, self.goals, self.seeds))
        except (EvaluationFailed, Stopped):  # not the program's doing: the search ends
            raise
        except IcpiError as exc:  # the static check refused it, or its process failed
            evaluation.failed = _failure(exc)
            return evaluation
        if len(episodes) != len(self.goals):
            raise RuntimeError(f'evaluate: {len(episodes)} episodes for {len(self.goals)} goals')
        self.episodes_used += len(episodes)
        evaluation.records = episodes
        for goal, seed, episode in zip(self.goals, self.seeds, episodes, strict=True):
            evaluation.episodes.append(episode_summary(episode.as_dict(), goal, seed))
            evaluation.costs.append(float(episode.cost))
            where = f'the episode at goal {[round(v, 4) for v in goal]}'
            if episode.failed and not evaluation.failed:
                evaluation.failed = f'{where} failed: {episode.failed}'[:MAX_REASON]
            elif not np.isfinite(episode.cost) and not evaluation.failed:
                evaluation.failed = f'{where} has no finite cost ({episode.cost})'
        return evaluation

    # --- feedback ---------------------------------------------------------------------------

    def _write_feedback(self) -> None:
        attempts = self.log['feedback']['attempts']
        messages = feedback_messages(self.source, self.settings)
        self.log['feedback']['prompt'] = messages
        code, _ = self._converse(
            lambda _: messages, 'Feedback', lambda c, e: (c, self._too_large(c)), attempts
        )
        self.feedback = code
        if code is None:
            self.log['feedback']['disabled'] = 'no usable Feedback class: episodes go unsummarised'

    def _summaries(self, evaluation: Evaluation, round_log: dict) -> list[dict] | None:
        if self.feedback is None:
            return None

        def check(code: str, entry: dict):
            if self._too_large(code):
                return None, self._too_large(code)
            try:
                stats = [clean_stats(self.summarise(code, e.as_dict())) for e in evaluation.records]
            except (IcpiError, ValueError, TypeError) as exc:
                return None, _failure(exc)
            entry['summaries'] = stats
            return stats, ''

        stats, reason = check(self.feedback, {})
        if not reason:
            return stats
        repairs: list = []
        round_log['feedback_repairs'] = {'failed': reason, 'attempts': repairs}
        messages = feedback_messages(self.source, self.settings)
        first = (fenced(self.feedback), repair_message(reason, 'Feedback'))
        code, stats = self._converse(lambda _: messages, 'Feedback', check, repairs, first)
        self.feedback = code
        if code is None:
            round_log['feedback_repairs']['disabled'] = 'the Feedback class could not be repaired'
        return stats

    # --- rounds -----------------------------------------------------------------------------

    def _round(self, number: int) -> None:
        base = self._policy_messages(number)
        round_log: dict = {'round': number, 'prompt': base, 'prompt_chars': prompt_chars(base)}
        self.log['rounds'].append(round_log)
        self.scored = scored = []  # (candidate, code, evaluation) of those that ran
        round_log['candidates'] = candidates = []
        for index in range(self.settings.candidates):
            attempts: list = []
            candidates.append({'candidate': index, 'attempts': attempts})

            def check(code: str, entry: dict, index=index):
                return self._evaluate(code, (number, index), entry)

            def build(reserve: int, number=number):
                return base if not reserve else self._policy_messages(number, reserve=reserve)

            code, evaluation = self._converse(
                build, 'Policy', check, attempts, temperature=self.settings.temperature
            )
            if code is not None:
                scored.append((index, code, evaluation))
                candidates[-1]['mean_cost'] = round(evaluation.mean_cost, 6)
        if not scored:
            round_log['winner'] = None
            return
        index, code, evaluation = min(scored, key=lambda c: c[2].mean_cost)
        winner = Winner(number, index, code, evaluation)
        winner.feedback = self._summaries(evaluation, round_log)
        self.history.append(winner)
        if self.best is None or winner.mean_cost < self.best.mean_cost:
            self.best = winner
        round_log['winner'] = {'candidate': index, 'mean_cost': round(winner.mean_cost, 6)}
        if self.settings.reflection and len(self.history) > 1:
            winner.reflection = self._reflect(round_log)
        round_log['entered_history'] = winner.as_dict()
        round_log['best'] = {'round': self.best.round, 'candidate': self.best.candidate}

    def _reflect(self, round_log: dict) -> str:
        messages = reflection_messages(self.history, self.best, self.settings)
        completion = self._ask(messages)
        record = {'messages': messages, 'prompt_chars': prompt_chars(messages)}
        record.update(completion.record())
        round_log['reflection'] = record
        try:
            if completion.finish_reason in CUT_OFF_REASONS:
                raise ResponseRejected(f'cut off (finish_reason {completion.finish_reason!r})')
            text = ' '.join(strip_reasoning(completion.text).split())
        except ResponseRejected as exc:
            record['discarded'] = str(exc)
            return ''
        text = text if len(text) <= MAX_REFLECTION else text[: MAX_REFLECTION - 3] + '...'
        record['reflection'] = text
        return text

    def _keep_interrupted(self, round_log: dict) -> None:
        """Let the candidates that ran in a round cut short count for the best (not history)."""
        if not self.scored:
            return
        index, code, evaluation = min(self.scored, key=lambda c: c[2].mean_cost)
        if self.best is None or evaluation.mean_cost < self.best.mean_cost:
            self.best = Winner(round_log['round'], index, code, evaluation)
            round_log['best_of_interrupted'] = {
                'candidate': index,
                'mean_cost': round(evaluation.mean_cost, 6),
            }

    def run(self) -> SearchResult:
        status, reason = 'finished', ''
        try:
            self._write_feedback()
            for number in range(1, self.settings.rounds + 1):
                self._round(number)
                if self.on_round is not None:
                    self.on_round(self.log['rounds'][-1])
        except Stopped:
            status, reason = 'stopped', 'stopped'
        except LLMError as exc:
            status, reason = 'failed', f'LLM call failed: {exc}'
        except EvaluationFailed as exc:
            status, reason = 'failed', f'evaluation failed: {exc}'
        rounds = self.log['rounds']
        if rounds and 'winner' not in rounds[-1]:
            rounds[-1]['interrupted'] = reason
            self._keep_interrupted(rounds[-1])
        self.log.update(
            status=status,
            reason=reason,
            best=self.best.as_dict() if self.best else None,
            episodes_used=self.episodes_used,
            llm_calls=self.llm_calls,
            feedback_code=self.feedback,
        )
        return SearchResult(self.best, status, reason, self.log, self.episodes_used, self.llm_calls)


def closed_loop_search(
    task: TaskSpec,
    evaluate: Evaluate,
    summarise: Summarise,
    llm: LLMConfig,
    settings: SearchSettings | None = None,
    *,
    task_source: str | None = None,
    goals: Sequence[Sequence[float]] | None = None,
    stop: threading.Event | None = None,
    on_round: Callable[[dict], None] | None = None,
) -> SearchResult:
    """Search for a closed-loop controller written by the LLM (PromptPO closed loop).

    Args:
        task: the closed-loop task (goal range, motion limits, cost).
        evaluate: runs a program's `Policy` for one episode per goal:
            `evaluate(source, goals, seeds) -> list[ClosedLoopEpisode]`; raises an IcpiError
            for a program it refuses, marks an episode `failed` for a failed step, raises
            EvaluationFailed when it cannot evaluate at all (the search ends 'failed'), and
            `loop.Stopped` to end the search 'stopped'.
        summarise: runs a `Feedback` program on one episode's `as_dict()`:
            `summarise(source, episode) -> dict[str, float]`; raises an IcpiError on failure.
        llm: the OpenAI-compatible endpoint (answers get at least ANSWER_TOKENS tokens).
        settings: rounds, candidates, episodes, repairs, the prompt bound...
        task_source: the task as Python (default: `render_closed_loop_source(task)`).
        goals: the evaluation goals (default: episode i's drawn with its seed, settings.seed
            + i, by `loop.draw_goal`).
        stop: set to end the search before its next LLM call or evaluation.
        on_round: called with each round's log when the round ends.

    Returns:
        The best policy so far (None if no candidate ran), the status and the run log. An
        LLM endpoint that gives up, or an EvaluationFailed, ends the search with status
        'failed', its best kept.

    Raises:
        InvalidInput: goals outside the task's range or not one per episode, or a prompt
            bound too small for the task.
        LLMError: no endpoint is configured.

    """
    search = _Search(
        task, evaluate, summarise, llm, settings or SearchSettings(), task_source, goals,
        stop, on_round,
    )  # fmt: skip
    return search.run()
