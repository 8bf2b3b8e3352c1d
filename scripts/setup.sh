#!/usr/bin/env bash
# Set up this checkout: a .venv with ROS 2 Kilted (PyPI wheels) and every pinned dependency,
# then colcon-build icpi_interfaces and icpi_ros into ./install. Idempotent: each step is
# skipped when its inputs are unchanged, so a second run takes a couple of seconds.
set -euo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VENV="$ROOT/.venv"
PYTHON=${PYTHON:-python3.11}
START_NS=$(date +%s%N)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# 1. System packages: cmake and a C/C++ compiler for the interface build; Mesa's EGL (and
#    OSMesa as a fallback) for MuJoCo's headless rendering; bubblewrap and libseccomp for the
#    PromptPO sandbox's kernel isolation. Debian/Ubuntu: installed if missing.
system_packages=(cmake gcc g++ make libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6 bubblewrap libseccomp2)
if command -v dpkg-query >/dev/null; then
  missing=()
  for pkg in "${system_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]} with apt-get"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
else
  command -v cmake >/dev/null && command -v cc >/dev/null \
    || die "not Debian/Ubuntu: install ${system_packages[*]} (or equivalents) yourself"
fi

# 2. The virtual environment, on CPython 3.11 (the ROS 2 Kilted wheels are cp311 only).
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || die "CPython 3.11 is required (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  say "creating $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
fi

# 3. Pinned Python dependencies (requirements.lock; regenerate with `make lock`).
req_hash=$(hash_of requirements.lock)
if [ "$(cat "$VENV/.icpi-requirements" 2>/dev/null)" != "$req_hash" ]; then
  say "installing pinned Python dependencies (first time: about a minute)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.lock \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$req_hash" > "$VENV/.icpi-requirements"
fi

# 4. The wheels' exported CMake targets name the include dirs of the machine that built them
#    (/opt/python/cp311-cp311/...), which do not exist here and make CMake refuse the targets.
#    We rewrite those strings inside the venv rather than creating /opt symlinks: it stays
#    within the project's own files, needs no root, and survives nothing outside .venv.
#    Idempotent: once rewritten, the old prefix no longer matches.
mapfile -t stale < <(grep -rl "/opt/python/cp311-cp311" "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if ((${#stale[@]})); then
  py_inc=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  np_inc=$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')
  say "pointing ${#stale[@]} CMake export files at this interpreter's include dirs"
  sed -i \
    -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#${np_inc}#g" \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${py_inc}#g" \
    "${stale[@]}"
fi

# 5. colcon build of both packages. icpi_interfaces sits inside icpi_ros's folder, where colcon
#    does not look for nested packages, so both are named by path.
#    --symlink-install: Python sources, launch and config files are used in place.
build_inputs=(package.xml setup.py setup.cfg resource/icpi_ros icpi_interfaces/package.xml
  icpi_interfaces/CMakeLists.txt msg/*.msg srv/*.srv action/*.action launch/*.py config/*.yaml)
build_hash=$(printf '%s\n' "${build_inputs[@]}" | hash_of - "${build_inputs[@]}")
if [ "$(cat install/.icpi-build 2>/dev/null)" != "$build_hash" ] || [ ! -d install/icpi_ros ]; then
  say "colcon build (icpi_interfaces, icpi_ros)"
  mkdir -p build
  (
    # shellcheck disable=SC1091
    source "$VENV/bin/activate"
    export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
    colcon --log-base build/log build \
      --paths . icpi_interfaces \
      --build-base build --install-base install \
      --symlink-install \
      --event-handlers console_direct- status- summary+ \
      --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
      > build/colcon.log 2>&1 || { tail -50 build/colcon.log >&2; exit 1; }
  ) || die "colcon build failed; the full log is build/colcon.log"
  echo "$build_hash" > install/.icpi-build
fi

# 6. MuJoCo's headless OpenGL backend (EGL, else OSMesa), probed once; env.sh exports it.
if [ ! -s "$VENV/.icpi-mujoco-gl" ]; then
  MUJOCO_GL="" "$VENV/bin/python" -c 'import os, icpi_ros.core.sim; print(os.environ["MUJOCO_GL"])' \
    > "$VENV/.icpi-mujoco-gl" 2>/dev/null || true
  say "MuJoCo rendering backend: $(cat "$VENV/.icpi-mujoco-gl")"
fi

elapsed_ms=$((($(date +%s%N) - START_NS) / 1000000))
say "ready in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s; next: source env.sh"
