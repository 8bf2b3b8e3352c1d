# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Closed-loop PromptPO through the Improve action vs on the fast sim path: time per episode.

The same search (1 round x 2 candidates x EPISODES episodes, the same two scripted pushers and
Feedback class from the loopback stand-in LLM of test/core/promptpo/closed_loop_toy.py, no
real model) runs twice: on the fast path (`closed_loop_run.run_search`: a sandboxed policy
process per episode driving MuJoCo) and through the five-process sim graph (an Improve goal;
each episode an ExecuteTrial goal at real time with the camera and the tracker). Prints the
wall time of each and, per episode, the fast path's wall time and the graph's timing from the
run record (`cycle_s`, `window_s` = the episode on the robot clock, `tracker_s`, `reset_s`,
`overhead_s`), as JSON.

    python scripts/closed_loop_promptpo_graph.py [--episodes 1] [--realtime-factor 1.0]
"""

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for folder in ('test', 'test/core/promptpo'):  # the loopback stand-in LLM, the pushers
    sys.path.insert(0, str(ROOT / folder))

from closed_loop_toy import RoutedLLM, fence, pusher  # noqa: E402

from icpi_ros.core.llm import LLMConfig  # noqa: E402
from icpi_ros.core.promptpo.closed_loop_run import make_evaluate, run_search  # noqa: E402
from icpi_ros.core.promptpo.closed_loop_state import SearchSettings  # noqa: E402
from icpi_ros.core.tasks import load_tasks  # noqa: E402

SEED = 4
CANDIDATES = [pusher(1.5), pusher(0.3)]  # as the bringup test's


def _stats(values: list[float]) -> dict:
    return {
        'median': round(float(np.median(values)), 4),
        'min': round(min(values), 4),
        'max': round(max(values), 4),
        'n': len(values),
    }


def fast_path(llm: RoutedLLM, episodes: int) -> dict:
    """Run the search on the fast sim path; return its wall time, in all and per episode."""
    task = load_tasks()['push-gc']
    llm.queues['policy'].extend(fence(code) for code in CANDIDATES)
    evaluate, per_episode = make_evaluate(task), []

    def timed(source, goals, seeds):
        start = time.perf_counter()
        out = evaluate(source, goals, seeds)
        per_episode.extend([(time.perf_counter() - start) / len(goals)] * len(goals))
        return out

    config = LLMConfig(base_url=llm.base_url, model='loopback', backoff_s=0.01)
    settings = SearchSettings(rounds=1, candidates=2, episodes=episodes, seed=SEED)
    start = time.perf_counter()
    result = run_search(task, config, settings, evaluate=timed)
    wall = time.perf_counter() - start
    assert result.status == 'finished' and result.best is not None, result.reason
    return {
        'wall_s': round(wall, 3),
        'episode_s': _stats(per_episode),
        'best_mean_cost': result.best.mean_cost,
        'candidates': _candidates(result.log),
    }


def graph_path(llm: RoutedLLM, episodes: int, realtime_factor: float) -> dict:
    """Run the same search as one Improve goal on the sim graph; return its times."""
    from action_msgs.msg import GoalStatus

    from icpi_ros.graph.bringup import Bringup, use_graph_environment
    from icpi_ros.graph.client import ICPIClient
    from icpi_ros.graph.demo import calibrate_sim_camera
    from icpi_ros.graph.description import sim_graph

    with tempfile.TemporaryDirectory(prefix='icpi-clpromptpo-') as tmp:
        work = Path(tmp)
        calibration = calibrate_sim_camera('push-gc', work / 'calibration.yaml')
        loop_llm = {'llm.base_url': llm.base_url, 'llm.model': 'loopback'}
        specs = [
            dataclasses.replace(s, params={**s.params, **loop_llm})
            if s.name == 'improvement_loop'
            else s
            for s in sim_graph(calibration, 'knn_linear', realtime_factor, work / 'runs')
        ]
        bringup = Bringup(specs, work)
        try:
            bringup.start()
            use_graph_environment(bringup)
            llm.queues['policy'].extend(fence(code) for code in CANDIDATES)
            with ICPIClient(node_name='closed_loop_promptpo_bench') as client:
                start = time.perf_counter()
                status, result = client.improve(
                    'push-gc', improver='promptpo', seed=SEED, promptpo=(1, 2, episodes)
                )
                wall = time.perf_counter() - start
            run = work / 'runs' / result.run_id
            if status != GoalStatus.STATUS_SUCCEEDED:
                raise RuntimeError(
                    f'run failed: {result.error_msg}\n'
                    + '\n'.join(result.history)
                    + '\n'
                    + json.dumps(_candidates(json.loads((run / 'search.json').read_text())))
                )
            lines = [json.loads(line) for line in (run / 'trials.jsonl').read_text().splitlines()]
            search = json.loads((run / 'search.json').read_text())
        finally:
            problems = bringup.stop()
            if problems:
                raise RuntimeError('\n'.join(problems))
    keys = ('cycle_s', 'trial_s', 'window_s', 'tracker_s', 'reset_s', 'overhead_s')
    return {
        'wall_s': round(wall, 3),
        'realtime_factor': realtime_factor,
        'episodes': len(lines),
        **{key: _stats([t['timing'][key] for t in lines]) for key in keys},
        'missed_deadlines': [t['closed_loop']['missed_deadlines'] for t in lines],
        'best_mean_cost': result.best_cost,
        'costs': [round(c, 5) for c in result.costs],
        'history': list(result.history),
        'candidates': _candidates(search),
    }


def _candidates(search: dict) -> list[list[dict]]:
    """Each candidate's attempts: status, reason, per-episode costs."""
    return [
        [
            {
                'status': a.get('status'),
                'reason': a.get('reason', ''),
                'costs': [e.get('cost') for e in a.get('evaluation', {}).get('episodes', [])],
            }
            for a in c['attempts']
        ]
        for r in search['rounds']
        for c in r['candidates']
    ]


def main() -> None:
    """Run both and print one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--episodes', type=int, default=1, help='episodes per candidate')
    parser.add_argument('--realtime-factor', type=float, default=1.0)
    args = parser.parse_args()
    with RoutedLLM() as llm:
        out = {'fast_path': fast_path(llm, args.episodes)}
        out['graph'] = graph_path(llm, args.episodes, args.realtime_factor)
    fast, graph = out['fast_path']['episode_s']['median'], out['graph']['cycle_s']['median']
    out['graph_minus_fast_per_episode_s'] = round(graph - fast, 4)
    print(json.dumps(out, indent=1))


if __name__ == '__main__':
    main()
