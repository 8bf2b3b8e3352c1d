# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""sim_bridge: MuJoCo standing in for the arm, its controller, the camera and the world.

Takes joint trajectories on the topic interface of ros2_control's joint_trajectory_controller
and publishes what the hardware would (/joint_states, /camera/image_raw + camera_info), the
simulation clock (/clock) and, for evaluation only, the object's ground truth (/sim/object_pose).
Physics runs in its own thread, paced by `realtime_factor` (0: as fast as possible). If that
thread dies the node stops and exits with code PHYSICS_FAILED, the reason in its log: a bridge
without physics would keep answering while /clock stands still.

A trajectory whose start (header.stamp) is already past on the simulation clock when it
arrives is refused: it would start part-way through, a jump (a zero stamp means "now"). One
stamped ahead replaces the running one at once and, as joint_trajectory_controller does, is
joined from the state commanded then to its first point (a closed-loop stream has no seams).
Parameters: `sim_bridge_params`; idling, pacing, stream times, late starts: `core.sim.pacing`.

Test only: the environment variable ICPI_TEST_PHYSICS_FAULT_S (simulated seconds) makes the
physics thread raise after that long, so the tests can see the node exit. Nothing else reads it.
"""

import os
import threading
import time

import numpy as np
import rclpy.logging
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from icpi_interfaces.srv import ResetScene
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool
from trajectory_msgs.msg import JointTrajectory

from icpi_ros.core.motion import JointPlan, plan_from_points
from icpi_ros.core.sim.pacing import (
    IdleWatch,
    Pacer,
    StreamSchedule,
    pace,
    trajectory_running,
    trajectory_start,
)
from icpi_ros.core.sim.simulator import Simulator
from icpi_ros.core.tasks import require_simulated
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.camera import CameraModel
from icpi_ros.nodes.conversions import seconds, to_time
from icpi_ros.nodes.runtime import run_node, stop_requested
from icpi_ros.nodes.sim_bridge_params import declare_params

NODE_NAME = 'sim_bridge'
TABLE_FRAME = 'table'
CAMERA_FRAME = 'camera_optical'
RESET_TIMEOUT_S = 10.0
# Exit code when the physics thread died (1 is a configuration error at start).
PHYSICS_FAILED = 3
# Test-only fault injection (see the module docstring): simulated seconds until a fault.
FAULT_ENV = 'ICPI_TEST_PHYSICS_FAULT_S'
# Behind wall time by more than this (s), the simulation goes on from where it is.
MAX_LAG_S = 0.02


def camera_info(camera: CameraModel, stamp: Time) -> CameraInfo:
    """CameraInfo of a camera model (pinhole, plumb_bob distortion)."""
    msg = CameraInfo(width=camera.width, height=camera.height, distortion_model='plumb_bob')
    msg.header.stamp, msg.header.frame_id = stamp, CAMERA_FRAME
    msg.d = camera.dist.tolist()
    msg.k = camera.k.reshape(-1).tolist()
    msg.r = np.eye(3).reshape(-1).tolist()
    msg.p = np.hstack([camera.k, np.zeros((3, 1))]).reshape(-1).tolist()
    return msg


class SimBridge(Node):
    """The simulated robot and world, on the topics of the real ones."""

    def __init__(self) -> None:
        super().__init__(NODE_NAME)
        self.params = params = declare_params(self)
        self._tasks = params.tasks
        # The run-time values of realtime_factor and idle_rate_hz (the physics thread's).
        self._rtf, self._idle_rate = params.realtime_factor, params.idle_rate_hz
        self.add_post_set_parameters_callback(self._on_parameters_set)
        self._start_simulation(self._tasks[params.task])
        self._create_interfaces()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._physics_loop, name='physics', daemon=True)
        self._thread.start()
        camera = f'{params.camera_rate_hz:g} Hz' if params.publish_camera else 'off'
        idle = f'{self._idle_rate:g} Hz' if self._idle_rate > 0 else 'off'
        active = self.resolve_topic_name(params.trial_active_topic)
        self.get_logger().info(
            f'ready: task {params.task!r}, realtime_factor {self._rtf:g}, camera {camera}, idle '
            f'rate {idle} (full rates while {active} is true)'
        )

    def _start_simulation(self, task) -> None:
        """Load the scene of `task` and the state the physics thread and callbacks share."""
        self._sim = Simulator(task)
        self._sim.reset(np.array(task.default_goal), self.params.seed)
        self._camera = self._sim.camera_model()
        self._time_offset = 0.0
        self._lock = threading.Lock()
        self._plan: JointPlan | None = None
        self._plan_start = 0.0
        self._hold = self._sim.joint_positions()
        self._pending_reset: tuple | None = None
        self._reset_done = threading.Event()
        # Wakes the physics thread early (a reset, or stop) instead of at its next step.
        self._wake = threading.Event()
        self._viewer = None  # the MuJoCo viewer window (headless false), physics thread only
        self._reset_result: tuple[bool, str, float] = (False, '', 0.0)
        self.failure = ''  # why the physics thread died; empty while it runs
        fault = os.environ.get(FAULT_ENV, '')
        self._fault_at = self._sim_time() + float(fault) if fault else None
        self._trial_active = False
        self._idle_watch = IdleWatch()

    def _create_interfaces(self) -> None:
        """Create the publishers, subscriptions and the reset service."""
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._clock_pub = self.create_publisher(Clock, '/clock', reliable)
        self._joint_pub = self.create_publisher(JointState, '/joint_states', reliable)
        self._pose_pub = self.create_publisher(PoseStamped, '/sim/object_pose', reliable)
        # The camera pair alike, reliable: best-effort 900 kB frames over UDP lose two thirds
        # of them (measured); best-effort subscribers (viewers) still match a reliable publisher.
        self._image_pub = self.create_publisher(Image, '/camera/image_raw', reliable)
        self._info_pub = self.create_publisher(CameraInfo, '/camera/camera_info', reliable)
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        self._active_sub = self.create_subscription(
            Bool, self.params.trial_active_topic, self._on_trial_active, latched
        )
        self._traj_sub = self.create_subscription(
            JointTrajectory, '/arm_controller/joint_trajectory', self._on_trajectory, reliable
        )
        self._reset_srv = self.create_service(ResetScene, '~/reset', self._on_reset)

    # ROS callbacks (executor threads) -------------------------------------------------------

    def _on_parameters_set(self, params) -> None:
        for param in params:
            if param.name == 'realtime_factor':
                self._rtf = param.value
            elif param.name == 'idle_rate_hz':
                self._idle_rate = param.value
            self._mark_busy()

    def _mark_busy(self) -> None:
        """Full rates from now on (the physics thread wakes if it sleeps)."""
        self._idle_watch.mark_busy()
        self._wake.set()

    def _on_trial_active(self, msg: Bool) -> None:
        self._trial_active = bool(msg.data)
        self._mark_busy()

    def _sim_time(self) -> float:
        return self._time_offset + float(self._sim.data.time)

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        with self._lock:
            current = self._sim.joint_positions()
            now = self._sim_time()
        points = msg.points
        if not points:  # an empty trajectory stops the arm where it is
            with self._lock:
                self._plan, self._hold = None, current
            self.get_logger().info('empty trajectory: holding the current position')
            return
        try:
            velocities = [list(p.velocities) for p in points]
            has_velocities = all(velocities)
            if any(velocities) and not has_velocities:
                raise InvalidInput('give velocities for every point or for none')
            plan = plan_from_points(
                self._sim.arm,
                list(msg.joint_names),
                [seconds(p.time_from_start) for p in points],
                [list(p.positions) for p in points],
                velocities if has_velocities else None,
                current,
            )
        except InvalidInput as exc:
            self.get_logger().error(f'rejected trajectory: {exc}')
            return
        stamp = seconds(msg.header.stamp)
        with self._lock:
            now = self._sim_time()  # the physics thread may have stepped since
            start = trajectory_start(stamp, now)
            if not start.late:
                if start.start > now:  # from the state commanded now to the first point
                    plan = plan.joined_from(start.start - now, *self._commanded(now))
                self._plan, self._plan_start = plan, start.start
        self._mark_busy()
        if start.late:
            self.get_logger().error(start.refusal(stamp, now, self._idle_rate))
            return
        self.get_logger().debug(f'accepted trajectory: {len(points)} points, {plan.duration:.2f} s')

    def _commanded(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Return the joint positions and velocities the servos get at `now` (under the lock)."""
        if self._plan is None:
            return self._hold, np.zeros_like(self._hold)
        return self._plan.sample(now - self._plan_start)

    def _on_reset(self, request: ResetScene.Request, response: ResetScene.Response):
        try:
            task = require_simulated(self._tasks[request.task])
            goal = task.check_goal(request.goal if len(request.goal) else task.default_goal)
        except InvalidInput as exc:
            response.success, response.message = False, f'rejected: {exc}'
            self.get_logger().warning(f'reset {response.message}')
            return response
        self._reset_done.clear()
        with self._lock:
            self._pending_reset = (task, goal, int(request.seed))
        self._mark_busy()
        if not self._reset_done.wait(RESET_TIMEOUT_S):
            response.success, response.message = False, 'physics thread did not answer'
            return response
        ok, message, stamp = self._reset_result
        response.success, response.message, response.stamp = ok, message, to_time(stamp)
        return response

    # Physics thread --------------------------------------------------------------------------

    def _apply_reset(self) -> None:
        task, goal, seed = self._pending_reset
        self._pending_reset = None
        try:
            if task.name != self._sim.task.name:
                self._sim.close()
                self._sim = Simulator(task)
                if self.params.publish_camera:  # the renderer starts now, not in the trial
                    self._sim.render()
            self._time_offset += float(self._sim.data.time)
            self._sim.reset(goal, seed)
            self._camera = self._sim.camera_model()
            self._plan, self._hold = None, self._sim.joint_positions()
            message = f'{task.name} reset, goal {goal.tolist()}'
            self._reset_result = (True, message, self._sim_time())
        except Exception as exc:  # keep the bridge alive; the caller gets the reason
            self._reset_result = (False, f'reset failed: {exc}', self._sim_time())
        self._reset_done.set()

    def _physics_loop(self) -> None:
        try:
            self._run_physics()
        except BaseException as exc:
            if self.context.ok() and not self._stop.is_set():  # not Ctrl-C shutting down
                self.failure = f'{type(exc).__name__}: {exc}'
                self.get_logger().fatal(
                    f'physics thread died ({self.failure}): no more /clock or joint states; '
                    f'stopping with exit code {PHYSICS_FAILED}'
                )
                stop_requested().set()  # run_node's loop ends; main() returns the code
        finally:
            self._sim.close()

    def _open_viewer(self):
        """Open a passive MuJoCo viewer on the current scene; None when it cannot be shown."""
        if self.params.headless:
            return None
        if not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
            self.get_logger().warning('headless is false but there is no display: no viewer')
            return None
        try:
            import mujoco.viewer

            return mujoco.viewer.launch_passive(self._sim.model, self._sim.data)
        except Exception as exc:  # no GLFW, no GL context: the bridge works without a window
            self.get_logger().warning(f'cannot open the MuJoCo viewer ({exc}): no viewer')
            return None

    def _run_physics(self) -> None:
        self._viewer = self._open_viewer()
        try:
            self._physics_steps()
        finally:
            if self._viewer is not None:  # the one open now (a task switch reopens it)
                self._viewer.close()

    def _physics_steps(self) -> None:
        """Step, publish and pace until stopped: one state period per round."""
        now = self._sim_time()
        pacer = Pacer(time.monotonic(), now, self._rtf)
        streams = StreamSchedule(now, self.params.camera_rate_hz)
        while not self._stop.is_set():
            idle_rate = self._idle_rate  # one value per round (it may be set meanwhile)
            with self._lock:
                if self._pending_reset is not None:
                    self._reset_between_steps(pacer, streams)
                self._step_state_period()
                now = self._sim_time()
                busy = self._trial_active or self._pending_reset is not None
                busy = busy or trajectory_running(self._plan, self._plan_start, now)
                idle = self._idle_watch.idle(busy, idle_rate)
                q, qd = self._sim.joint_positions(), self._sim.joint_velocities()
                obj = self._sim.object_position()
                publish = streams.state_due(now, idle, idle_rate)
                # A frame while a reset waits would only delay it (the scene is about to go).
                may_render = self.params.publish_camera and self._pending_reset is None
                render = streams.frame_due(now, idle, idle_rate, may_render)
                if self._viewer is not None and self._viewer.is_running():
                    self._viewer.sync()
            if publish:
                self._publish_state(now, q, qd, obj)
            if render:  # outside the lock (only this thread steps the scene): a trajectory
                self._publish_frame(now, self._sim.render())  # arriving meanwhile is taken
            # Idle, the simulation runs at most at real time (also when realtime_factor is 0).
            delay = pacer.delay(pace(self._rtf, idle), now, time.monotonic())
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()
            elif delay < -MAX_LAG_S:  # stalled: go on from here, not racing to catch up (a
                pacer.restart(time.monotonic(), now)  # controller on this clock could not)

    def _reset_between_steps(self, pacer: Pacer, streams: StreamSchedule) -> None:
        """Apply the pending reset; time the new scene from here; a new scene, a new viewer."""
        scene = self._sim
        self._apply_reset()
        pacer.restart(time.monotonic(), self._sim_time())
        streams.restart_frames(self._sim_time())
        if self._viewer is not None and self._sim is not scene:  # another scene
            self._viewer.close()
            self._viewer = self._open_viewer()

    def _step_state_period(self) -> None:
        """Step the physics through one state period, the arm following plan or hold."""
        steps = max(1, int(round(1.0 / (self.params.state_rate_hz * self._sim.timestep))))
        for _ in range(steps):
            t = self._sim_time()
            if self._plan is not None:
                q, qd = self._plan.sample(t - self._plan_start)
            else:
                q, qd = self._hold, np.zeros_like(self._hold)
            self._sim.set_targets(q, qd)
            self._sim.step()
        if self._fault_at is not None and self._sim_time() >= self._fault_at:
            raise RuntimeError(f'injected physics fault ({FAULT_ENV}, tests only)')

    def _publish_state(self, now: float, q: np.ndarray, qd: np.ndarray, obj: np.ndarray) -> None:
        stamp = to_time(now)
        self._clock_pub.publish(Clock(clock=stamp))
        joints = JointState(name=list(self._sim.arm.joint_names))
        joints.header.stamp = stamp
        joints.position, joints.velocity = q.tolist(), qd.tolist()
        self._joint_pub.publish(joints)
        pose = PoseStamped()
        pose.header.stamp, pose.header.frame_id = stamp, TABLE_FRAME
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = obj.tolist()
        pose.pose.orientation.w = 1.0
        self._pose_pub.publish(pose)

    def _publish_frame(self, now: float, frame: np.ndarray) -> None:
        stamp = to_time(now)
        image = Image(
            height=frame.shape[0], width=frame.shape[1], encoding='rgb8', step=frame.shape[1] * 3
        )
        image.header.stamp, image.header.frame_id = stamp, CAMERA_FRAME
        image.data = frame.tobytes()
        self._image_pub.publish(image)
        self._info_pub.publish(camera_info(self._camera, stamp))

    def destroy_node(self) -> None:
        """Stop the physics thread (which releases the renderer) before the node goes."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the sim bridge until Ctrl-C (exit 0) or until its physics thread dies (exit 3)."""
    made: list[SimBridge] = []

    def make() -> SimBridge:
        made.append(SimBridge())
        return made[-1]

    code = run_node(make, args)
    if made and made[0].failure:
        rclpy.logging.get_logger(NODE_NAME).fatal(f'exiting: physics died: {made[0].failure}')
        code = PHYSICS_FAILED
    raise SystemExit(code)


if __name__ == '__main__':
    main()
