# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""MJCF scenes: the arm, the table, the task's object (puck, ball or rope), cameras, goal marker.

Written by hand in plain MJCF that loads on MuJoCo 3.17 and 4.0 (no <composite>, no plugins).
What keeps theta -> outcome smooth: a plane table, a sphere-tipped pusher, a frictionless
pusher-object contact pair (arm geoms collide with nothing else), elliptic friction cones, the
Newton solver and the implicitfast integrator.
"""

import cv2

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.builtin_plugin import OBJECTS, ObjectSpec
from icpi_ros.core.task_plugins import SceneContext, SimObject, plugin_registry
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.vision.calibration import MARGIN, MarkerLayout

CAMERA_WIDTH = 640
CAMERA_HEIGHT = 480
KP = (800.0, 800.0, 500.0, 150.0)  # position gain per joint, N m / rad
KV = (40.0, 40.0, 25.0, 6.0)  # velocity gain per joint (velocity feed-forward), N m s / rad


def _rgba(rgb: tuple[float, float, float], alpha: float = 1.0) -> str:
    return f'{rgb[0]:g} {rgb[1]:g} {rgb[2]:g} {alpha:g}'


def _arm_xml(arm: ArmSpec, tool_children: str) -> str:
    lo, hi = arm.lower, arm.upper
    h = arm.shoulder_height

    def joint(i: int, axis: str) -> str:
        return (
            f'<joint name="{arm.joint_names[i]}" axis="{axis}" range="{lo[i]:g} {hi[i]:g}" '
            f'armature="0.01" damping="0.05"/>'
        )

    return f"""
    <body name="arm_base" gravcomp="1">
      <geom class="arm" type="cylinder" size="0.07 {h / 2:g}" pos="0 0 {h / 2:g}"
            rgba=".25 .27 .3 1"/>
      <body name="turret" pos="0 0 {h:g}" gravcomp="1">
        {joint(0, '0 0 1')}
        <geom class="arm" type="cylinder" size="0.055 0.035" rgba=".3 .32 .36 1"/>
        <body name="upper_arm" gravcomp="1">
          {joint(1, '0 1 0')}
          <geom class="arm" type="capsule" fromto="0 0 0 {arm.upper_arm:g} 0 0" size="0.03"/>
          <body name="forearm" pos="{arm.upper_arm:g} 0 0" gravcomp="1">
            {joint(2, '0 1 0')}
            <geom class="arm" type="capsule" fromto="0 0 0 {arm.forearm:g} 0 0" size="0.024"/>
            <body name="tool" pos="{arm.forearm:g} 0 0" gravcomp="1">
              {joint(3, '0 1 0')}
              <geom class="arm" type="capsule" size="0.012"
                    fromto="0 0 0 {arm.tool - arm.tip_radius:g} 0 0"/>
              <geom name="tip" class="arm" type="sphere" size="{arm.tip_radius:g}"
                    pos="{arm.tool:g} 0 0" rgba=".15 .15 .18 1"/>
              <site name="tip" pos="{arm.tool:g} 0 0" size="0.005" group="5"/>
              {tool_children}
            </body>
          </body>
        </body>
      </body>
    </body>"""


def rope_body(task: TaskSpec, context: SceneContext, obj: ObjectSpec = OBJECTS) -> str:
    """Return the built-in rope: capsules on ball joints hanging from the tool, a marker tip."""
    seg, r = obj.rope_segment_length, obj.rope_radius
    xml = (
        f'<geom name="rope_tip" type="sphere" size="0.012" pos="0 0 {-seg:g}" '
        f'rgba="{context.marker_rgba}" mass="0.002"/>'
        f'<site name="object" pos="0 0 {-seg:g}" size="0.004" group="5"/>'
    )
    tip = ' '.join(f'{v:g}' for v in context.tip_in_tool)
    for i in reversed(range(obj.rope_segments)):
        pos = tip if i == 0 else f'0 0 {-seg:g}'
        xml = (
            f'<body name="rope_{i}" pos="{pos}">'
            f'<joint name="rope_{i}" type="ball" damping="{obj.rope_damping:g}" armature="1e-6"/>'
            f'<geom type="capsule" fromto="0 0 0 0 0 {-seg:g}" size="{r:g}" '
            f'rgba=".85 .75 .45 1" contype="0" conaffinity="0"/>{xml}</body>'
        )
    return xml


def puck_body(task: TaskSpec, context: SceneContext, obj: ObjectSpec = OBJECTS) -> str:
    """Return the built-in puck: a sliding cylinder with a marker disc on its top."""
    x, y = task.motion.object_start
    h2 = obj.puck_height / 2
    return f"""
    <body name="puck" pos="{x:g} {y:g} {h2:g}">
      <freejoint name="puck"/>
      <geom name="object" type="cylinder" size="{obj.puck_radius:g} {h2:g}"
            mass="{obj.puck_mass:g}" friction="{obj.puck_friction:g} 0.005 0.0001"
            rgba=".2 .2 .22 1"/>
      <geom name="marker" type="cylinder" size="{obj.puck_radius * 0.8:g} 0.001"
            pos="0 0 {h2 + 0.001:g}" mass="0" contype="0" conaffinity="0"
            rgba="{context.marker_rgba}"/>
      <site name="object" pos="0 0 {h2:g}" size="0.004" group="5"/>
    </body>"""


def ball_body(task: TaskSpec, context: SceneContext, obj: ObjectSpec = OBJECTS) -> str:
    """Return the built-in ball: a rolling sphere, all of it the marker."""
    x, y = task.motion.object_start
    r = obj.ball_radius
    return f"""
    <body name="ball" pos="{x:g} {y:g} {r:g}">
      <freejoint name="ball"/>
      <geom name="object" type="sphere" size="{r:g}" mass="{obj.ball_mass:g}" condim="6"
            friction="{obj.ball_friction:g} 0.002 {obj.ball_rolling_friction:g}"
            rgba="{context.marker_rgba}"/>
      <site name="object" size="0.004" group="5"/>
    </body>"""


def sim_object_of(task: TaskSpec) -> SimObject:
    """Return the SimObject kind of `task`'s `sim_object`."""
    return plugin_registry().sim_object(task.sim_object, f'task {task.name}: sim_object')


def markers_xml(layout: MarkerLayout | None) -> tuple[str, str, dict[str, bytes]]:
    """Assets, bodies and texture files of ArUco markers lying flat on the table."""
    if layout is None:
        return '', '', {}
    assets, bodies, files = [], [], {}
    for marker in layout.markers:
        name = f'aruco_{marker.id}'
        ok, png = cv2.imencode(
            '.png', cv2.cvtColor(layout.marker_image(marker.id), cv2.COLOR_GRAY2RGB)
        )
        files[f'{name}.png'] = png.tobytes()
        assets.append(
            f'<texture name="{name}" type="2d" file="{name}.png"/>'
            f'<material name="{name}" texture="{name}"/>'
        )
        half = marker.size * (1 + 2 * MARGIN) / 2
        bodies.append(
            f'<geom name="{name}" type="box" size="{half:g} {half:g} 0.0002" '
            f'pos="{marker.x:g} {marker.y:g} 0.0002" material="{name}" contype="0" '
            'conaffinity="0"/>'
        )
    return ''.join(assets), ''.join(bodies), files


def scene_xml(task: TaskSpec, arm: ArmSpec, markers: str = '', assets: str = '') -> str:
    """Return the MJCF of `task`'s scene (with `markers` geoms and `assets`, if given).

    The object is the task's `sim_object` kind (a SimObject of its plugin; the built-in puck,
    ball and rope are the `icpi_ros` plugin's).
    """
    if task.sim_object is None:
        raise ValueError(f'task {task.name!r} has no simulated object (a real-robot task)')
    kind = sim_object_of(task)
    context = SceneContext(_rgba(OBJECTS.marker_colour), (arm.tool, 0.0, 0.0))
    body = kind.body_xml(task, context)
    tool_children, objects = (body, '') if kind.on_tool else ('', body)
    pair = (
        ''
        if kind.on_tool
        else '<contact><pair geom1="tip" geom2="object" condim="1" friction="0 0 0 0 0"/></contact>'
    )
    goal_geom = (
        '<geom type="sphere" size="0.015" rgba=".1 .7 .2 .6" contype="0" conaffinity="0"/>'
        if kind.on_tool
        else '<geom type="cylinder" size="0.03 0.0005" rgba=".1 .7 .2 1" contype="0" '
        'conaffinity="0"/>'
    )
    # MuJoCo combines friction by taking the larger of the two geoms' coefficients: the table's
    # are tiny so that each object's own coefficients apply.
    # Top camera: image up = table +x (away from the robot), image right = table -y.
    # Side camera (rope): looks along +y at the x-z plane.
    cameras = (
        '<camera name="top" pos="0.75 0 1.3" xyaxes="0 -1 0 1 0 0" fovy="45"/>'
        '<camera name="side" pos="0.55 -1.6 0.35" xyaxes="1 0 0 0 0 1" fovy="45"/>'
    )
    actuators = ''.join(
        f'<position name="p_{n}" joint="{n}" kp="{KP[i]:g}" ctrlrange="{arm.lower[i]:g} '
        f'{arm.upper[i]:g}"/><velocity name="v_{n}" joint="{n}" kv="{KV[i]:g}"/>'
        for i, n in enumerate(arm.joint_names)
    )
    return f"""<mujoco model="icpi_{task.name}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{kind.timestep:g}" integrator="implicitfast" cone="elliptic"
          solver="Newton" gravity="0 0 -9.81"/>
  <visual>
    <global offwidth="{CAMERA_WIDTH}" offheight="{CAMERA_HEIGHT}"/>
    <quality shadowsize="0"/>
    <headlight ambient=".3 .3 .3" diffuse=".35 .35 .35" specular="0 0 0"/>
  </visual>
  <default>
    <default class="arm">
      <geom contype="0" conaffinity="0" density="300" rgba=".62 .64 .7 1"/>
    </default>
  </default>
  <asset>{assets}</asset>
  <worldbody>
    <light pos="0.7 0 2.5" dir="0 0 -1" castshadow="false" diffuse=".4 .4 .4"/>
    {markers}
    <geom name="table" type="plane" pos="0.7 0 0" size="1.0 0.8 0.05" rgba=".5 .52 .5 1"
          friction="0.01 0 0"/>
    {cameras}
    <body name="goal" mocap="true" pos="0.8 0 0.0005">{goal_geom}</body>
    {_arm_xml(arm, tool_children)}
    {objects}
  </worldbody>
  {pair}
  <actuator>{actuators}</actuator>
</mujoco>
"""


def arm_model_xml(arm: ArmSpec) -> str:
    """Return MJCF of the arm alone: a kinematics file like a real robot's (URDF or MJCF).

    `icpi kinematics --export-sim-arm` writes it; the real-robot executor loads it to stand
    the simulated arm in for a real one.
    """
    return f"""<mujoco model="icpi_arm">
  <compiler angle="radian" autolimits="true"/>
  <default>
    <default class="arm">
      <geom contype="0" conaffinity="0" density="300"/>
    </default>
  </default>
  <worldbody>
    {_arm_xml(arm, '')}
  </worldbody>
</mujoco>
"""
