# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Test-only: describe every parameter of a node, as `ros2 param describe` asks for them.

Usage: param_probe.py NODE_NAME. Prints one JSON object: name -> type, read_only,
additional_constraints, integer and floating-point ranges. Every wait has a timeout.
"""

import json
import sys

from probe import probe_node, spin_until
from rcl_interfaces.srv import DescribeParameters, ListParameters
from rclpy.node import Node

TIMEOUT_S = 20.0


def _call(node: Node, client, request):
    if not client.wait_for_service(timeout_sec=TIMEOUT_S):
        raise TimeoutError(f'{client.srv_name} not available')
    future = client.call_async(request)
    spin_until(node, future.done, client.srv_name, TIMEOUT_S)
    return future.result()


def main() -> int:
    target = sys.argv[1]
    with probe_node('param_probe') as node:
        listed = _call(
            node,
            node.create_client(ListParameters, f'/{target}/list_parameters'),
            ListParameters.Request(),
        )
        described = _call(
            node,
            node.create_client(DescribeParameters, f'/{target}/describe_parameters'),
            DescribeParameters.Request(names=list(listed.result.names)),
        )
        out = {
            d.name: {
                'type': d.type,
                'read_only': d.read_only,
                'additional_constraints': d.additional_constraints,
                'integer_range': [[r.from_value, r.to_value] for r in d.integer_range],
                'floating_point_range': [
                    [r.from_value, r.to_value] for r in d.floating_point_range
                ],
            }
            for d in described.descriptors
        }
        print(json.dumps(out))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
