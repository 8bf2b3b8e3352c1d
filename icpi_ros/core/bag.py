# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A run's MCAP bag, written: ROS 2 message schemas, camera frames as JPEG, a chunked writer.

ROS-free: the recorder node (nodes/run_recorder.py) hands serialized CDR messages to
`BagWriter`; the schemas are the `ros2msg` text Foxglove and `ros2 bag` decode, built from the
installed .msg/.action files (`message_definition`); `compress_frame` turns a raw camera frame
into a downsampled JPEG. Reading a bag back (also a truncated one) is core/bag_read.py.
"""

import os
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from mcap.writer import CompressionType, Writer

from icpi_ros.core.validation import InvalidInput

BAG_NAME = 'run.mcap'  # runs/<run_id>/run.mcap
PROFILE = 'ros2'
SCHEMA_ENCODING = 'ros2msg'
MESSAGE_ENCODING = 'cdr'
_SEPARATOR = '=' * 80
PRIMITIVES = frozenset(
    ('bool', 'byte', 'char', 'float32', 'float64', 'int8', 'uint8', 'int16', 'uint16')
    + ('int32', 'uint32', 'int64', 'uint64', 'string', 'wstring')
)
# Channels per pixel and the OpenCV conversion to BGR of the image encodings we accept.
_ENCODINGS: dict[str, tuple[int, int | None]] = {
    'rgb8': (3, cv2.COLOR_RGB2BGR),
    'bgr8': (3, None),
    'rgba8': (4, cv2.COLOR_RGBA2BGR),
    'bgra8': (4, cv2.COLOR_BGRA2BGR),
    'mono8': (1, None),
}


def share_directory(package: str) -> Path:
    """Return `package`'s share directory from the ament index (AMENT_PREFIX_PATH).

    Raises:
        InvalidInput: the package is not installed.

    """
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory(package))
    except PackageNotFoundError:
        raise InvalidInput(f'message package {package!r} is not installed') from None


def _split_type(type_name: str) -> tuple[str, str]:
    """'pkg/msg/Name' or 'pkg/Name' -> (pkg, Name)."""
    parts = type_name.split('/')
    if len(parts) == 2 or (len(parts) == 3 and parts[1] == 'msg'):
        return parts[0], parts[-1]
    raise InvalidInput(f'message type {type_name!r}: expected pkg/msg/Name')


def _own_text(package: str, name: str) -> str:
    """Return the definition of one type alone, as its .msg file has it."""
    path = share_directory(package) / 'msg' / f'{name}.msg'
    if not path.is_file():
        raise InvalidInput(f'message type {package}/msg/{name}: no {path}')
    return path.read_text()


def _field_types(text: str, package: str) -> list[str]:
    """Return the non-primitive types `text`'s fields use, as 'pkg/Name'."""
    found = []
    for line in text.splitlines():
        line = line.split('#', 1)[0].strip()
        if not line:
            continue
        base = re.sub(r'(\[[^\]]*\]|<=\d+)$', '', line.split()[0])
        base = re.sub(r'<=\d+$', '', base)
        if base in PRIMITIVES:
            continue
        if base == 'Header':
            found.append('std_msgs/Header')
        elif '/' in base:
            found.append(base)
        else:  # a type of the same package
            found.append(f'{package}/{base}')
    return found


def message_definition(type_name: str) -> str:
    """Return the `ros2msg` schema text of `type_name`: its definition, then each dependency.

    As rosbag2 writes it: every type it uses (recursively, each once) follows a line of 80
    '=' and a `MSG: pkg/Name` line.

    Args:
        type_name: 'pkg/msg/Name' (or 'pkg/Name').

    Returns:
        The schema text (UTF-8 when written).

    Raises:
        InvalidInput: the type, or one it uses, is not installed.

    """
    package, name = _split_type(type_name)
    main = _own_text(package, name)
    parts, seen = [], set()

    def add_dependencies(text: str, pkg: str) -> None:
        for dep in _field_types(text, pkg):
            if dep in seen:
                continue
            seen.add(dep)
            dep_pkg, dep_name = _split_type(dep)
            dep_text = _own_text(dep_pkg, dep_name)
            parts.append(f'{_SEPARATOR}\nMSG: {dep}\n{dep_text.rstrip()}\n')
            add_dependencies(dep_text, dep_pkg)

    add_dependencies(main, package)
    return main.rstrip() + '\n' + ''.join(parts)


def compress_frame(
    data: bytes | np.ndarray,
    width: int,
    height: int,
    encoding: str,
    max_width: int,
    quality: int,
    step: int = 0,
) -> bytes:
    """Return a camera frame as a JPEG, scaled down to at most `max_width` pixels across.

    Args:
        data: the raw pixels (sensor_msgs/Image `data`), rows of `step` bytes.
        width: frame width (px).
        height: frame height (px).
        encoding: rgb8, bgr8, rgba8, bgra8 or mono8.
        max_width: wider frames are scaled down to this width, aspect kept (INTER_AREA).
        quality: JPEG quality, 1..100.
        step: bytes per row; 0: width x channels.

    Returns:
        The JPEG bytes.

    Raises:
        InvalidInput: an encoding not listed, a size that does not match the data, or
            `max_width`/`quality` out of range.

    """
    if encoding not in _ENCODINGS:
        raise InvalidInput(f'image encoding {encoding!r}: expected one of {", ".join(_ENCODINGS)}')
    if max_width < 1 or not 1 <= quality <= 100:
        raise InvalidInput(f'max_width {max_width} must be >= 1, quality {quality} in 1..100')
    channels, conversion = _ENCODINGS[encoding]
    step = step or width * channels
    pixels = np.frombuffer(data, dtype=np.uint8)
    if width < 1 or height < 1 or step < width * channels or pixels.size < step * height:
        raise InvalidInput(f'image {width}x{height} {encoding}: {pixels.size} bytes, step {step}')
    rows = pixels[: step * height].reshape(height, step)[:, : width * channels]
    frame = rows.reshape(height, width, channels) if channels > 1 else rows
    if conversion is not None:
        frame = cv2.cvtColor(frame, conversion)
    if width > max_width:
        size = (max_width, max(1, round(height * max_width / width)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode('.jpg', frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InvalidInput(f'image {width}x{height} {encoding}: JPEG encoding failed')
    return jpeg.tobytes()


class RateCap:
    """Let through at most one event per `period_ns` (0: every one); times may jump back."""

    def __init__(self, max_rate_hz: float) -> None:
        """Cap at `max_rate_hz` (0 or less: no cap)."""
        self.period_ns = int(1e9 / max_rate_hz) if max_rate_hz > 0 else 0
        self._last: int | None = None

    def admit(self, now_ns: int) -> bool:
        """Whether an event at `now_ns` passes (and counts as the last one)."""
        last = self._last
        if last is not None and last <= now_ns < last + self.period_ns:
            return False
        self._last = now_ns
        return True


class BagWriter:
    """An MCAP file of ROS 2 messages, each finished chunk flushed and fsynced.

    `write()` adds one serialized (CDR) message, registering its topic's channel (and the
    type's schema) on first use; when the writer finishes a chunk (`chunk_size` bytes) the
    file is flushed and fsynced, so a process killed at any moment leaves a file readable up
    to its last complete chunk; `sync()` ends the chunk in progress the same way (the recorder
    calls it periodically). `close()` writes the summary. Not thread-safe: one caller at a time.
    """

    def __init__(
        self,
        path: Path,
        chunk_size: int = 1 << 20,
        definition: Callable[[str], str] = message_definition,
    ) -> None:
        """Create `path` (its folder must exist).

        Raises:
            OSError: the file cannot be created.

        """
        self.path = path
        self._definition = definition
        self._file = open(path, 'wb')  # noqa: SIM115 (closed in close())
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._writer.start(profile=PROFILE, library='icpi_ros run_recorder')
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._synced_at = 0
        self.counts: dict[str, int] = {}
        self.closed = False

    def _channel(self, topic: str, type_name: str) -> int:
        channel = self._channels.get(topic)
        if channel is None:
            schema = self._schemas.get(type_name)
            if schema is None:
                text = self._definition(type_name).encode()
                schema = self._writer.register_schema(type_name, SCHEMA_ENCODING, text)
                self._schemas[type_name] = schema
            channel = self._writer.register_channel(topic, MESSAGE_ENCODING, schema)
            self._channels[topic], self.counts[topic] = channel, 0
        return channel

    def write(
        self, topic: str, type_name: str, data: bytes, log_time_ns: int, publish_time_ns: int
    ) -> None:
        """Add one CDR message of `type_name` ('pkg/msg/Name') on `topic`.

        Raises:
            InvalidInput: the first message of a type that is not installed.

        """
        channel = self._channel(topic, type_name)
        self._writer.add_message(
            channel, log_time_ns, bytes(data), publish_time_ns, sequence=self.counts[topic]
        )
        self.counts[topic] += 1
        if self._file.tell() != self._synced_at:  # a chunk was finished: make it durable
            self._fsync()

    def sync(self) -> None:
        """End the chunk in progress (if any message is in it) and fsync the file."""
        self._writer.flush()
        if self._file.tell() != self._synced_at:
            self._fsync()

    def _fsync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced_at = self._file.tell()

    def close(self) -> None:
        """Finish the file (summary, footer), fsync and close it; idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._writer.finish()
            self._fsync()
        finally:
            self._file.close()
