# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""MJCF scenes: the arm, the table, the task's object (puck, ball or rope), cameras, goal marker.

Written by hand in plain MJCF that loads on MuJoCo 3.17 and 4.0 (no <composite>, no plugins).
What keeps theta -> outcome smooth: a plane table, a sphere-tipped pusher, a frictionless
pusher-object contact pair (arm geoms collide with nothing else), elliptic friction cones, the
Newton solver and the implicitfast integrator.
"""

from dataclasses import dataclass

import cv2

from icpi_ros.core.arm import ArmSpec
from icpi_ros.core.tasks import TaskSpec
from icpi_ros.core.vision.calibration import MARGIN, MarkerLayout


@dataclass(frozen=True)
class ObjectSpec:
    """Physical constants of the simulated objects."""

    puck_radius: float = 0.04
    puck_height: float = 0.04
    puck_mass: float = 0.12
    puck_friction: float = 0.12
    ball_radius: float = 0.03
    ball_mass: float = 0.06
    ball_friction: float = 0.6
    ball_rolling_friction: float = 0.003
    rope_segments: int = 15
    rope_segment_length: float = 0.02
    rope_radius: float = 0.006
    rope_damping: float = 0.0004
    marker_colour: tuple[float, float, float] = (0.9, 0.05, 0.05)


CAMERA_WIDTH = 640
CAMERA_HEIGHT = 480
# Physics step per object: the rope's light segments need 1 ms.
TIMESTEP = {'puck': 0.001, 'ball': 0.001, 'rope': 0.001}
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


def _rope_xml(obj: ObjectSpec, arm: ArmSpec) -> str:
    seg, r = obj.rope_segment_length, obj.rope_radius
    xml = (
        f'<geom name="rope_tip" type="sphere" size="0.012" pos="0 0 {-seg:g}" '
        f'rgba="{_rgba(obj.marker_colour)}" mass="0.002"/>'
        f'<site name="object" pos="0 0 {-seg:g}" size="0.004" group="5"/>'
    )
    for i in reversed(range(obj.rope_segments)):
        pos = f'{arm.tool:g} 0 0' if i == 0 else f'0 0 {-seg:g}'
        xml = (
            f'<body name="rope_{i}" pos="{pos}">'
            f'<joint name="rope_{i}" type="ball" damping="{obj.rope_damping:g}" armature="1e-6"/>'
            f'<geom type="capsule" fromto="0 0 0 0 0 {-seg:g}" size="{r:g}" '
            f'rgba=".85 .75 .45 1" contype="0" conaffinity="0"/>{xml}</body>'
        )
    return xml


def _object_xml(kind: str, obj: ObjectSpec, task: TaskSpec) -> str:
    x, y = task.motion.object_start
    marker = _rgba(obj.marker_colour)
    if kind == 'puck':
        h2 = obj.puck_height / 2
        return f"""
    <body name="puck" pos="{x:g} {y:g} {h2:g}">
      <freejoint name="puck"/>
      <geom name="object" type="cylinder" size="{obj.puck_radius:g} {h2:g}"
            mass="{obj.puck_mass:g}" friction="{obj.puck_friction:g} 0.005 0.0001"
            rgba=".2 .2 .22 1"/>
      <geom name="marker" type="cylinder" size="{obj.puck_radius * 0.8:g} 0.001"
            pos="0 0 {h2 + 0.001:g}" mass="0" contype="0" conaffinity="0" rgba="{marker}"/>
      <site name="object" pos="0 0 {h2:g}" size="0.004" group="5"/>
    </body>"""
    r = obj.ball_radius
    return f"""
    <body name="ball" pos="{x:g} {y:g} {r:g}">
      <freejoint name="ball"/>
      <geom name="object" type="sphere" size="{r:g}" mass="{obj.ball_mass:g}" condim="6"
            friction="{obj.ball_friction:g} 0.002 {obj.ball_rolling_friction:g}" rgba="{marker}"/>
      <site name="object" size="0.004" group="5"/>
    </body>"""


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


def scene_xml(
    task: TaskSpec, arm: ArmSpec, obj: ObjectSpec | None = None, markers: str = '', assets: str = ''
) -> str:
    """Return the MJCF of `task`'s scene (with `markers` geoms and `assets`, if given)."""
    obj = obj or ObjectSpec()
    kind = task.sim_object
    if kind is None:
        raise ValueError(f'task {task.name!r} has no simulated object (a real-robot task)')
    rope = kind == 'rope'
    tool_children = _rope_xml(obj, arm) if rope else ''
    objects = '' if rope else _object_xml(kind, obj, task)
    pair = (
        ''
        if rope
        else '<contact><pair geom1="tip" geom2="object" condim="1" friction="0 0 0 0 0"/></contact>'
    )
    goal_geom = (
        '<geom type="sphere" size="0.015" rgba=".1 .7 .2 .6" contype="0" conaffinity="0"/>'
        if rope
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
  <option timestep="{TIMESTEP[kind]:g}" integrator="implicitfast" cone="elliptic"
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
