# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""System benchmarks: setup, planner, simulation, tracking (the figures of docs/benchmarks.md).

    source env.sh && python scripts/bench.py [--fresh-setup] [--json OUT] [--only a,b]

Results merge into --json (one summary per name, each with its date); `make bench` then runs
`icpi bench` (the methods side by side and the ablations, icpi_ros/core/bench/) and
regenerates docs/benchmarks.md from both files (icpi_ros/core/bench/report/). The report
reads a summary (`unit, n, min, median, p99, max`) per name; `demo` is
`{"wall_s": <summary in s>, "final_cost_m": <float>}`.

setup_noop       a second `make setup` with nothing changed (target <= 10 s)
fresh_setup      setup of a fresh clone with an empty pip cache (target <= 6 min; --fresh-setup)
planning_core    one NextPolicy step in the core (validation + improver + clipping)
planner_<imp>_<N>  planner overhead without the LLM call, N = 300 ... 10^6 examples (<= 2 ms
                 p99 at 300, <= 20 ms at 10^6): knn_linear step; llm = retrieval + prompt + parse
answer_parse     reading an LLM answer (extraction + validation), real answer forms (<= 0.2 ms)
prompt_<task>    ICPI prompt size at k = 20: characters and estimated tokens (<= 1,500)
planner_knn_linear_300_memory20  the same step with episode memory: each query carries 20
                 earlier trials of its run, relabelled in hindsight (target p99 <= 2 ms)
planner_service  NextPolicy round trip between two processes over DDS (client -> planner)
physics_<task>   one physics-only trial on the fast path (target <= 60 ms slide/roll, 200 rope)
render_<task>    one 640x480 frame from the task's camera (target: >= 30 fps)
smooth_<task>    theta -> outcome jitter on one-parameter sweeps (target: <= 2 mm RMS)
bridge_rtf       simulated seconds per wall second of sim_bridge with the camera on (target >= 1)
tracker_<task>   tracking a rendered trial: ms per 640x480 frame (<= 5 ms) and error (<= 2 mm)
calibration      ArUco camera pose vs the simulator's: reprojection, rotation and position error
sandbox_candidate  PromptPO: one LLM-written policy in the kernel sandbox (bwrap namespaces,
                 numpy, limits, seccomp, run, validation; target: median <= 250 ms)
sandbox_round4   PromptPO: a round of 4 candidates (one process each, one per core at a time;
                 target: median <= 500 ms)
sandbox_candidate_rlimits  the same candidate in the weaker 'rlimits' sandbox (no namespaces)
sandbox_act      closed-loop PromptPO: one act() round trip to the persistent policy process
                 (kernel sandbox; observation out, [vx, vy] back, validated; target p99 <= 2 ms)
ros_overhead     ROS overhead per iteration of Improve over the five-process sim graph at real
                 time (iteration wall time - trial window - tracker wait - planner compute;
                 target <= 20 ms); from the timing of each line of trials.jsonl
demo             `icpi demo` wall time after setup, 3 runs (target <= 120 s) and final cost
sweep_ray_vs_pool  `icpi bench` on a local Ray instance vs the process pool, CPU-bound grid
                 (target: Ray within 10 % of the pool's wall time; scripts/bench_sweeps.py)
sweep_llm_concurrency  an LLM method at 1 s stand-in latency on Ray, --llm-concurrency 1, 4, 16

The simulation and tracking benchmarks run pinned to one core (the DESIGN targets are per core).
The final cost of the offline default is measured by `icpi bench` with the other methods.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from icpi_ros.core.bench.methods import SIM_TASKS
from icpi_ros.core.bench.stats import machine_info, summary

sys.path.insert(0, str(Path(__file__).parent))
import bench_graph  # noqa: E402  (scripts/ is not a package)
import bench_sweeps  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def bench_setup_noop(repeats: int = 5) -> dict:
    """Time `scripts/setup.sh` when everything is already set up."""
    samples = []
    subprocess.run(['bash', 'scripts/setup.sh'], cwd=ROOT, check=True, capture_output=True)
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(['bash', 'scripts/setup.sh'], cwd=ROOT, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return summary(samples, 's')


def bench_fresh_setup() -> dict:
    """Time `make setup` in a fresh clone, pip cache disabled."""
    with tempfile.TemporaryDirectory(prefix='icpi-fresh-') as tmp:
        clone = Path(tmp) / 'icpi_ros'
        subprocess.run(['git', 'clone', '-q', str(ROOT), str(clone)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH')}
        env['PIP_NO_CACHE_DIR'] = '1'
        start = time.perf_counter()
        subprocess.run(['make', 'setup'], cwd=clone, env=env, check=True, capture_output=True)
        return summary([time.perf_counter() - start], 's')


def bench_planning_core(repeats: int = 20000) -> dict:
    """Time one core planning step (random_shooting, slide-gc)."""
    from icpi_ros.core.improvers import make_improver
    from icpi_ros.core.planning import make_query, next_policy
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['slide-gc']
    improver = make_improver('random_shooting')
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        next_policy(improver, make_query(task, [0.0, 0.1, 0.3], error=[0.02, -0.01]))
        samples.append(time.perf_counter() - start)
    return summary(samples, 'us')


def _query_stream(task, dataset, n: int, seed: int = 0, trials: int = 0):
    """Yield queries like the loop's: theta near the examples, errors of every size.

    With `trials`, each query also carries that many earlier trials of its run (thetas
    and outcomes of dataset rollouts near it, the goal given): what episode memory reads.
    """
    from icpi_ros.core.improvers.base import HistoryTrial
    from icpi_ros.core.planning import make_query

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(dataset), n)
    for i in rows:
        theta = np.clip(dataset.theta[i] + rng.normal(0, 0.01, 3), task.theta_low, task.theta_high)
        error = dataset.error[i] * rng.uniform(0.05, 1.5)
        if not trials:
            yield make_query(task, theta, error=error)
            continue
        goal = dataset.outcome[i] - dataset.error[i]
        earlier = rng.integers(0, len(dataset), trials)
        history = [HistoryTrial(dataset.theta[j], dataset.outcome[j]) for j in earlier]
        yield make_query(task, theta, outcome=goal + error, goal=goal, history=history)


_BIG: dict = {}


def _dataset(size: int):
    """Return the shipped slide-gc dataset (300), or `size` relabelled pairs of rollouts."""
    from icpi_ros.core.collect import collect_dataset
    from icpi_ros.core.dataset import load_dataset
    from icpi_ros.core.paths import data_dir
    from icpi_ros.core.sim.simulator import TrialRunner
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['slide-gc']
    if size == 300:
        return task, load_dataset(data_dir() / 'slide-gc.json')
    if size not in _BIG:
        runner = TrialRunner(task)
        goal = np.array(task.default_goal)
        rollouts = int(1.7 * size**0.5) + 10  # about 35-45 % of the pairs end near the range
        print(f'[bench] simulating {rollouts} rollouts for {size} examples', file=sys.stderr)
        _BIG[size] = collect_dataset(task, lambda t: runner.run(t, goal).outcome, rollouts, size)
        runner.close()
    return task, _BIG[size]


def bench_planner(improver: str, size: int, repeats: int = 3000, trials: int = 0) -> dict:
    """Time one planner step without the LLM call on a dataset of `size` examples.

    `trials`: each query carries that many earlier trials of its run (episode memory on).
    """
    from icpi_ros.core.answers import parse_delta
    from icpi_ros.core.improvers import ImproverContext, make_improver
    from icpi_ros.core.planning import next_policy
    from icpi_ros.core.prompt import build_prompt, estimate_tokens
    from icpi_ros.core.retrieval import ExampleLibrary

    task, dataset = _dataset(size)
    library = ExampleLibrary()
    start = time.perf_counter()
    index = library.add(dataset)
    build_s = time.perf_counter() - start
    samples = []
    if improver == 'knn_linear':
        knn = make_improver('knn_linear', ImproverContext(examples=library))
        for query in _query_stream(task, dataset, repeats, trials=trials):
            start = time.perf_counter()
            next_policy(knn, query)
            samples.append(time.perf_counter() - start)
    else:  # the llm improver's own work: retrieval, prompt, parsing and clipping
        for query in _query_stream(task, dataset, repeats):
            start = time.perf_counter()
            nb = index.nearest(query.theta, query.error, k=20)
            prompt = build_prompt(task, dataset, nb.indices, query.theta, query.error)
            estimate_tokens(prompt.text)
            task.clip(query.theta + parse_delta('0.0123 -0.0045 0.0067', task))
            samples.append(time.perf_counter() - start)
    out = {**summary(samples, 'ms'), 'examples': len(dataset), 'index_build_s': build_s}
    return {**out, 'episode_trials': trials} if trials else out


def bench_prompt(task_name: str) -> dict:
    """Size of the k = 20 prompt over 200 queries: characters (stats) and estimated tokens."""
    from icpi_ros.core.dataset import load_dataset
    from icpi_ros.core.paths import data_dir
    from icpi_ros.core.prompt import build_prompt, estimate_tokens
    from icpi_ros.core.retrieval import ExampleIndex
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()[task_name]
    dataset = load_dataset(data_dir() / f'{task_name}.json')
    index = ExampleIndex(dataset)
    chars, tokens = [], []
    for query in _query_stream(task, dataset, 200):
        nb = index.nearest(query.theta, query.error, k=20)
        text = build_prompt(task, dataset, nb.indices, query.theta, query.error).text
        chars.append(len(text))
        tokens.append(estimate_tokens(text))
    return {
        'unit': 'chars',
        'n': len(chars),
        'min': min(chars),
        'median': statistics.median(chars),
        'p99': float(np.percentile(chars, 99)),
        'max': max(chars),
        'tokens_estimate_median': statistics.median(tokens),
        'tokens_estimate_max': max(tokens),
    }


# What real models write (the answer grammar's accepted forms, and refused ones), 3 numbers.
ANSWERS = (
    '0.0123 -0.0045 0.0067',
    'Based on the nearest examples, the change is:\n0.0123 -0.0045 0.0067',
    '<think>The closest lines have a smaller error; scale them.</think>\n0.0123 -0.0045 0.0067',
    '```\n[0.0123, \u22120.0045, 0.0067]\n```',
    'The robot should move a little more to the left and a bit slower than before.',
)


def bench_answer_parse(repeats: int = 4000) -> dict:
    """Time reading one answer (extraction + validation), over a mix of real answer forms."""
    from icpi_ros.core.answers import ResponseRejected, parse_delta
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()['slide-gc']
    samples = []
    for i in range(repeats):
        text = ANSWERS[i % len(ANSWERS)]
        start = time.perf_counter()
        with contextlib.suppress(ResponseRejected):
            parse_delta(text, task, 'stop')
        samples.append(time.perf_counter() - start)
    return summary(samples, 'us')


def bench_planner_service(repeats: int = 500) -> dict:
    """Time NextPolicy round trips from this process to a planner process."""
    from icpi_ros.process.node_processes import DomainLease, ProcessGraph

    lease = DomainLease()
    with tempfile.TemporaryDirectory() as tmp:
        graph = ProcessGraph(lease.domain_id, Path(tmp), ROOT)
        try:
            graph.start('icpi_planner', ['icpi_planner'], ready=r'\]: ready')
            os.environ.update({k: graph.env[k] for k in ('ROS_DOMAIN_ID', 'ROS_LOG_DIR')})
            os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
            from icpi_ros.graph.client import ICPIClient

            samples = []
            with ICPIClient() as client:
                client.next_policy('slide-gc', [0.0, 0.1, 0.3], error=[0.02, -0.01])  # warm up
                for _ in range(repeats):
                    start = time.perf_counter()
                    resp = client.next_policy('slide-gc', [0.0, 0.1, 0.3], error=[0.02, -0.01])
                    samples.append(time.perf_counter() - start)
                    assert resp.success, resp.message
        finally:
            problems = graph.shutdown()
            lease.release()
    if problems:
        raise RuntimeError('\n'.join(problems))
    return summary(samples, 'ms')


STATS = ('unit', 'n', 'min', 'median', 'p99', 'max')


def bench_physics(task_name: str, repeats: int = 30) -> dict:
    """Time physics-only trials (plan + simulate + score) at varied theta."""
    from icpi_ros.core.sim.simulator import TrialRunner
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()[task_name]
    runner = TrialRunner(task)
    rng = np.random.default_rng(0)
    runner.run(task.theta_middle())  # warm up
    samples = [
        runner.run(rng.uniform(task.theta_low, task.theta_high)).wall_s for _ in range(repeats)
    ]
    return summary(samples, 'ms')


def bench_render(task_name: str, repeats: int = 60) -> dict:
    """Time one offscreen 640x480 render of the task's camera (fps = 1000 / median ms)."""
    from icpi_ros.core.sim.simulator import Simulator
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()[task_name]
    sim = Simulator(task)
    sim.reset(np.array(task.default_goal))
    sim.render()  # creates the GL context
    samples = []
    for _ in range(repeats):
        sim.step(33)
        start = time.perf_counter()
        sim.render()
        samples.append(time.perf_counter() - start)
    sim.close()
    result = summary(samples, 'ms')
    result['fps_median'] = 1e3 / result['median']
    return result


def bench_smoothness(task_name: str, points: int = 41) -> dict:
    """Jitter (RMS residual from local quadratic fits) of one-parameter sweeps, per parameter."""
    from icpi_ros.core.sim.simulator import TrialRunner
    from icpi_ros.core.tasks import load_tasks

    task = load_tasks()[task_name]
    runner = TrialRunner(task)
    jitter = {}
    for j, param in enumerate(task.parameters):
        values = np.linspace(param.low, param.high, points)
        outcomes = []
        for v in values:
            theta = task.theta_middle()
            theta[j] = v
            outcomes.append(runner.run(theta).outcome)
        outcomes = np.array(outcomes)
        residuals = [
            outcomes[i, k]
            - np.polyval(
                np.polyfit(values[i - 3 : i + 4], outcomes[i - 3 : i + 4, k], 2), values[i]
            )
            for i in range(3, points - 3)
            for k in range(outcomes.shape[1])
        ]
        jitter[param.name] = float(np.sqrt(np.mean(np.square(residuals))) * 1e3)
    values = list(jitter.values())
    return {
        'unit': 'mm',
        'n': points,
        'min': min(values),
        'median': float(np.median(values)),
        'p99': max(values),
        'max': max(values),
        'per_parameter': jitter,
    }


def bench_bridge_rtf(seconds: float = 8.0) -> dict:
    """Run sim_bridge as fast as it can (realtime_factor 0) with the camera on; sim s per wall s."""
    from icpi_ros.process.node_processes import DomainLease, ProcessGraph

    lease = DomainLease()
    probe = (
        'import rclpy, time, sys\n'
        'from rclpy.node import Node\n'
        'from rosgraph_msgs.msg import Clock\n'
        'from sensor_msgs.msg import Image\n'
        'from rclpy.qos import qos_profile_sensor_data\n'
        'rclpy.init(); n = Node("rtf_probe"); c = []; imgs = [0]\n'
        'def on_clock(m): c.append(m.clock.sec + m.clock.nanosec * 1e-9)\n'
        'def on_image(m): imgs[0] += 1\n'
        'n.create_subscription(Clock, "/clock", on_clock, 10)\n'
        'n.create_subscription(Image, "/camera/image_raw", on_image, qos_profile_sensor_data)\n'
        'while not c: rclpy.spin_once(n, timeout_sec=0.1)\n'
        't0, s0 = time.monotonic(), c[-1]; imgs[0] = 0\n'
        f'while time.monotonic() - t0 < {seconds}: rclpy.spin_once(n, timeout_sec=0.05)\n'
        'print((c[-1] - s0) / (time.monotonic() - t0), imgs[0] / (time.monotonic() - t0))\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        graph = ProcessGraph(lease.domain_id, Path(tmp), ROOT)
        try:
            graph.start(
                'sim_bridge',
                ['sim_bridge', '--ros-args', '-p', 'realtime_factor:=0.0'],
                ready=r'\]: ready',
                timeout=60,
            )
            done = graph.run([sys.executable, '-c', probe], timeout=seconds + 60)
        finally:
            problems = graph.shutdown()
            lease.release()
    if done.returncode != 0 or problems:
        raise RuntimeError(done.stderr + '\n'.join(problems))
    rtf, fps = (float(v) for v in done.stdout.split())
    return {
        'unit': 'x',
        'n': 1,
        'min': rtf,
        'median': rtf,
        'p99': rtf,
        'max': rtf,
        'images_per_wall_s': fps,
    }


def bench_tracker(task_name: str, seeds: int = 10) -> dict:
    """Track rendered trials (camera pose from the simulator); ms per frame and mean error."""
    from icpi_ros.core.tasks import load_tasks
    from icpi_ros.core.vision.check import track_check

    task = load_tasks()[task_name]
    runs = [track_check(task, seed=seed) for seed in range(seeds)]
    ms = [r['ms_per_frame'] / 1e3 for r in runs]
    result = summary(ms, 'ms')
    result['mean_error_mm'] = float(np.mean([r['mean_error_m'] for r in runs]) * 1e3)
    result['max_error_mm'] = float(np.max([r['max_error_m'] for r in runs]) * 1e3)
    result['coverage_min'] = float(min(r['coverage'] for r in runs))
    return result


def bench_calibration() -> dict:
    """Calibrate the simulated top camera from its ArUco markers; errors vs the exact pose."""
    import cv2

    from icpi_ros.core.sim.simulator import Simulator
    from icpi_ros.core.tasks import load_tasks
    from icpi_ros.core.vision.calibration import calibrate, load_layout

    task, layout = load_tasks()['slide-gc'], load_layout()
    sim = Simulator(task, markers=layout)
    sim.reset(np.array(task.default_goal))
    gray = cv2.cvtColor(sim.render(), cv2.COLOR_RGB2GRAY)
    exact = sim.camera_model()
    sim.close()
    start = time.perf_counter()
    result = calibrate(gray, exact.k, exact.dist, layout)
    elapsed = time.perf_counter() - start
    cos = (np.trace(result.rotation.T @ exact.rotation) - 1) / 2
    out = summary([elapsed], 'ms')
    out['reprojection_error_px'] = result.reprojection_error_px
    out['rotation_error_deg'] = float(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    out['position_error_mm'] = float(np.linalg.norm(result.translation - exact.translation) * 1e3)
    return out


# Benchmarks of per-core targets: run pinned to one core (subprocesses inherit the affinity).
ONE_CORE = ('physics_', 'render_', 'smooth_', 'bridge_rtf', 'tracker_', 'calibration')
PLANNER_SIZES = (300, 10**4, 10**5, 10**6)


@contextlib.contextmanager
def _pinned(name: str):
    """Run the body on one core if benchmark `name` is a per-core one."""
    if not name.startswith(ONE_CORE) or not hasattr(os, 'sched_setaffinity'):
        yield None
        return
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        yield 1
    finally:
        os.sched_setaffinity(0, allowed)


def _line(name: str, r: dict) -> str:
    if not all(k in r for k in STATS):
        return f'{name:20s} {json.dumps(r)}'
    extra = {k: v for k, v in r.items() if k not in STATS}
    return (
        f'{name:20s} n={r["n"]:<6d} min={r["min"]:.3f} median={r["median"]:.3f} '
        f'p99={r["p99"]:.3f} max={r["max"]:.3f} {r["unit"]} {json.dumps(extra) if extra else ""}'
    )


POLICY = (
    'import numpy as np\n\n'
    'def policy(goal):\n'
    '    return np.clip([0.0, 0.1, 0.3] + 0.1 * goal[1], -1, 1).tolist()\n'
)


def bench_sandbox(candidates: int, repeats: int, isolation: str = 'kernel') -> dict:
    """Time the PromptPO sandbox: `candidates` policies of slide-gc evaluated together."""
    from icpi_ros.core.promptpo.sandbox import SandboxLimits, evaluate_policies, require_isolation
    from icpi_ros.core.tasks import load_tasks

    task, goal = load_tasks()['slide-gc'], np.array([0.86, 0.03])
    limits = SandboxLimits(isolation=isolation)
    require_isolation(isolation)  # what PromptPO checks once at start
    evaluate_policies(task, [POLICY], goal, limits)  # warm the file cache
    samples = []
    load = []
    for _ in range(repeats):
        start = time.perf_counter()
        results = evaluate_policies(task, [POLICY] * candidates, goal, limits)
        samples.append(time.perf_counter() - start)
        load.append(os.getloadavg()[0])
        if not all(r.ok for r in results):
            raise RuntimeError(f'sandbox refused a good policy: {results}')
    return {**summary(samples), 'isolation': isolation, 'load_1min_median': statistics.median(load)}


CLOSED_LOOP_POLICY = (
    'import numpy as np\n\n'
    'class Policy:\n'
    '    def __init__(self):\n'
    '        self.integral = np.zeros(2)\n\n'
    '    def reset(self, goal):\n'
    '        self.goal = np.array(goal)\n\n'
    '    def act(self, obs):\n'
    '        error = self.goal - np.array(obs["puck"])\n'
    '        self.integral += 0.05 * error\n'
    '        damping = 0.2 * np.array(obs["tool_vel"])\n'
    '        return (2.0 * error + 0.5 * self.integral - damping).tolist()\n'
)


def bench_sandbox_act(episodes: int = 25, steps: int = 80) -> dict:
    """Time act() round trips: `episodes` policy processes (one each), `steps` calls each."""
    from icpi_ros.core.closed_loop import StepFailed
    from icpi_ros.core.promptpo.policy_process import STEP_TIMEOUT_S, PolicyProcess
    from icpi_ros.core.promptpo.sandbox import require_isolation

    require_isolation('kernel')
    goal = [0.9, 0.02]
    samples, starts, load, late = [], [], [], 0
    for episode in range(episodes):
        with PolicyProcess(CLOSED_LOOP_POLICY) as policy:
            starts.append(policy.sandbox.start_seconds)
            policy.reset(goal)
            for i in range(steps):
                x = 0.6 + 0.003 * i + 0.001 * episode
                obs = {
                    'puck': [x, 0.0],
                    'puck_vel': [0.06, 0.0],
                    'tool': [x - 0.05, 0.0],
                    'tool_vel': [0.06, 0.0],
                    'goal': goal,
                    'time_left': 4.0 - 0.05 * i,
                }
                start = time.perf_counter()
                try:
                    policy.act(obs)
                except StepFailed:  # late beyond the step limit: counted, the episode ends
                    late += 1
                    break
                samples.append(time.perf_counter() - start)
        load.append(os.getloadavg()[0])
    return {
        **summary(samples),
        'episodes': episodes,
        'late_steps': late,
        'step_limit_ms': STEP_TIMEOUT_S * 1000,
        'start_median_ms': statistics.median(starts) * 1000,
        'load_1min_median': statistics.median(load),
    }


def main() -> int:
    """Run the benchmarks, print the figures and merge them into --json."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fresh-setup', action='store_true', help='also time a fresh setup')
    parser.add_argument('--json', type=Path, help='merge the results into this JSON file')
    parser.add_argument('--only', default='', help='comma-separated benchmark names')
    args = parser.parse_args()
    if shutil.which('icpi_planner') is None:
        parser.error('run `source env.sh` first (or use `make bench`)')

    benches = {'setup_noop': bench_setup_noop, 'planning_core': bench_planning_core}
    for improver in ('knn_linear', 'llm'):
        for size in PLANNER_SIZES:
            benches[f'planner_{improver}_{size}'] = lambda i=improver, n=size: bench_planner(i, n)
    benches['planner_knn_linear_300_memory20'] = lambda: bench_planner('knn_linear', 300, trials=20)
    benches['planner_service'] = bench_planner_service
    benches['answer_parse'] = bench_answer_parse
    for name in SIM_TASKS:
        benches[f'prompt_{name}'] = lambda name=name: bench_prompt(name)
    for name in SIM_TASKS:
        benches[f'physics_{name}'] = lambda name=name: bench_physics(name)
    for name in ('slide-gc', 'rope-swing'):
        benches[f'render_{name}'] = lambda name=name: bench_render(name)
    for name in ('slide-gc', 'roll-gc', 'rope-swing'):
        benches[f'smooth_{name}'] = lambda name=name: bench_smoothness(name)
    benches['bridge_rtf'] = bench_bridge_rtf
    for name in ('slide-gc', 'roll-gc', 'rope-swing'):
        benches[f'tracker_{name}'] = lambda name=name: bench_tracker(name)
    benches['calibration'] = bench_calibration
    benches['sandbox_candidate'] = lambda: bench_sandbox(1, 40)
    benches['sandbox_round4'] = lambda: bench_sandbox(4, 15)
    benches['sandbox_candidate_rlimits'] = lambda: bench_sandbox(1, 40, 'rlimits')
    benches['sandbox_act'] = bench_sandbox_act
    # Over the ROS graph (scripts/bench_graph.py): real node processes, real time.
    benches['ros_overhead'] = bench_graph.bench_ros_overhead
    benches['demo'] = bench_graph.bench_demo
    benches['idle_cpu'] = bench_graph.bench_idle
    benches['recording'] = bench_graph.bench_recording
    # icpi bench on a local Ray instance and on the process pool (scripts/bench_sweeps.py).
    benches['sweep_ray_vs_pool'] = bench_sweeps.bench_ray_vs_pool
    benches['sweep_llm_concurrency'] = bench_sweeps.bench_llm_concurrency
    if args.fresh_setup:
        benches['fresh_setup'] = bench_fresh_setup
    if args.only:
        wanted = args.only.split(',')
        unknown = sorted(set(wanted) - set(benches))
        if unknown:
            parser.error(f'unknown benchmarks: {", ".join(unknown)}')
        benches = {name: benches[name] for name in wanted}
    # Results not measured this time (a fresh setup, a benchmark run alone) are kept.
    previous = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    results = {**previous, 'machine': machine_info()}
    for name, bench in benches.items():
        print(f'[bench] {name} ...', file=sys.stderr, flush=True)
        with _pinned(name) as cores:
            r = bench()
        results[name] = {**r, 'date': time.strftime('%Y-%m-%d')}
        if cores:
            results[name]['cores_used'] = cores
        print(_line(name, r), flush=True)
        if args.json:  # after every benchmark: an interrupted run keeps what it measured
            args.json.write_text(json.dumps(results, indent=2) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
