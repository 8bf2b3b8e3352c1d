# Source this file (after `make setup`) for a shell where `icpi`, the node executables and the
# generated icpi_interfaces types work:   source env.sh
# Works from any directory; safe to source twice.

_icpi_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
if [ ! -x "$_icpi_root/.venv/bin/python" ] || [ ! -f "$_icpi_root/install/local_setup.bash" ]; then
  echo "env.sh: run 'make setup' in $_icpi_root first" >&2
  unset _icpi_root
  return 1 2>/dev/null || exit 1
fi

# The venv carries ROS 2 itself (rclpy, Fast DDS, message packages) as wheels; it is the
# underlay of the colcon workspace in install/.
# shellcheck disable=SC1091
source "$_icpi_root/.venv/bin/activate"
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$_icpi_root/.venv:"*) ;;
  *) export AMENT_PREFIX_PATH="$_icpi_root/.venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}" ;;
esac
# colcon's overlay: PYTHONPATH and LD_LIBRARY_PATH of icpi_interfaces, icpi_ros (develop mode).
# shellcheck disable=SC1091
source "$_icpi_root/install/local_setup.bash"
# colcon leaves an empty entry (= the current directory) at the end; drop it.
LD_LIBRARY_PATH=${LD_LIBRARY_PATH%:}
export LD_LIBRARY_PATH

# Node executables (icpi_planner, ...) and the `icpi` command, as `ros2 run icpi_ros X` would.
case ":$PATH:" in
  *":$_icpi_root/install/icpi_ros/lib/icpi_ros:"*) ;;
  *) export PATH="$_icpi_root/install/icpi_ros/lib/icpi_ros:$PATH" ;;
esac
export ICPI_ROOT="$_icpi_root"
# Headless rendering backend for MuJoCo, probed by `make setup` (egl, else osmesa).
if [ -z "${MUJOCO_GL:-}" ] && [ -s "$_icpi_root/.venv/.icpi-mujoco-gl" ]; then
  MUJOCO_GL=$(cat "$_icpi_root/.venv/.icpi-mujoco-gl")
  export MUJOCO_GL
fi
unset _icpi_root
