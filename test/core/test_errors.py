# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""One base for every project exception (core/errors.py); the `icpi` command decides by class."""

import importlib
import inspect
import pkgutil

import pytest

import icpi_ros
from icpi_ros.cli import improve as cli_improve
from icpi_ros.cli import main
from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_REJECTED
from icpi_ros.core.errors import Failed, IcpiError, Rejected
from icpi_ros.core.improvers import ImproverFailed
from icpi_ros.core.llm import LLMError
from icpi_ros.core.motion import PlanRejected
from icpi_ros.core.validation import InvalidInput

# The built-in base each exception had before IcpiError: code that catches it still does.
BUILTIN_BASES = {
    'CodeRejected': ValueError,
    'GraphUnavailable': RuntimeError,
    'ImproverFailed': RuntimeError,
    'InvalidInput': ValueError,
    'LLMError': RuntimeError,
    'LocalLLMError': RuntimeError,
    'LocalLLMFailed': RuntimeError,
    'PlanRejected': ValueError,
    'ResponseRejected': ValueError,
    'SandboxUnavailable': RuntimeError,
    'TrackingLost': ValueError,
    'Unreachable': ValueError,
    'WaitAborted': RuntimeError,
}


def _project_exceptions() -> dict[str, type]:
    """Every exception class defined in a module of icpi_ros (the nodes' too), by name."""
    found = {}
    for info in pkgutil.walk_packages(icpi_ros.__path__, prefix='icpi_ros.'):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__
            ):
                assert name not in found, f'two exceptions named {name}'
                found[name] = obj
    return found


def test_every_project_exception_derives_from_icpi_error():
    found = _project_exceptions()
    assert {'InvalidInput', 'LoopFailed', 'TrialFailed', 'Stopped'} <= set(found)
    assert [name for name, cls in found.items() if not issubclass(cls, IcpiError)] == []


def test_the_builtin_bases_are_kept():
    found = _project_exceptions()
    assert set(BUILTIN_BASES) <= set(found)
    for name, base in BUILTIN_BASES.items():
        assert issubclass(found[name], base), name


def test_the_kinds_the_command_reports():
    assert issubclass(InvalidInput, Rejected)
    assert issubclass(ImproverFailed, Failed) and issubclass(LLMError, Failed)
    assert not issubclass(PlanRejected, Rejected | Failed)  # its commands catch it themselves


@pytest.mark.parametrize(
    ('error', 'code'),
    [
        (InvalidInput('goal[0] is nan'), EXIT_REJECTED),
        (ImproverFailed('nobody answered'), EXIT_FAILED),
        (LLMError('the endpoint gave no answer'), EXIT_FAILED),
    ],
)
def test_main_reports_rejected_and_failed_by_class(monkeypatch, capsys, error, code):
    def raising(_args):
        raise error

    monkeypatch.setattr(cli_improve, '_cmd_improve', raising)
    assert main(['improve', '--task', 'slide-gc']) == code
    assert capsys.readouterr().err == f'icpi improve: {error}\n'


@pytest.mark.parametrize('error', [PlanRejected('limits', 'too fast'), RuntimeError('a bug')])
def test_main_lets_other_exceptions_through(monkeypatch, error):
    def raising(_args):
        raise error

    monkeypatch.setattr(cli_improve, '_cmd_improve', raising)
    with pytest.raises(type(error)):
        main(['improve', '--task', 'slide-gc'])
