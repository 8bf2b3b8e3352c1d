# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""OS-process helpers, standard library only: child processes, stop signals, the local LLM."""
