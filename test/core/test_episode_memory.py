# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Episode memory: hindsight relabelling of the run's own trials, searched with the dataset.

Also the switch that turns it (and knn_linear's stability) off: the paper's improvers, as
they answered before it existed; and a resumed run rebuilding the same memory.
"""

import numpy as np
import pytest
from openai_loopback import LoopbackLLM

from icpi_ros.core.dataset import load_dataset
from icpi_ros.core.episode_memory import hindsight_examples
from icpi_ros.core.improvers import ImproverContext, make_improver
from icpi_ros.core.improvers.base import HistoryTrial
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import Iteration, run_loop
from icpi_ros.core.paths import data_dir
from icpi_ros.core.planning import flatten_history, make_history, make_query, next_policy
from icpi_ros.core.prompt import EPISODE_MARK, build_prompt, estimate_tokens
from icpi_ros.core.retrieval import ENCODING_BLOCKS, ExampleIndex, ExampleLibrary
from icpi_ros.core.tasks import load_tasks

TASKS = load_tasks()
TASK = TASKS['slide-gc']
DATASET = load_dataset(data_dir() / 'slide-gc.json')
GOAL = np.array([0.86, 0.03])
# A run's trials near the goal: theta executed, outcome observed.
TRIALS = [
    ((0.02, 0.11, 0.31), (0.84, 0.02)),
    ((0.03, 0.115, 0.305), (0.853, 0.026)),
    ((0.031, 0.117, 0.302), (0.858, 0.031)),
    ((0.032, 0.118, 0.301), (0.8585, 0.0302)),
]
PAPER = {'episode_memory': False, 'hold_below_m': 0.0, 'local_fit': False}


def _library() -> ExampleLibrary:
    library = ExampleLibrary()
    library.add(DATASET)
    return library


def _query(trials=TRIALS, run_id: str = 'run-a', goal=GOAL):
    history = tuple(HistoryTrial(np.array(t), np.array(o)) for t, o in trials[:-1])
    theta, outcome = trials[-1]
    return make_query(
        TASK,
        theta,
        np.array(outcome) - goal,
        goal=goal,
        run_id=run_id,
        history=history,
    )


def test_every_ordered_pair_is_relabelled():
    theta = np.array([t for t, _ in TRIALS[:3]])
    outcome = np.array([o for _, o in TRIALS[:3]])
    memory = hindsight_examples(theta, outcome)
    assert len(memory) == 6
    assert memory.pairs.tolist() == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 1]]
    for (i, j), row in zip(memory.pairs, range(len(memory)), strict=True):
        np.testing.assert_allclose(memory.error[row], outcome[i] - outcome[j])  # e = s_i - s_j
        np.testing.assert_allclose(memory.delta_theta[row], theta[j] - theta[i])
        np.testing.assert_allclose(memory.theta[row], theta[i])
        np.testing.assert_allclose(memory.goal[row], outcome[j])
    assert len(hindsight_examples(theta[:1], outcome[:1])) == 0
    assert len(hindsight_examples(np.zeros((0, 3)), np.zeros((0, 2)))) == 0
    # The most recent trials are kept, under their own numbers.
    recent = hindsight_examples(theta, outcome, max_trials=2)
    assert recent.pairs.tolist() == [[1, 2], [2, 1]]
    with pytest.raises(ValueError, match='3 thetas but 2 outcomes'):
        hindsight_examples(theta, outcome[:2])


def test_the_query_holds_the_episode_trials():
    query = _query()
    theta, outcome = query.episode_trials()
    np.testing.assert_allclose(theta, [t for t, _ in TRIALS])
    np.testing.assert_allclose(outcome, [o for _, o in TRIALS])
    assert len(query.episode_examples()) == 12
    assert query.best_trial()[0] == 3
    # An error sent by hand without the goal: the query's own outcome is not known.
    by_hand = make_query(TASK, [0.0, 0.1, 0.3], error=[0.01, 0.0], history=query.history)
    assert len(by_hand.episode_trials()[0]) == 3 and by_hand.best_trial() is None
    # A fixed-goal task's own goal is the goal.
    slide = make_query(TASKS['slide'], [0.0, 0.1, 0.3], error=[0.01, 0.0])
    np.testing.assert_allclose(
        slide.episode_trials()[1], [np.add(TASKS['slide'].default_goal, [0.01, 0])]
    )


@pytest.mark.parametrize('encoding', ['error', 'raw'])
def test_search_with_the_dataset_normalised_like_it(encoding):
    index = ExampleIndex(DATASET, encoding)
    query = _query()
    memory = query.episode_examples()
    norm = DATASET.normalisation

    def features(blocks):
        return np.hstack([norm.apply(b, blocks[b]) for b in ENCODING_BLOCKS[encoding]])

    every = features(DATASET.blocks()), features(memory.blocks())
    x = features(
        {'theta': query.theta, 'error': query.error, 'outcome': GOAL + query.error, 'goal': GOAL}
    )
    distances = np.linalg.norm(np.vstack(every) - x, axis=1)
    expected = np.argsort(distances, kind='stable')[:20][::-1]
    nb = index.nearest(query.theta, query.error, GOAL, 20, memory)
    combined = np.where(nb.from_episode, nb.indices + len(DATASET), nb.indices)
    np.testing.assert_array_equal(combined, expected)
    np.testing.assert_allclose(nb.distances, distances[expected])
    assert nb.from_episode.any() and not nb.from_episode.all()
    rows = index.rows(nb, memory)
    for r, (own, i) in enumerate(zip(nb.from_episode, nb.indices, strict=True)):
        source = memory if own else DATASET
        np.testing.assert_allclose(rows.delta_theta[r], source.delta_theta[i])
        np.testing.assert_allclose(rows.error[r], source.error[i])
    # The statistics are the dataset's: the episode changes nothing of the index.
    assert index.dataset.normalisation is norm
    with pytest.raises(ValueError, match='need the episode examples'):
        index.rows(nb)


def test_the_prompt_marks_the_lines_of_the_episode():
    index = ExampleIndex(DATASET)
    query = _query()
    memory = query.episode_examples()
    nb = index.nearest(query.theta, query.error, GOAL, 20, memory)
    rows = index.rows(nb, memory)
    prompt = build_prompt(
        TASK,
        rows,
        np.arange(20),
        query.theta,
        query.error,
        GOAL,
        from_episode=rows.from_episode,
    )
    lines = prompt.messages[1]['content'].splitlines()
    marked = [i for i, line in enumerate(lines) if line.startswith(f'{EPISODE_MARK} ')]
    assert marked == list(prompt.episode_lines) == np.flatnonzero(nb.from_episode).tolist()
    assert 'own trials in this episode' in prompt.messages[0]['content']
    # Unmarked lines read as before; the mark is all that differs.
    plain = build_prompt(TASK, rows, np.arange(20), query.theta, query.error, GOAL)
    assert [line.removeprefix(f'{EPISODE_MARK} ') for line in lines] == plain.lines
    assert 'own trials' not in plain.messages[0]['content'] and plain.episode_lines == ()
    # Every line marked (the worst case) stays within the prompt-size target at k = 20.
    everything = build_prompt(
        TASK, rows, np.arange(20), query.theta, query.error, from_episode=[True] * 20
    )
    assert estimate_tokens(everything.text) <= 1500


@pytest.fixture(scope='module')
def loopback():
    with LoopbackLLM() as server:
        yield server


def _context(loopback, **fields) -> ImproverContext:
    llm = LLMConfig(base_url=loopback.base_url, model='loopback', backoff_s=0.01)
    return ImproverContext(seed=1, examples=_library(), llm=llm, **fields)


def _paper_answer(name: str, query) -> np.ndarray:
    """What the improvers answered before episode memory: written out from the paper."""
    index = ExampleIndex(DATASET)
    if name == 'knn_mean':
        nb = index.nearest(query.theta, query.error, query.goal, 5)
        return query.theta + DATASET.delta_theta[nb.indices].mean(axis=0)
    nb = index.nearest(query.theta, query.error, query.goal, 20)
    if name == 'llm':  # the loopback answers the mean change of the last 5 lines it is shown
        return query.theta + DATASET.delta_theta[nb.indices[-5:]].mean(axis=0)
    norm = DATASET.normalisation
    a = np.hstack(
        [
            norm.apply('theta', DATASET.theta[nb.indices]) - norm.apply('theta', query.theta),
            norm.apply('error', DATASET.error[nb.indices]) - norm.apply('error', 0 * query.error),
        ]
    )
    x = np.hstack(
        [np.zeros(3), norm.apply('error', query.error) - norm.apply('error', 0 * query.error)]
    )
    coef = np.linalg.solve(
        a.T @ a + len(a) * 0.1 * np.eye(5), a.T @ DATASET.delta_theta[nb.indices]
    )
    return query.theta + x @ coef


@pytest.mark.parametrize('name', ['knn_linear', 'knn_mean', 'llm'])
def test_switched_off_the_improvers_answer_as_before(loopback, name):
    query = _query()
    off = make_improver(name, _context(loopback, **PAPER)).propose(query)
    shown = 1e-4 if name == 'llm' else 1e-12  # the prompt shows 4 decimals
    np.testing.assert_allclose(off.theta, _paper_answer(name, query), rtol=0, atol=shown)
    assert 'episode_neighbours' not in off.details and 'episode_lines' not in off.details
    # The run's history plays no part: the same as a first step.
    first = make_improver(name, _context(loopback, **PAPER)).propose(_query(TRIALS[-1:]))
    np.testing.assert_array_equal(off.theta, first.theta)
    assert off.details['neighbours'] == first.details['neighbours']
    # On: some neighbours are the episode's, recorded as such.
    on = make_improver(name, _context(loopback)).propose(query)
    assert not np.allclose(on.theta, off.theta)
    lines, pairs = on.details['episode_lines'], on.details['episode_neighbours']
    assert len(lines) == len(pairs) > 0 and all(i != j for i, j in pairs)
    assert len(on.details['neighbours']) + len(lines) == (5 if name == 'knn_mean' else 20)
    if name == 'llm':
        shown = on.details['messages'][1]['content'].splitlines()
        assert [n for n, line in enumerate(shown) if line.startswith('* ')] == lines


def _linear_world(theta: np.ndarray) -> np.ndarray:
    """A smooth stand-in for the simulator around the goal (m)."""
    jacobian = np.array([[0.4, 1.5, -0.6], [0.35, 0.05, 0.02]])
    return np.array([0.7, 0.0]) + jacobian @ (theta - np.array([0.0, 0.1, 0.3]))


def test_a_resumed_run_rebuilds_the_same_memory():
    def run(iterations, history=()):
        improver = make_improver('knn_linear', ImproverContext(examples=_library()))
        plan = lambda query: next_policy(improver, query)  # noqa: E731
        trial = lambda theta, _i: _linear_world(theta)  # noqa: E731
        return run_loop(
            TASK, trial, plan, GOAL, np.array([-0.1, 0.09, 0.35]), iterations, history=history,
            run_id='run-r',
        )  # fmt: skip

    live = run(8)
    kept = [
        Iteration(
            it.iteration, it.theta, it.outcome, it.cost, it.theta_next, it.improver, it.details
        )
        for it in live.iterations[:5]
    ]
    resumed = run(8, kept)
    assert len(resumed.iterations) == 8
    for a, b in zip(live.iterations[5:], resumed.iterations[5:], strict=True):
        np.testing.assert_array_equal(a.theta, b.theta)
        assert a.details == b.details
    assert any('episode_neighbours' in it.details for it in live.iterations[2:])
    # The planner node's way: the history flattened over NextPolicy and read back.
    query = _query()
    sent = make_history(TASK, *flatten_history(query.history))
    again = make_query(TASK, query.theta, query.error, goal=GOAL, run_id='run-a', history=sent)
    first, second = query.episode_examples(), again.episode_examples()
    for name in ('theta', 'outcome', 'goal', 'delta_theta', 'pairs'):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))


def test_knn_linear_keeps_a_good_theta_once_a_step_from_it_failed():
    improver = make_improver('knn_linear', ImproverContext(examples=_library()))
    good = [((0.03, 0.116, 0.303), tuple(GOAL + [0.0004, 0.0003]))]  # 0.5 mm
    worse = ((0.031, 0.117, 0.302), tuple(GOAL + [0.001, -0.0012]))
    # The good trial is the query's own: step on from it.
    stepped = improver.propose(_query(good))
    assert 'held_trial' not in stepped.details
    # The step from it failed: back to the good theta, and there it stays.
    held = improver.propose(_query([*good, worse]))
    np.testing.assert_array_equal(held.theta, good[0][0])
    assert held.details == {
        'held_trial': 0,
        'held_cost': pytest.approx(0.0005),
        'hold_below_m': 0.001,
    }
    again = improver.propose(_query([*good, worse, good[0]]))
    np.testing.assert_array_equal(again.theta, good[0][0])
    # Above the floor the step goes on; with the floor at 0 it always does.
    far = [((0.03, 0.116, 0.303), tuple(GOAL + [0.004, 0.003])), worse]
    assert 'held_trial' not in improver.propose(_query(far)).details
    never = make_improver('knn_linear', ImproverContext(examples=_library(), hold_below_m=0))
    assert 'held_trial' not in never.propose(_query([*good, worse])).details
