# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Node life cycle and parameter helpers shared by every node of the package."""

from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from icpi_ros.core.validation import InvalidInput


def run_node(make_node: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """Init, spin until Ctrl-C or shutdown, clean up; return the process exit code.

    Ctrl-C (SIGINT) and external shutdown end the node quietly with code 0, also while the
    node is starting. A configuration error raised while the node starts (a bad file or
    parameter) is logged in one line, with code 1.
    """
    node: Node | None = None
    code = 0
    try:
        rclpy.init(args=args)
        # The executor first: it registers the guard condition that rclpy's SIGINT handler
        # triggers, so a Ctrl-C while the node is being built still stops the spin below.
        executor = MultiThreadedExecutor()
        node = make_node()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (InvalidInput, InvalidParameterTypeException, InvalidParameterValueException) as exc:
        rclpy.logging.get_logger('icpi_ros').fatal(f'cannot start: {exc}')
        code = 1
    except Exception:
        # A Ctrl-C while the node is being built shuts the context down under the
        # constructor, which then fails; that is a clean stop, anything else is a bug.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return code


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
    if int_range is not None:
        descriptor.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1])]
    if float_range is not None:
        descriptor.floating_point_range = [
            FloatingPointRange(from_value=float_range[0], to_value=float_range[1])
        ]
    value = node.declare_parameter(name, default, descriptor).value
    if choices and value not in choices:
        raise InvalidInput(f'parameter {name}: {value!r} is not one of {", ".join(choices)}')
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
