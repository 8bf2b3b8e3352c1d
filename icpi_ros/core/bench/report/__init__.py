# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""docs/benchmarks.md from the bench results (`page.write_report`)."""
