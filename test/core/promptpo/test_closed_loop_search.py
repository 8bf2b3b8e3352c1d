# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""PromptPO closed loop: the task source, the Feedback class, rounds, repairs, dedupe, bounds.

The LLM service is replaced by the loopback OpenAI-compatible server on 127.0.0.1
(test/openai_loopback.py, routed per request kind in closed_loop_toy.RoutedLLM); the MuJoCo
rollout through the sandboxed policy process by a small real closed-loop evaluation of a toy
point mass (closed_loop_toy.ToyEvaluator). Both are test stand-ins.
"""

import dataclasses
import inspect
import json
import threading

import numpy as np
import pytest
from closed_loop_toy import (
    CONTRACT,
    FEEDBACK,
    RATE_HZ,
    STEPS,
    TOY_TASK,
    CommandLimits,
    ObservationField,
    RoutedLLM,
    ToyEvaluator,
    fence,
    p_policy,
    toy_summarise,
)

from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import Stopped
from icpi_ros.core.promptpo.closed_loop_search import EvaluationFailed, closed_loop_search
from icpi_ros.core.promptpo.closed_loop_source import render_closed_loop_source
from icpi_ros.core.promptpo.closed_loop_state import SearchSettings, code_key, episode_summary
from icpi_ros.core.scoring import cost_function, euclidean_cost
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

SOURCE = render_closed_loop_source(TOY_TASK, CONTRACT)


@pytest.fixture
def llm(monkeypatch):
    """A fresh loopback server per test (its queues and the requests it saw are the test's)."""
    monkeypatch.delenv('OPENAI_API_KEY', raising=False)
    with RoutedLLM() as server:
        yield server


def _search(server, evaluator=None, **settings):
    config = LLMConfig(base_url=server.base_url, model='loopback', backoff_s=0.01, timeout_s=5.0)
    rounds: list[dict] = []
    result = closed_loop_search(
        TOY_TASK,
        evaluator or ToyEvaluator(),
        toy_summarise,
        config,
        SearchSettings(**{'candidates': 1, 'rounds': 2, 'reflection': False, **settings}),
        task_source=SOURCE,
        on_round=rounds.append,
    )
    assert rounds == result.log['rounds'][: len(rounds)]  # each round as it ended
    assert len(rounds) == len(result.log['rounds']) - (result.status != 'finished')
    json.dumps(result.log, allow_nan=False)  # the caller records it as JSON
    return result


def _policy_prompts(server) -> list[str]:
    return [
        r['messages'][1]['content']
        for r in server.requests
        if RoutedLLM.kind(r) == 'policy' and len(r['messages']) == 2
    ]


# --- the task as Python ---------------------------------------------------------------------


def test_closed_loop_source_is_generated_from_the_definitions():
    scope: dict = {}
    exec(compile(SOURCE, 'toy-push', 'exec'), scope)
    np.testing.assert_array_equal(scope['GOAL_LOW'], TOY_TASK.goal_low)
    np.testing.assert_array_equal(scope['GOAL_HIGH'], TOY_TASK.goal_high)
    assert scope['motion'].object_start == TOY_TASK.motion.object_start
    settings, limits = scope['closed_loop'], scope['closed_loop'].limits
    assert (settings.control_rate_hz, settings.episode_s) == (RATE_HZ, STEPS / RATE_HZ)
    assert vars(limits) == dataclasses.asdict(TOY_TASK.closed_loop.limits)
    assert 'max_speed=0.3,  # m/s, |command|' in SOURCE  # the field's own comment
    # The classes that act, with their own code: the command check, the observation entries.
    assert inspect.getsource(CommandLimits) in SOURCE
    assert inspect.getsource(ObservationField) in SOURCE
    assert scope['OBSERVATION_FIELDS'] == CONTRACT.OBSERVATION_FIELDS
    assert inspect.getsource(CONTRACT.ClosedLoopPolicy) in SOURCE
    assert inspect.getsource(CONTRACT.ClosedLoopEpisode) in SOURCE
    assert CONTRACT.__doc__ in SOURCE and TOY_TASK.description in SOURCE
    # The real cost code, not a restatement.
    assert inspect.getsource(euclidean_cost) in SOURCE
    assert scope['euclidean_cost']([1.0, 1.0], [0.0, 0.0]) == pytest.approx(2**0.5)
    assert scope['ClosedLoopEpisode'](cost=0.5).as_dict()['cost'] == 0.5
    command, events = scope['CommandLimits'](**vars(limits)).check([0.8, 0], [1, 0], [0, 0], 0.05)
    assert events == 2 and command.tolist() == pytest.approx([0.1, 0.0])  # speed, then accel
    with pytest.raises(NotImplementedError):
        scope['Policy']().act({})
    with pytest.raises(InvalidInput, match='not a closed-loop task'):
        render_closed_loop_source(load_tasks()['slide-gc'], CONTRACT)


def test_closed_loop_source_of_the_real_push_task():
    """Runs once the closed-loop module and push-gc exist (issue 19's task)."""
    contract = pytest.importorskip('icpi_ros.core.closed_loop')
    task = load_tasks().get('push-gc')
    if task is None:
        pytest.skip('no push-gc task yet')
    source = render_closed_loop_source(task)
    scope: dict = {}
    exec(compile(source, 'push-gc', 'exec'), scope)
    assert scope['OBSERVATION_FIELDS'] == dict(contract.OBSERVATION_FIELDS)
    np.testing.assert_array_equal(scope['GOAL_LOW'], task.goal_low)
    limits = task.closed_loop.limits
    assert scope['closed_loop'].limits.max_speed == limits.max_speed
    assert 'def check(' in source and 'class Policy:' in source
    cost = cost_function(task)
    assert inspect.getsource(cost) in source
    for name in inspect.signature(cost).parameters:
        if hasattr(task, name):  # e.g. the effort weight
            assert scope[name] == getattr(task, name)


# --- the search -----------------------------------------------------------------------------


def test_feedback_is_asked_once_and_its_numbers_reach_the_prompts(llm):
    llm.queues['policy'].extend(fence(p_policy(g)) for g in (0.5, 1.5, 3.0))
    result = _search(llm, rounds=3, reflection=True)
    assert result.status == 'finished' and result.log['feedback_code'] == FEEDBACK
    assert llm.kinds.count('feedback') == 1 and 'feedback_repair' not in llm.kinds
    assert llm.kinds == ['feedback', 'policy', 'policy', 'reflection', 'policy', 'reflection']
    costs = [w['mean_cost'] for w in (r['entered_history'] for r in result.log['rounds'])]
    assert costs[2] < costs[1] < costs[0], costs
    assert result.best.round == 3 and result.episodes_used == 9 and result.llm_calls == 6
    last = _policy_prompts(llm)[-1]
    assert 'class Feedback' in last and last.count('feedback: final_distance=') == 2 * 3
    first_stats = result.log['rounds'][0]['entered_history']['feedback'][0]
    assert set(first_stats) == {'final_distance', 'closest', 'clipped'}
    # The reflection compares the attempts and is shown in the next round.
    reflection = result.log['rounds'][1]['reflection']
    assert 'The latest attempt:' in reflection['messages'][1]['content']
    assert 'Reflection after this round: The higher gain' in last


def test_a_crash_and_a_refused_program_get_repair_prompts(llm):
    crash = p_policy(2.0).replace('return (', 'return 1 / 0 + (')
    llm.queues['policy'].extend([fence(crash), fence('import os\n' + p_policy(2.0))])
    llm.queues['repair'].extend([fence(p_policy(2.0)), fence(p_policy(2.5))])
    evaluator = ToyEvaluator()
    result = _search(llm, evaluator, candidates=2, rounds=1)
    first, second = (c['attempts'] for c in result.log['rounds'][0]['candidates'])
    assert [a['status'] for a in first] == ['failed', 'ok']
    assert 'ZeroDivisionError: division by zero (line 11)' in first[0]['reason']
    assert second[0]['reason'].startswith('CodeRejected: forbidden import os')
    repair = first[1]['messages']
    assert repair[-2] == {'role': 'assistant', 'content': f'```python\n{crash}```'}
    assert 'ZeroDivisionError' in repair[-1]['content'] and 'Fix it' in repair[-1]['content']
    assert len(evaluator.sources) == 3  # the refused program never ran
    assert result.best.code == p_policy(2.5) and result.best.candidate == 1


def test_a_program_over_the_size_limit_is_refused_without_a_rollout(llm):
    big = p_policy(2.0) + '# ' + 'x' * 3000 + '\n'
    llm.queues['policy'].append(fence(big))
    evaluator = ToyEvaluator()
    result = _search(llm, evaluator, rounds=1, max_code_bytes=1024)
    failed, fixed = result.log['rounds'][0]['candidates'][0]['attempts']
    assert failed['reason'] == f'code too large: {len(big)} bytes (limit 1024)'
    echoed = fixed['messages'][-2]['content']
    assert echoed.startswith(f'```python\n{big[:1024]}') and len(echoed) < 1024 + 30
    assert evaluator.sources == [p_policy(1.0)]  # only the repaired program ran


def test_repairs_are_bounded_and_the_run_goes_on(llm):
    crash = p_policy(2.0).replace('return (', 'return 1 / 0 + (')
    llm.queues['policy'].extend([fence(crash), fence(p_policy(1.0))])
    llm.queues['repair'].extend([fence(crash + '\n# still broken\n')] * 3)
    result = _search(llm, repairs=2, rounds=2)
    attempts = result.log['rounds'][0]['candidates'][0]['attempts']
    assert [a['status'] for a in attempts] == ['failed'] * 3
    assert attempts[1].get('duplicate_of') == {'round': 1, 'candidate': 0}  # comments only
    assert result.log['rounds'][0]['winner'] is None and result.best.round == 2


def test_identical_candidates_are_evaluated_once(llm):
    same = p_policy(2.0, note=' Written again.').replace('    def act', '    # act\n\n    def act')
    llm.queues['policy'].extend(
        [fence(p_policy(2.0)), fence(same), fence(p_policy(3.0)), fence(p_policy(2.0))]
    )
    evaluator = ToyEvaluator()
    result = _search(llm, evaluator, candidates=2, rounds=2)
    assert code_key(same) == code_key(p_policy(2.0)) != code_key(p_policy(3.0))
    assert evaluator.sources == [p_policy(2.0), p_policy(3.0)]  # 4 candidates, 2 programs
    round_1, round_2 = (r['candidates'] for r in result.log['rounds'])
    assert round_1[1]['attempts'][0]['duplicate_of'] == {'round': 1, 'candidate': 0}
    assert round_2[1]['attempts'][0]['duplicate_of'] == {'round': 1, 'candidate': 0}
    assert round_1[0]['mean_cost'] == round_1[1]['mean_cost']
    assert result.episodes_used == 2 * 3


def test_the_best_so_far_is_the_result_when_later_rounds_are_worse(llm):
    llm.queues['policy'].extend(fence(p_policy(g)) for g in (3.0, 0.3, 0.6))
    result = _search(llm, rounds=3)
    costs = [r['entered_history']['mean_cost'] for r in result.log['rounds']]
    assert costs[0] < costs[2] < costs[1], costs
    assert result.best.round == 1 and result.best.code == p_policy(3.0)
    assert result.log['best']['code'] == p_policy(3.0)
    last = _policy_prompts(llm)[-1]
    assert 'Round 1, candidate 0' in last and '(best so far)' in last.split('Round 1')[1][:80]


def test_the_prompt_stays_bounded_over_many_rounds(llm):
    padding = '\n'.join(f'# note {i}: ' + 'x' * 60 for i in range(12)) + '\n'  # large programs
    gains = [3.0, *np.linspace(0.2, 2.5, 29)]  # the first round's is the best
    programs = [p_policy(g) + padding for g in gains]
    crash = programs[5].replace('return (', 'return 1 / 0 + (')
    llm.queues['policy'].extend(fence(p) for p in [*programs[:5], crash, *programs[6:]])
    llm.queues['repair'].append(fence(programs[5]))
    cap = 14_000
    result = _search(llm, rounds=30, max_prompt_chars=cap, max_code_bytes=1500, reflection=True)
    assert result.status == 'finished' and len(result.log['rounds']) == 30
    assert llm.kinds.count('repair') == 1 and llm.kinds.count('reflection') == 29
    sizes = [sum(len(m['content']) for m in r['messages']) for r in llm.requests]
    assert max(sizes) <= cap, max(sizes)
    assert result.best.round == 1 and len(_policy_prompts(llm)) == 30
    last = _policy_prompts(llm)[-1]  # round 30's: rounds 1 to 29 to show
    # In full: the best (round 1) and the latest two (keep_recent = 2), the task, the Feedback.
    assert last.count('```python') == 5
    assert programs[0] in last and programs[-3] in last and programs[-2] in last
    assert 'Round 28, candidate 0' in last and 'Round 29, candidate 0' in last
    # One line each for the rounds before them, as many as fit, the oldest left out.
    assert '- round 27: mean cost' in last and '- round 2: mean cost' not in last
    left_out = int(last.split(' earlier rounds not shown')[0].rsplit('(', 1)[1])
    assert left_out + last.count('\n- round ') + 3 == 29


def test_a_malformed_answer_does_not_abort_the_run(llm):
    two = fence(p_policy(1.0)) + fence(p_policy(2.0), 'Or this one:')
    llm.queues['policy'].extend(
        ['I would use a proportional controller.', two, fence(p_policy(2.0))]
    )
    llm.queues['malformed'].extend(['Still thinking about it.', 'No code.', fence(p_policy(1.5))])
    result = _search(llm, candidates=2, rounds=2, repairs=2)
    first, second = (c['attempts'] for c in result.log['rounds'][0]['candidates'])
    assert [a['status'] for a in first] == ['malformed'] * 3
    assert first[0]['reason'] == 'no ```python block in the answer'
    assert second[0]['reason'].startswith('2 code blocks, 2 of them defining class Policy')
    assert 'could not be used: 2 code blocks' in second[1]['messages'][-1]['content']
    assert result.log['rounds'][0]['entered_history']['code'] == p_policy(1.5)
    assert result.status == 'finished' and result.best.code == p_policy(2.0)


def test_a_failing_feedback_class_is_repaired_then_dropped(llm):
    llm.queues['feedback'].append(fence(FEEDBACK.replace("['goal']", "['target']")))
    llm.queues['feedback_repair'].extend([fence('class Feedback:\n    pass\n')] * 2)
    result = _search(llm, rounds=2, repairs=2)
    repairs = result.log['rounds'][0]['feedback_repairs']
    assert repairs['failed'] == "Failed: KeyError: 'target'" and len(repairs['attempts']) == 2
    assert repairs['disabled'] and result.log['feedback_code'] is None
    assert llm.kinds.count('feedback_repair') == 2 and result.best is not None
    assert 'feedback:' not in _policy_prompts(llm)[-1]


def test_a_failing_endpoint_ends_the_run_with_the_best_kept(llm):
    llm.script.extend(['answer', 'answer', '400'])  # feedback, round 1, then HTTP 400
    result = _search(llm, rounds=3)
    assert result.status == 'failed' and 'HTTP 400' in result.reason
    assert result.best.round == 1 and len(result.log['rounds']) == 2
    assert result.log['rounds'][1]['interrupted'] == result.reason


def test_a_stop_ends_the_run_before_the_next_request(llm):
    config = LLMConfig(base_url=llm.base_url, model='loopback', backoff_s=0.01)
    stop = threading.Event()
    result = closed_loop_search(
        TOY_TASK, ToyEvaluator(), toy_summarise, config, SearchSettings(candidates=1, rounds=3),
        task_source=SOURCE, stop=stop, on_round=lambda _: stop.set(),
    )  # fmt: skip
    assert result.status == 'stopped' and result.best.round == 1
    assert llm.kinds == ['feedback', 'policy'] and result.log['rounds'][1]['interrupted']


def test_an_episode_record_is_kept_without_its_trajectories():
    episode = {
        'observations': [{'puck': [0.0, 0.0]}] * 5, 'actions': [[0.1, 0.0]] * 5,
        'outcome': [0.8, 0.01], 'cost': float('nan'), 'failed': 'x' * 900, 'task': 't',
    }  # fmt: skip
    summary = episode_summary(episode, [0.8, 0.0], 3)
    assert summary == {
        'goal': [0.8, 0.0], 'seed': 3, 'outcome': [0.8, 0.01], 'cost': None,
        'failed': 'x' * 300, 'task': 't', 'steps': 5,
    }  # fmt: skip
    json.dumps(summary, allow_nan=False)


def test_settings_and_goals_are_checked(llm):
    with pytest.raises(InvalidInput, match='candidates must be in'):
        SearchSettings(candidates=0)
    with pytest.raises(InvalidInput, match='max_prompt_chars 5000 is too small'):
        _search(llm, max_prompt_chars=5000)
    config = LLMConfig(base_url=llm.base_url, model='loopback')
    with pytest.raises(InvalidInput, match='outside the range'):
        closed_loop_search(
            TOY_TASK, ToyEvaluator(), toy_summarise, config, SearchSettings(episodes=1),
            task_source=SOURCE, goals=[[5.0, 0.0]],
        )  # fmt: skip


class _FailingEvaluator(ToyEvaluator):
    """The toy, until its `calls`-th program: then the evaluator itself fails, or is stopped."""

    def __init__(self, calls: int, error: Exception) -> None:
        super().__init__()
        self.calls, self.error = calls, error

    def __call__(self, source, goals, seeds):
        if len(self.sources) + 1 >= self.calls:
            raise self.error
        return super().__call__(source, goals, seeds)


def test_an_evaluator_that_fails_ends_the_search_failed_with_its_best_kept(llm):
    # The robot's executor gone (the improvement loop's evaluate): no repair of the program.
    llm.queues['policy'].extend([fence(p_policy(1.0)), fence(p_policy(2.0))])
    evaluator = _FailingEvaluator(2, EvaluationFailed('trial x: the trial executor is gone'))
    result = _search(llm, evaluator, rounds=3)
    assert result.status == 'failed' and 'the trial executor is gone' in result.reason
    assert result.reason.startswith('evaluation failed:') and result.best.round == 1
    assert 'repair' not in llm.kinds and result.log['rounds'][1]['interrupted'] == result.reason


def test_a_stop_raised_by_the_evaluator_ends_the_search_stopped(llm):
    result = _search(llm, _FailingEvaluator(1, Stopped('canceled during trial x')))
    assert result.status == 'stopped' and result.best is None and 'repair' not in llm.kinds


def test_a_candidate_that_ran_in_a_round_cut_short_can_be_the_best(llm):
    # Canceled after the round's first candidate ran: it is the result (not in the history).
    llm.queues['policy'].extend([fence(p_policy(1.0)), fence(p_policy(2.0))])
    stop = threading.Event()

    class StopAfterOne(ToyEvaluator):
        def __call__(self, source, goals, seeds):
            episodes = super().__call__(source, goals, seeds)
            stop.set()
            return episodes

    config = LLMConfig(base_url=llm.base_url, model='loopback', backoff_s=0.01, timeout_s=5.0)
    result = closed_loop_search(
        TOY_TASK, StopAfterOne(), toy_summarise, config,
        SearchSettings(candidates=2, rounds=2, reflection=False), task_source=SOURCE, stop=stop,
    )  # fmt: skip
    assert result.status == 'stopped' and result.best.code == p_policy(1.0)
    [round_log] = result.log['rounds']
    assert round_log['best_of_interrupted']['candidate'] == 0 and 'winner' not in round_log
    assert result.log['best']['code'] == p_policy(1.0) and round_log['interrupted'] == 'stopped'
