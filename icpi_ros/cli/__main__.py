# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`python -m icpi_ros.cli ...`: the `icpi` command without its console script."""

import sys

from icpi_ros.cli import main

if __name__ == '__main__':  # not when imported (pkgutil.walk_packages imports every module)
    sys.exit(main())
