# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi demo`: bring the sim graph up headless, improve a policy over it, shut it down.

Every piece is real: MuJoCo in sim_bridge, camera frames tracked by OpenCV in
trajectory_tracker, trials by trial_executor, the planner's NextPolicy service and the
improvement_loop's Improve action, each its own process talking over DDS.
"""

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from icpi_ros.cli.exit_codes import EXIT_DEMO_FAILED, EXIT_INTERRUPTED, EXIT_OK
from icpi_ros.core.errors import IcpiError
from icpi_ros.core.records import RunRecord, default_runs_dir
from icpi_ros.graph.bringup import Bringup, use_graph_environment
from icpi_ros.graph.description import sim_graph


def calibrate_sim_camera(task: str, out: Path) -> Path:
    """Calibrate the simulated camera of `task` from its ArUco markers (`icpi calibrate`)."""
    subprocess.run(
        [sys.executable, '-m', 'icpi_ros.cli', 'calibrate', '--sim', task, '--out', str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def save_node_logs(bringup: Bringup, folder: Path) -> Path:
    """Write each node's stdout and stderr to `folder`/<node>.log (after the graph stopped)."""
    folder.mkdir(parents=True, exist_ok=True)
    for process in bringup.graph.processes:
        (folder / f'{process.name}.log').write_text(process.output())
    return folder


def write_run_video(run: Path, calibration: Path) -> tuple[Path | None, str]:
    """Keep the run's calibration in its folder and write the video of every trial.

    Returns:
        The video (None if not written) and a line saying what was done or why not.

    Raises:
        IcpiError: the run has a bag but the video could not be made from it.

    """
    from icpi_ros.core.video import CALIBRATION_FILE, make_video
    from icpi_ros.core.video_io import BAG_FILE

    shutil.copyfile(calibration, run / CALIBRATION_FILE)
    if not (run / BAG_FILE).is_file():
        return None, f'none: no {BAG_FILE} in {run} (the graph ran without the recorder)'
    started = time.monotonic()
    result = make_video(RunRecord.open(run.parent, run.name), 'all')
    seconds = time.monotonic() - started
    return result.path, f'{result.path} ({result.frames} frames, written in {seconds:.1f} s)'


def run_demo(
    task: str = 'slide-gc',
    iterations: int = 20,
    goal: list[float] | None = None,
    improver: str = 'auto',
    seed: int = 0,
    log_level: str = 'warn',
    local_llm: bool = False,
) -> int:
    """Run the demo; print one line per iteration and where the run record is.

    `local_llm`: also start the embedded local LLM (`icpi llm serve`) for the planner.
    """
    started = time.monotonic()
    runs_dir = default_runs_dir().resolve()
    with tempfile.TemporaryDirectory(prefix='icpi-demo-') as tmp:
        work = Path(tmp)
        calibration = work / 'calibration.yaml'
        print(f'[demo] calibrating the simulated camera from ArUco markers ({task})', flush=True)
        calibrate_sim_camera(task, calibration)
        # Real time, as on a robot: faster, the tracker drops frames on a loaded 2-core machine.
        graph = sim_graph(calibration, improver, 1.0, runs_dir, local_llm=local_llm)
        bringup = Bringup(graph, work, log_level)
        print(
            f'[demo] starting the sim graph on ROS_DOMAIN_ID={bringup.domain_id}: '
            f'{", ".join(s.name for s in bringup.specs)}',
            flush=True,
        )
        code, run = EXIT_DEMO_FAILED, None
        try:
            bringup.start()
            print(
                f'[demo] graph up in {time.monotonic() - started:.1f} s; improving {task} for '
                f'{iterations} iterations',
                flush=True,
            )
            code, run = _improve(bringup, task, iterations, goal or [], improver, seed, runs_dir)
        except KeyboardInterrupt:
            print('[demo] interrupted: stopping the graph', flush=True)
            code = EXIT_INTERRUPTED
        except TimeoutError as exc:  # a node did not come up: say which, with its output
            print(f'[demo] the graph did not start: {exc}', file=sys.stderr)
        finally:
            problems = bringup.stop()
            if run is not None:
                print(f'[demo] node logs: {save_node_logs(bringup, run / "nodes")}', flush=True)
            for problem in problems:
                print(f'[demo] {problem}', file=sys.stderr)
            if problems and code == EXIT_OK:
                code = EXIT_DEMO_FAILED
        if run is not None and code == EXIT_OK:  # the graph is down: the bag is closed
            try:
                print(f'[demo] video:   {write_run_video(run, calibration)[1]}', flush=True)
            except IcpiError as exc:
                print(f'[demo] no video: {exc}', file=sys.stderr)
                code = EXIT_DEMO_FAILED
    print(f'[demo] done in {time.monotonic() - started:.1f} s', flush=True)
    return code


def _improve(
    bringup: Bringup,
    task: str,
    iterations: int,
    goal: list[float],
    improver: str,
    seed: int,
    runs_dir: Path,
) -> tuple[int, Path | None]:
    use_graph_environment(bringup)
    import numpy as np
    from action_msgs.msg import GoalStatus

    from icpi_ros.graph.client import ICPIClient, format_feedback

    with ICPIClient(node_name='icpi_demo') as client:
        status, result = client.improve(
            task,
            goal,
            max_iterations=iterations,
            improver='' if improver == 'auto' else improver,
            seed=seed,
            on_feedback=lambda feedback: print(format_feedback(feedback, iterations), flush=True),
        )
    run = runs_dir / result.run_id if result.run_id else None
    if status != GoalStatus.STATUS_SUCCEEDED:
        print(f'[demo] run failed (code {result.error_code}): {result.error_msg}', file=sys.stderr)
        if run is not None:
            print(f'[demo] partial record: {run}', file=sys.stderr)
        return EXIT_DEMO_FAILED, run
    print(
        f'[demo] best cost {result.best_cost:.4f} m at theta '
        f'{np.round(result.best_theta, 4).tolist()}'
    )
    print(f'[demo] summary: {run / "summary.json"}')
    print(f'[demo] plot:    {run / "costs.png"}')
    print(f'[demo] bag:     {run / "run.mcap"} (icpi bag info {result.run_id}; Foxglove)')
    return EXIT_OK, run
