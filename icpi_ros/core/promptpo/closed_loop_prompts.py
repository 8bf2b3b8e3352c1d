# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The closed-loop PromptPO search's messages to the LLM, and the program read out of an answer.

Four kinds of request: the `Feedback` class (once per search), a round's `Policy` (N samples
of one prompt), a follow-up (a malformed answer, or code that failed: the code, the reason,
"fix it") and the optional reflection. The history of winners in a prompt is bounded: the best
so far and the latest `keep_recent` winners in full, every other one in one line, the oldest
left out first, and every request's messages together within `max_prompt_chars`.
"""

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from icpi_ros.core.answers import CUT_OFF_REASONS, ResponseRejected, strip_reasoning
from icpi_ros.core.promptpo.closed_loop_state import MAX_STATS, SearchSettings, Winner
from icpi_ros.core.promptpo.prompting import code_rules, extract_code

DECIMALS = 4
MAX_REASON = 1500  # a failure's reason (a traceback) as shown to the LLM
MAX_ECHO = 2000  # a malformed answer quoted back in a follow-up
MAX_REFLECTION = 800
EPISODE_LINE = 240  # one episode's line in a full history entry, at most
FEEDBACK_STUB = '''class Feedback:
    """To be written: summarises one episode in a few named numbers."""

    def summarise(self, episode: dict) -> dict[str, float]:
        """episode: ClosedLoopEpisode.as_dict(); returns {short name: number}."""
        raise NotImplementedError
'''


@dataclass(frozen=True)
class Program:
    """The code an answer holds, or why it holds none usable."""

    code: str | None
    problem: str = ''
    blocks: int = 0


def _defines(code: str, class_name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return any(isinstance(n, ast.ClassDef) and n.name == class_name for n in tree.body)


def read_program(text: str, finish_reason: str, class_name: str) -> Program:
    """Read the one program of an answer (promptpo's code extraction, reasoning removed).

    Args:
        text: the model's answer.
        finish_reason: the answer's finish reason (a cut-off answer is refused).
        class_name: the class the program must define, when the answer has several blocks.

    Returns:
        The program; its `code` is None for an answer cut off, all reasoning, without code,
        or with several blocks that do not single out one definition of the class.

    """
    if finish_reason in CUT_OFF_REASONS:
        return Program(None, f'the answer was cut off (finish_reason {finish_reason!r})')
    try:
        body = strip_reasoning(text)
    except ResponseRejected as exc:
        return Program(None, str(exc))
    blocks = extract_code(body, bare_marker=f'class {class_name}')
    if len(blocks) == 1:
        return Program(blocks[0], '', 1)
    defining = [b for b in blocks if _defines(b, class_name)]
    if len(defining) == 1:
        return Program(defining[0], '', len(blocks))
    if not blocks:
        return Program(None, 'no ```python block in the answer')
    return Program(
        None,
        f'{len(blocks)} code blocks, {len(defining)} of them defining class {class_name}: '
        'one program is needed',
        len(blocks),
    )


def fenced(code: str) -> str:
    """Return code as a fenced block."""
    return f'```python\n{code}```'


def prompt_chars(messages: Sequence[dict]) -> int:
    """Return the size of a request: its messages' contents together."""
    return sum(len(m['content']) for m in messages)


def _vec(values: Sequence[float]) -> str:
    return '[' + ', '.join(f'{float(v):.{DECIMALS}f}' for v in values) + ']'


def _episode_line(episode: dict, stats: dict[str, float] | None) -> str:
    shown = [f'cost {episode["cost"]:.{DECIMALS}f}'] if 'cost' in episode else []
    for key, value in episode.items():
        if key in ('goal', 'seed', 'cost', 'task') or value is None:
            continue
        if isinstance(value, list):
            shown.append(f'{key} {_vec(value)}')
        elif isinstance(value, float):
            shown.append(f'{key} {value:.{DECIMALS}f}')
        elif value != '':
            shown.append(f'{key} {value}')
    line = (f'- goal {_vec(episode["goal"])}: ' + ', '.join(shown))[:EPISODE_LINE]
    if stats:  # at most MAX_STATS names of MAX_STAT_NAME characters
        line += '\n  feedback: ' + ', '.join(f'{k}={v:.{DECIMALS}g}' for k, v in stats.items())
    return line


def entry_text(winner: Winner, best: bool, brief: bool = False) -> str:
    """Return a winner in full: code, episodes, feedback and reflection (brief: code and costs).

    Args:
        winner: the round's winner.
        best: whether it is the best so far (said in its heading).
        brief: leave out the feedback numbers and the reflection.

    Returns:
        The text, ending with a newline.

    """
    tag = ' (best so far)' if best else ''
    lines = [
        f'### Round {winner.round}, candidate {winner.candidate} (code {winner.sha}): '
        f'mean cost {winner.mean_cost:.{DECIMALS}f}{tag}',
        fenced(winner.code),
        'Episodes:',
    ]
    feedback = winner.feedback or [None] * len(winner.evaluation.episodes)
    for episode, stats in zip(winner.evaluation.episodes, feedback, strict=True):
        lines.append(_episode_line(episode, None if brief else stats))
    if winner.reflection and not brief:
        lines.append(f'Reflection after this round: {winner.reflection}')
    return '\n'.join(lines) + '\n'


def entry_line(winner: Winner, best: bool) -> str:
    """Return a winner in one line: its round, mean cost and per-episode costs."""
    costs = _vec(winner.evaluation.costs)
    tag = ' (best so far)' if best else ''
    return (
        f'- round {winner.round}: mean cost {winner.mean_cost:.{DECIMALS}f}{tag}, '
        f'episode costs {costs} (code {winner.sha})\n'
    )


def history_block(
    history: Sequence[Winner], best: Winner | None, keep_recent: int, budget: int
) -> str:
    """Return the history of winners, oldest first, within `budget` characters.

    The best and the latest `keep_recent` winners are in full (the best at least with its
    code and costs), the others in one line each; what does not fit is left out, the oldest
    first, and the text says how many rounds it leaves out.

    Args:
        history: every round's winner, oldest first.
        best: the best of them.
        keep_recent: how many of the latest are shown in full.
        budget: the most characters the block may take.

    Returns:
        The block ('' without history).

    """
    heading = "Earlier rounds' best policies, oldest first:\n"
    room = budget - len(heading) - 60  # the note on rounds left out
    if not history or room <= 0:
        return ''
    texts: dict[int, str] = {}
    recent = [w for w in reversed(history) if w is not best][:keep_recent]
    order = [best, *recent] if best is not None else recent
    for winner in order:
        for text in (entry_text(winner, winner is best), entry_text(winner, winner is best, True)):
            if len(text) <= room:
                texts[id(winner)] = text
                room -= len(text)
                break
    for winner in reversed(history):
        if id(winner) not in texts:
            line = entry_line(winner, winner is best)
            if len(line) > room:
                break
            texts[id(winner)] = line
            room -= len(line)
    shown = [texts[id(w)] for w in history if id(w) in texts]
    left_out = len(history) - len(shown)
    note = f'({left_out} earlier rounds not shown)\n' if left_out else ''
    return heading + note + ''.join(shown)


def policy_system(settings: SearchSettings) -> str:
    """Return the system message of a round: what to write, how it is scored, the rules."""
    return (
        'You write closed-loop robot controllers as Python code. The user shows the task as a '
        'Python module: the goal range, the control rate and the limits every action is '
        'clipped to, the observation the controller gets at every control step, the policy '
        'interface and the cost of an episode. Write the class `Policy`: `reset(self, goal)` '
        'is called at the start of every episode, `act(self, obs)` at every control step and '
        f'returns the action. Each candidate runs {settings.episodes} episodes (the goals '
        'listed, the same for every candidate) and is scored by its mean cost (lower is '
        'better); you see the best earlier attempts with their costs and feedback.\n'
        f'{code_rules(settings.max_code_bytes, "code that breaks one fails")}. '
        'act() must answer at once at every step: a step that raises, is late or returns an '
        'action of the wrong size or not finite fails the episode.\n'
        'Answer with exactly one ```python block holding the complete program (the class '
        'Policy and everything it uses).'
    )


def policy_messages(
    task_source: str,
    goals: Sequence[Sequence[float]],
    seeds: Sequence[int],
    feedback: str | None,
    history: Sequence[Winner],
    best: Winner | None,
    settings: SearchSettings,
    round_number: int,
    reserve: int = 0,
) -> list[dict[str, str]]:
    """Return the messages asking for one candidate of a round, within the prompt bound.

    Args:
        task_source: the task as Python (`render_closed_loop_source`).
        goals: the evaluation episodes' goals.
        seeds: their seeds.
        feedback: the Feedback class's code (shown if it fits), or None.
        history: every earlier round's winner, oldest first.
        best: the best of them.
        settings: the search's settings (the prompt bound, episodes, keep_recent).
        round_number: the round asked for.
        reserve: characters kept free for follow-up turns after these messages.

    Returns:
        The system message and one user message.

    """
    system = policy_system(settings)
    episodes = ', '.join(f'goal {_vec(g)} (seed {s})' for g, s in zip(goals, seeds, strict=True))
    parts = [
        f'The task:\n{fenced(task_source)}',
        f'The evaluation episodes, the same for every candidate: {episodes}.',
    ]
    ask = f'Write the Policy for round {round_number}.'
    room = settings.max_prompt_chars - reserve - len(system) - len(ask) - 2 * (len(parts) + 2)
    room -= sum(len(p) for p in parts)
    if feedback is not None:
        note = (
            'After every episode this class summarises it; its numbers are listed with each '
            f'episode below.\n{fenced(feedback)}'
        )
        if len(note) + len(FEEDBACK_STUB) + 2000 <= room:  # a history entry still fits
            parts.append(note)
            room -= len(note) + 2
    block = history_block(history, best, settings.keep_recent, room)
    return [
        {'role': 'system', 'content': system},
        {'role': 'user', 'content': '\n\n'.join([*parts, *([block] if block else []), ask])},
    ]


def feedback_messages(task_source: str, settings: SearchSettings) -> list[dict[str, str]]:
    """Return the messages asking for the Feedback class (once per search)."""
    system = (
        'You write a Python class that summarises one episode of a robot controller in a few '
        'named numbers; they are shown, with the cost, to whoever improves the controller. '
        'The user shows the task as a Python module; the episode you get is '
        'ClosedLoopEpisode.as_dict(). Write the class `Feedback` with the method '
        f'`summarise(self, episode)` returning a dict of at most {MAX_STATS} short names to '
        'floats: statistics that explain the cost (what went well or wrong, and when).\n'
        f'{code_rules(settings.max_code_bytes, "code that breaks one fails")}.\n'
        'Answer with exactly one ```python block holding the complete program.'
    )
    user = f'The task:\n{fenced(task_source)}\n\nWrite this class:\n{fenced(FEEDBACK_STUB)}'
    return [{'role': 'system', 'content': system}, {'role': 'user', 'content': user}]


def reflection_messages(
    history: Sequence[Winner], best: Winner, settings: SearchSettings
) -> list[dict[str, str]]:
    """Return the messages asking to compare the latest winner with the earlier ones.

    Args:
        history: every round's winner so far, oldest first (at least two).
        best: the best of them.
        settings: the search's settings (the prompt bound, keep_recent).

    Returns:
        The system message and one user message.

    """
    latest = history[-1]
    system = (
        'You review attempts at writing a closed-loop robot controller, scored by the mean '
        'cost of a few episodes (lower is better).'
    )
    ask = (
        'In at most four sentences, compare the latest attempt with the earlier ones: what '
        'changed in the code, whether it lowered the cost and why, and what to try next. '
        'Plain text, no code.'
    )
    latest_text = 'The latest attempt:\n' + entry_text(latest, latest is best, brief=True)
    room = settings.max_prompt_chars - len(system) - len(ask) - len(latest_text) - 8
    earlier_best = min(history[:-1], key=lambda w: w.mean_cost)
    earlier = history_block(history[:-1], earlier_best, settings.keep_recent, room)
    return [
        {'role': 'system', 'content': system},
        {'role': 'user', 'content': '\n\n'.join([earlier, latest_text, ask])},
    ]


def repair_message(reason: str, class_name: str) -> str:
    """Return the follow-up after code that failed: the reason, and "fix it"."""
    return (
        f'This program failed:\n{reason[:MAX_REASON]}\n'
        f'Fix it: answer with the complete corrected program (the class {class_name}) in '
        'exactly one ```python block.'
    )


def malformed_message(problem: str, class_name: str) -> str:
    """Return the follow-up after an answer without one usable program."""
    return (
        f'Your answer could not be used: {problem}. Answer with the complete program (the '
        f'class {class_name}) in exactly one ```python block.'
    )
