# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Benchmarks without ROS: the method comparison harness, its plots and the report generator.

`harness` runs tasks x methods x goals (and the ablations) on the fast sim path in worker
processes; `plots` draws the curves; `report` turns the results into docs/benchmarks.md;
`stats` holds the summaries and the machine description shared with scripts/bench.py.
"""
