# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""How fast a node's clock follows a 100 Hz /clock, per executor, and what spinning costs.

Usage: python scripts/executor_yield_check.py   (source env.sh first)

One process, a reserved ROS_DOMAIN_ID: a publisher ticks /clock at 100 Hz for 2 s; a node
on sim time is spun by each executor in turn (rclpy's SingleThreadedExecutor, its
MultiThreadedExecutor with 8 threads, and runtime's YieldingMultiThreadedExecutor with 8)
while the main thread waits for each tick to show in the node's clock. Prints, per
executor, the latency from publish to the clock showing the tick (median, p90, max) and
the process's CPU while doing so (% of one core).
"""

import os
import threading
import time

import numpy as np

from icpi_ros.process.node_processes import DomainLease

TICKS = 200


def measure(kind: str) -> str:
    """Return one executor's line."""
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rosgraph_msgs.msg import Clock

    from icpi_ros.nodes.runtime import YieldingMultiThreadedExecutor

    rclpy.init()
    source = Node('clock_source')
    clock = source.create_publisher(Clock, '/clock', 10)
    node = Node('clock_reader', parameter_overrides=[Parameter('use_sim_time', value=True)])
    executor = {
        'single': SingleThreadedExecutor,
        'multi-8': lambda: MultiThreadedExecutor(8),
        'yielding-8': lambda: YieldingMultiThreadedExecutor(8),
    }[kind]()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    time.sleep(1.0)  # discovery
    cpu0, wall0 = time.process_time(), time.monotonic()
    latency = []
    for i in range(TICKS):
        t = 5.0 + i * 0.01
        clock.publish(Clock(clock=Time(sec=int(t), nanosec=int(round((t % 1) * 1e9)))))
        sent = time.monotonic()
        while node.get_clock().now().nanoseconds * 1e-9 < t - 1e-6:
            if time.monotonic() - sent > 1.0:
                break
            time.sleep(0.0002)
        latency.append(time.monotonic() - sent)
        time.sleep(max(0.0, 0.01 - (time.monotonic() - sent)))
    cpu = 100 * (time.process_time() - cpu0) / (time.monotonic() - wall0)
    ms = 1000 * np.array(latency)
    executor.shutdown(timeout_sec=1.0)
    node.destroy_node()
    source.destroy_node()
    rclpy.try_shutdown()
    return (
        f'{kind:11s} latency median {np.median(ms):6.2f} ms, p90 {np.percentile(ms, 90):7.2f} '
        f'ms, max {ms.max():7.2f} ms; process CPU {cpu:.0f} %'
    )


def main() -> int:
    """Measure each executor in a child process of its own (a fresh rclpy)."""
    lease = DomainLease()
    os.environ['ROS_DOMAIN_ID'] = str(lease.domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    try:
        for kind in ('single', 'multi-8', 'yielding-8'):
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                os.write(write, measure(kind).encode())
                os._exit(0)
            os.close(write)
            with os.fdopen(read) as answer:
                print(answer.read(), flush=True)
            os.waitpid(pid, 0)
    finally:
        lease.release()
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
