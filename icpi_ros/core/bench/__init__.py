# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks without ROS: the method comparison harness and the report generator.

`methods` names the tasks and methods compared and when a run succeeds; `harness` plans
tasks x methods x goals (and the ablations) and runs one of them on the fast sim path;
`pool` runs them on an executor (worker processes here, or Ray: `ray_executor`), `journal`
keeps the finished ones for a resume; `results` aggregates the runs into the results
document; `report` turns the results into docs/benchmarks.md (its figures:
`icpi_ros.core.plots`); `stats` holds the summaries and the machine description shared with
scripts/bench.py.
"""
