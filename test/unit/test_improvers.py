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
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.loop import improve
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
