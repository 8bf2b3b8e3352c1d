# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi bag info` finds a run's bag in the runs folder the other commands use."""

import json

from synthetic_bag import make_run

from icpi_ros.cli import main
from icpi_ros.cli.exit_codes import EXIT_OK, EXIT_REJECTED


def _bag_of(args: list[str], capsys) -> str:
    assert main(['bag', 'info', *args, '--json']) == EXIT_OK
    return json.loads(capsys.readouterr().out)['path']


def test_bag_info_latest_honours_runs_dir_then_icpi_runs_dir_then_dot_runs(
    tmp_path, capsys, monkeypatch
):
    here, elsewhere = tmp_path / 'here', tmp_path / 'elsewhere'
    local, remote = make_run(here / 'runs'), make_run(elsewhere)
    monkeypatch.chdir(here)
    monkeypatch.setenv('ICPI_RUNS_DIR', str(elsewhere))
    assert _bag_of(['latest'], capsys) == str(elsewhere / 'latest' / 'run.mcap')
    assert _bag_of([remote.run_id], capsys) == str(elsewhere / remote.run_id / 'run.mcap')
    given = ['latest', '--runs-dir', str(here / 'runs')]
    assert _bag_of(given, capsys) == str(here / 'runs' / 'latest' / 'run.mcap')
    monkeypatch.delenv('ICPI_RUNS_DIR')
    assert _bag_of(['latest'], capsys) == str(here / 'runs' / 'latest' / 'run.mcap')
    assert (local.path / 'run.mcap').samefile(here / 'runs' / 'latest' / 'run.mcap')
    monkeypatch.setenv('ICPI_RUNS_DIR', str(tmp_path / 'empty'))
    assert main(['bag', 'info', 'latest']) == EXIT_REJECTED
    assert f'no bag for {"latest"!r}' in capsys.readouterr().err
