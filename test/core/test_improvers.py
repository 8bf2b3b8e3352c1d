# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Every improver lowers the cost of slide-gc from a bad start, on the real MuJoCo fast path.

The llm improver is served by a loopback OpenAI-compatible server started here (a stand-in for
the paid service: it answers with the mean change of the 5 nearest examples it is shown).
"""

import numpy as np
import pytest
from openai_loopback import LoopbackLLM

from icpi_ros.core.improvers import ImproverContext, make_improver
from icpi_ros.core.improvers.base import HistoryTrial
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import improve
from icpi_ros.core.planning import make_query
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.sim.simulator import TrialRunner
from icpi_ros.core.tasks import load_tasks
from icpi_ros.core.validation import InvalidInput

TASK = load_tasks()['slide-gc']
BAD_START = np.array([-0.30, 0.06, 0.45])  # far left, short, slow: ~25 cm off
GOAL = np.array([0.86, 0.03])


@pytest.fixture(scope='module')
def runner():
    r = TrialRunner(TASK)
    yield r
    r.close()


@pytest.fixture(scope='module')
def loopback():
    with LoopbackLLM() as server:
        yield server


@pytest.mark.parametrize(
    ('name', 'final_below', 'best_below'),
    [
        ('knn_linear', 0.01, 0.01),
        ('knn_mean', 0.03, 0.02),
        ('llm', 0.03, 0.02),
        ('bayes_opt', None, 0.1),
        ('gp_model', 0.01, 0.01),
        ('random_shooting', None, 0.15),
    ],
)
def test_improver_reduces_cost(runner, loopback, name, final_below, best_below):
    llm = LLMConfig(base_url=loopback.base_url, model='loopback', backoff_s=0.01)
    context = ImproverContext(seed=4, examples=ExampleLibrary(), llm=llm)
    result = improve(
        TASK,
        lambda t: runner.run(t, GOAL).outcome,
        GOAL,
        BAD_START,
        make_improver(name, context),
        iterations=20,
    )
    costs = result.costs
    assert len(costs) == 20
    assert costs[0] > 0.2
    assert result.best.cost < best_below, costs
    if final_below is not None:
        assert costs[-1] < final_below, costs
    # Each iteration names the improver that produced its theta (none for theta0).
    assert result.iterations[0].improver == ''
    assert all(it.improver == name for it in result.iterations[1:])
    if name == 'knn_linear':  # the offline default gets under 1 mm and does not walk away
        assert costs[-1] == min(costs) < 0.001, costs
        assert np.mean(costs[-5:]) < 0.0015, costs
        assert any('held_trial' in it.details for it in result.iterations), costs


def test_tolerance_stops_early_and_bad_arguments(runner):
    context = ImproverContext(examples=ExampleLibrary())
    result = improve(
        TASK,
        lambda t: runner.run(t, GOAL).outcome,
        GOAL,
        BAD_START,
        make_improver('knn_linear', context),
        iterations=20,
        tolerance=0.02,
    )
    assert result.costs[-1] <= 0.02 < result.costs[0]
    assert len(result.costs) < 20 and result.iterations[-1].theta_next is None
    with pytest.raises(InvalidInput, match='iterations must be at least 1'):
        improve(TASK, lambda t: GOAL, GOAL, BAD_START, make_improver('knn_mean', context), 0)


def test_bayes_opt_state_is_the_run_history_alone():
    """Two runs at one goal never share a study; a restarted planner answers the same."""
    context = ImproverContext(seed=3)
    trials = [(np.array(t), GOAL + e) for t, e in [
        ((0.0, 0.1, 0.35), (0.10, 0.02)),
        ((0.1, 0.12, 0.3), (0.04, -0.01)),
        ((0.05, 0.11, 0.32), (0.01, 0.0)),
    ]]  # fmt: skip
    history = tuple(HistoryTrial(t, o) for t, o in trials[:-1])
    theta, outcome = trials[-1]

    def query(run_id: str, earlier=history):
        return make_query(TASK, theta, outcome - GOAL, goal=GOAL, run_id=run_id, history=earlier)

    lived = make_improver('bayes_opt', context)
    for i in range(len(trials)):  # the run as it happened, one call per trial
        t, o = trials[i]
        answer = lived.propose(
            make_query(TASK, t, o - GOAL, goal=GOAL, run_id='a', history=history[:i])
        )
    restarted = make_improver('bayes_opt', context).propose(query('a'))
    np.testing.assert_allclose(restarted.theta, answer.theta)
    assert restarted.details['observations'] == 3
    # Another run at the same goal, first trial: nothing of run a in its study.
    fresh = make_improver('bayes_opt', context).propose(query('b', ()))
    shared = lived.propose(query('b', ()))
    np.testing.assert_allclose(shared.theta, fresh.theta)
    assert shared.details['observations'] == 1
