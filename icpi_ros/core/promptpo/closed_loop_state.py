# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""State of a closed-loop PromptPO search: its settings, evaluations and history of winners.

A candidate's identity is its code with comments, whitespace and docstrings removed
(`code_key`, from the AST): two candidates that differ only there are one candidate and
are evaluated once per search.
"""

import ast
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from icpi_ros.core.promptpo.state import code_sha
from icpi_ros.core.promptpo.static_check import MAX_CODE_BYTES
from icpi_ros.core.validation import InvalidInput

MAX_CANDIDATES = 16
MAX_EPISODES = 20
MAX_REPAIRS = 5
MAX_STATS = 12  # feedback numbers kept per episode
MAX_STAT_NAME = 40
MAX_TEXT = 300  # a string field of an episode (its failure), as recorded and shown


class EpisodeLike(Protocol):
    """What the search reads of a `ClosedLoopEpisode` (icpi_ros.core.closed_loop)."""

    cost: float
    failed: str

    def as_dict(self) -> dict:
        """Return the JSON-friendly episode."""


@dataclass(frozen=True)
class SearchSettings:
    """How a closed-loop search runs (the LLM endpoint is an LLMConfig of its own)."""

    rounds: int = 5
    candidates: int = 4  # policies sampled per round from the same prompt
    episodes: int = 3  # episodes (goals) per candidate; the same goals for every candidate
    repairs: int = 2  # follow-ups per candidate after a malformed answer or a failed run
    keep_recent: int = 2  # latest winners shown in full (the best one always is)
    max_prompt_chars: int = 40_000  # every request's messages together, at most
    reflection: bool = True  # the LLM compares each round's winner with the earlier ones
    temperature: float | None = 0.8  # sampling the candidates; None: the LLMConfig's
    seed: int = 0  # draws the goals and numbers the episodes' seeds
    max_code_bytes: int = MAX_CODE_BYTES  # larger code is refused without a rollout

    def __post_init__(self) -> None:
        checks = (
            ('rounds', 1, 1000),
            ('candidates', 1, MAX_CANDIDATES),
            ('episodes', 1, MAX_EPISODES),
            ('repairs', 0, MAX_REPAIRS),
            ('keep_recent', 0, 100),
            ('max_code_bytes', 256, MAX_CODE_BYTES),
        )
        for name, low, high in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidInput(
                    f'search settings: {name} must be in [{low}, {high}], got {value!r}'
                )
        if self.temperature is not None and not 0.0 <= self.temperature <= 2.0:
            raise InvalidInput(
                f'search settings: temperature must be in [0, 2], got {self.temperature}'
            )


def code_key(source: str) -> str:
    """Return the identity of a program: a hash of its AST without docstrings.

    Args:
        source: Python source.

    Returns:
        16 hex digits; code that does not parse is keyed by its words.

    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return hashlib.sha256(' '.join(source.split()).encode()).hexdigest()[:16]
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def episode_summary(episode: Mapping, goal: Sequence[float], seed: int) -> dict:
    """Return an episode's record without its trajectories: numbers, short lists, its failure.

    Args:
        episode: `ClosedLoopEpisode.as_dict()`.
        goal: the episode's goal.
        seed: the episode's seed.

    Returns:
        A JSON-friendly dict: goal, seed, steps (the actions' count) and the scalar fields
        (a non-finite number as None).

    """
    out: dict = {'goal': [float(v) for v in goal], 'seed': int(seed)}
    for key, value in episode.items():
        if isinstance(value, float):
            out[key] = round(value, 6) if math.isfinite(value) else None  # strict JSON
        elif isinstance(value, bool | int):
            out[key] = value
        elif isinstance(value, str):
            out[key] = value[:MAX_TEXT]
        elif isinstance(value, list | tuple) and len(value) <= 4 and all(_number(v) for v in value):
            out[key] = [round(float(v), 6) for v in value]
    if isinstance(episode.get('actions'), list | tuple):
        out['steps'] = len(episode['actions'])
    return out


def clean_stats(stats: object) -> dict[str, float]:
    """Return a feedback summary as at most MAX_STATS finite floats with short names.

    Raises:
        ValueError: not a mapping of names to finite numbers.

    """
    if not isinstance(stats, Mapping):
        raise ValueError(f'summarise returned {type(stats).__name__}, not a dict')
    out: dict[str, float] = {}
    for name, value in list(stats.items())[:MAX_STATS]:
        short, number = str(name)[:MAX_STAT_NAME], float(value)
        if not math.isfinite(number):
            raise ValueError(f'summarise returned a non-finite value for {short!r}')
        out[short] = number
    return out


@dataclass
class Evaluation:
    """One distinct program's episodes: their costs, or why it failed."""

    key: str
    first: tuple[int, int]  # (round, candidate) that brought it
    costs: list[float] = field(default_factory=list)
    episodes: list[dict] = field(default_factory=list)  # episode_summary of each
    records: list = field(default_factory=list)  # the episodes themselves (for summarise)
    failed: str = ''

    @property
    def ok(self) -> bool:
        """True when every episode ran."""
        return not self.failed

    @property
    def mean_cost(self) -> float:
        """The candidate's score (lower is better); infinite for a failed one."""
        return sum(self.costs) / len(self.costs) if self.ok and self.costs else math.inf

    def as_dict(self) -> dict:
        """JSON-friendly form for the run log."""
        out: dict = {'key': self.key, 'episodes': self.episodes}
        if self.ok:
            out['mean_cost'] = round(self.mean_cost, 6)
        else:
            out['failed'] = self.failed
        return out


@dataclass
class Winner:
    """A round's best candidate: what enters the history."""

    round: int
    candidate: int
    code: str
    evaluation: Evaluation
    feedback: list[dict[str, float]] | None = None  # per episode, if a Feedback class ran
    reflection: str = ''

    @property
    def sha(self) -> str:
        """Hash of the code, naming it in prompts and the log."""
        return code_sha(self.code)

    @property
    def mean_cost(self) -> float:
        """Its score."""
        return self.evaluation.mean_cost

    def as_dict(self) -> dict:
        """JSON-friendly form for the run log."""
        return {
            'round': self.round,
            'candidate': self.candidate,
            'code': self.code,
            'code_sha': self.sha,
            'mean_cost': round(self.mean_cost, 6),
            'episodes': self.evaluation.episodes,
            'feedback': self.feedback,
            'reflection': self.reflection,
        }


@dataclass
class SearchResult:
    """What a search gives: the best policy so far, how it ended, and its log."""

    best: Winner | None
    status: str  # finished, stopped or failed (the LLM endpoint gave up)
    reason: str
    log: dict
    episodes_used: int
    llm_calls: int
