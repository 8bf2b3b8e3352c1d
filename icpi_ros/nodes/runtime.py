# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Node life cycle and parameter helpers shared by every node of the package."""

import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.action import ActionServer, CancelResponse
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future

from icpi_ros.core.errors import IcpiError
from icpi_ros.core.validation import InvalidInput
from icpi_ros.nodes import entry
from icpi_ros.process.stop_signal import StopSignal

# Latched state (~/trial_active, the loop's ~/run): a late subscriber gets the current value.
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# How often the spin loop checks for a stop request (s); bounds the reaction to Ctrl-C.
STOP_POLL_S = 0.1
# Set by SIGINT/SIGTERM: one node per process, so one event; long waits inside callbacks (LLM
# retries) watch it to give up early.
# The same event the entry points set from the first instant (see entry.py).
_STOP = entry.STOP


def stop_requested() -> StopSignal:
    """Return the event set when this process is asked to stop."""
    return _STOP


class YieldingMultiThreadedExecutor(MultiThreadedExecutor):
    """rclpy's MultiThreadedExecutor, giving its worker threads the GIL after each dispatch.

    rclpy 9 (Kilted) hands a ready task to its thread pool and, until a worker has started it,
    yields the same task again at once instead of waiting (ros2/rclpy#1452): with a stream such
    as /clock at 100 Hz the spin thread busy-loops, holding the GIL the workers need to start.
    Measured here (`python scripts/executor_yield_check.py`: a node on a 100 Hz /clock, 8
    threads): 69 % of a core and up to 1 s from a tick to the node's clock showing it (p90
    92 ms), against 6 % and 4 ms with this yield, the fix of ros2/rclpy#1547 (one thread: 4 %,
    0.7 ms).
    """

    def _spin_once_impl(self, timeout_sec=None, wait_condition=lambda: False) -> None:
        super()._spin_once_impl(timeout_sec, wait_condition)
        time.sleep(0)  # release the GIL: a worker starts what was just submitted


def run_node(
    make_node: Callable[[], Node],
    args: Sequence[str] | None = None,
    threads: int = 1,
    events: bool = False,
) -> int:
    """Init, spin until Ctrl-C, SIGTERM or shutdown, clean up; return the exit code.

    The node's own handlers catch SIGINT and SIGTERM (rclpy's are not installed): they only
    ask the spin loop to stop, so the executor finishes the callbacks in flight, the node is
    destroyed and only then the context shut down. rclpy's own handlers shut the context down
    first, under callbacks that are still running. Exit code 0, also when the signal comes
    while the node is starting; a configuration error at start (a bad file or parameter) is
    logged in one line, with code 1.

    `threads` > 1 selects a multi-threaded executor, for nodes whose callbacks wait for other
    nodes (action execution): they must wait with `wait_for()`, which gives up when the stop
    event is set, and may define `drain(timeout_s)` to finish their work before destruction.

    `events` (with one thread): rclpy's experimental EventsExecutor, which dispatches from C++,
    for a node that takes many small messages (the run recorder).
    """
    stop = _STOP  # not cleared: a signal that came while the node was importing counts
    previous = stop.install()
    node: Node | None = None
    executor: SingleThreadedExecutor | None = None
    code = 0
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        # One thread: callbacks never overlap and none is in flight when the loop stops.
        # Nothing may block in a callback; waits are coroutines (see trajectory_tracker).
        if threads > 1:
            executor = YieldingMultiThreadedExecutor(num_threads=threads)
        elif events:
            from rclpy.experimental import EventsExecutor

            executor = EventsExecutor()
        else:
            executor = SingleThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        while not stop.is_set():
            executor.spin_once(timeout_sec=STOP_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (InvalidInput, InvalidParameterTypeException, InvalidParameterValueException) as exc:
        rclpy.logging.get_logger('icpi_ros').fatal(f'cannot start: {exc}')
        code = 1
    finally:
        if node is not None and hasattr(node, 'drain'):
            node.drain(5.0)
        if executor is not None:
            _shutdown(executor)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        stop.clear()  # for a later run_node in the same process (tests)
    return code


def _shutdown(executor: SingleThreadedExecutor | MultiThreadedExecutor) -> None:
    """Shut `executor` down once no callback of it runs any more.

    MultiThreadedExecutor.shutdown destroys its guard condition before it joins its threads,
    and a callback that ends in between triggers the destroyed guard condition: "exception
    was never retrieved: cannot use Destroyable because destruction was requested" on stderr.
    So its thread pool (rclpy's `_executor`) finishes the callbacks first.
    """
    pool = getattr(executor, '_executor', None)
    if pool is not None:
        pool.shutdown(wait=True)
    executor.shutdown(timeout_sec=5.0)


class OneGoalAtATime:
    """An action server that runs one goal at a time and tells a client why it cannot run.

    `run(handle) -> result` executes a goal (in an executor thread). A goal that arrives while
    another runs is accepted and aborted at once with `busy(message) -> result` (an error code
    and a message the client sees: `ros2 action send_goal` prints a result, while a rejection
    only says "Goal was rejected."). `drain()` waits for the running goal to end, for
    run_node's shutdown.
    """

    def __init__(
        self, node: Node, action_type, name: str, run, group, what: str, busy: Callable
    ) -> None:
        self._node, self._run, self._what, self._busy_result = node, run, what, busy
        self._busy = threading.Lock()
        self._running = ''  # what the running goal is, for the busy answer
        self._idle = threading.Event()
        self._idle.set()
        self.server = ActionServer(
            node,
            action_type,
            name,
            self._execute,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=group,
        )

    def describe_running(self, text: str) -> None:
        """Say what the running goal is (e.g. its run id), for the busy answer."""
        self._running = text

    def _execute(self, handle):
        if not self._busy.acquire(blocking=False):
            message = f'busy: another {self._what} is running' + (
                f' ({self._running})' if self._running else ''
            )
            self._node.get_logger().warning(f'refused a {self._what}: {message}')
            handle.abort()
            return self._busy_result(message)
        self._idle.clear()
        try:
            return self._run(handle)
        finally:
            self._running = ''
            self._idle.set()
            self._busy.release()

    def drain(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for the running goal to end."""
        self._idle.wait(timeout_s)


class WaitAborted(IcpiError, RuntimeError):
    """A wait ended without a result: timeout, or the process is stopping."""


def wait_for(future: Future, timeout_s: float, what: str) -> Any:
    """Block until `future` is done (multi-threaded executors only); return its result.

    Raises:
        WaitAborted: after `timeout_s`, or at once when the process is asked to stop.

    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    deadline = time.monotonic() + timeout_s
    while not done.wait(STOP_POLL_S):
        if _STOP.is_set():
            raise WaitAborted(f'stopping while waiting for {what}')
        if time.monotonic() > deadline:
            raise WaitAborted(f'no answer from {what} within {timeout_s:g} s')
    return future.result()


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    *,
    read_only: bool = False,
    int_range: tuple[int, int] | None = None,
    float_range: tuple[float, float] | None = None,
    choices: Sequence[str] | None = None,
) -> Any:
    """Declare a parameter with a descriptor and return its value."""
    text = description
    if choices:
        text += f' One of: {", ".join(choices)}.'
    descriptor = ParameterDescriptor(description=text, read_only=read_only)
    if choices:
        descriptor.additional_constraints = f'one of: {", ".join(choices)}'
    if int_range is not None:
        descriptor.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1])]
    if float_range is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float_range[0], to_value=float_range[1])
        ]
    if isinstance(default, float):
        default = _double_override(node, name, default)
        value = node.declare_parameter(name, default, descriptor, ignore_override=True).value
    else:
        value = node.declare_parameter(name, default, descriptor).value
    if choices and value not in choices:
        raise InvalidInput(f'parameter {name}: {value!r} is not one of {", ".join(choices)}')
    return value


def _double_override(node: Node, name: str, default: float) -> float:
    """Return the override of double `name` (else `default`), an integer one as a float.

    `-p realtime_factor:=0` and a YAML `0` arrive as INTEGER, which a DOUBLE parameter
    refuses; the override is read through a dynamically typed declaration, then undeclared.
    """
    value = node.declare_parameter(name, default, ParameterDescriptor(dynamic_typing=True)).value
    node.undeclare_parameter(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, float):
        raise InvalidInput(f'parameter {name}: expected a double, got {value!r}')
    return value


def choice_validator(
    choices_by_name: dict[str, Sequence[str]],
) -> Callable[[list[Parameter]], SetParametersResult]:
    """Return an on-set callback that rejects values outside each parameter's choices."""

    def validate(params: list[Parameter]) -> SetParametersResult:
        for param in params:
            choices = choices_by_name.get(param.name)
            if choices is not None and param.value not in choices:
                return SetParametersResult(
                    successful=False,
                    reason=f'{param.name}: {param.value!r} is not one of {", ".join(choices)}',
                )
        return SetParametersResult(successful=True)

    return validate
