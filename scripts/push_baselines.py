# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""push-gc's fixed controllers on the bench's episodes: no tuning, one episode per goal.

Usage: python scripts/push_baselines.py [--goals 10]
Runs, for the goals and seeds `icpi bench` uses (episode S: `draw_goal(task, S)`, seed S), the
hand-written proportional controller ("what an engineer writes in ten minutes", gain 2) and
the reference controller at the middle of its gain bounds (what every tuner starts from), and
prints each one's mean ± sd final cost and how many episodes end within 1 cm.
"""

import argparse
import statistics

from icpi_ros.core.closed_loop import rollout
from icpi_ros.core.controllers import proportional_controller, reference_controller
from icpi_ros.core.loop import draw_goal
from icpi_ros.core.sim.simulator import Simulator
from icpi_ros.core.tasks import load_tasks


def main() -> int:
    """Run both controllers on the bench's episodes and print their costs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--goals', type=int, default=10)
    args = parser.parse_args()
    task = load_tasks()['push-gc']
    sim = Simulator(task)
    policies = {
        'P controller (gain 2)': lambda: proportional_controller(task),
        'reference, middle gains': lambda: reference_controller(task, task.theta_middle()),
    }
    for name, make in policies.items():
        costs = [
            rollout(task, make(), draw_goal(task, seed), seed, sim=sim).cost * 1e3
            for seed in range(args.goals)
        ]
        within = sum(cost <= 10.0 for cost in costs)
        print(
            f'{name:26s} final cost {statistics.mean(costs):6.2f} ± '
            f'{statistics.stdev(costs):5.2f} mm, {within} of {len(costs)} within 1 cm'
        )
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
