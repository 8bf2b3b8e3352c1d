# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Camera frames in and video files out: a run bag's JPEG frames per trial window, MP4/GIF.

A bag (`runs/<id>/run.mcap`) holds JPEG `CompressedImage` on `/camera/image_raw/compressed`
and the intrinsics on `/camera/camera_info` (ROS 2 schemas, CDR). Videos are written with
OpenCV's `mp4v` writer (it works with opencv-python-headless) or as a GIF with Pillow.
"""

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from icpi_ros.core.bag import BAG_NAME
from icpi_ros.core.bag_read import ReadState, read_messages
from icpi_ros.core.errors import Failed
from icpi_ros.core.validation import InvalidInput
from icpi_ros.core.vision.camera import intrinsics_from_camera_info

BAG_FILE = BAG_NAME
IMAGE_TOPIC = '/camera/image_raw/compressed'
CAMERA_INFO_TOPIC = '/camera/camera_info'
FORMATS = ('mp4', 'gif')


@dataclass(frozen=True)
class Frame:
    """One camera frame of the bag: capture time (s, graph clock) and its JPEG bytes."""

    stamp_s: float
    data: bytes


@dataclass(frozen=True)
class BagImages:
    """The camera stream of a bag: its frames in time order and the first camera_info."""

    frames: tuple[Frame, ...]
    width: int
    height: int
    k: np.ndarray
    dist: np.ndarray


def read_bag_images(path: Path | str) -> BagImages:
    """Read the camera frames and intrinsics of an MCAP bag (with core.bag_read).

    A frame's time is its header stamp (the capture time the tracker stamps its points
    with), or the log time when the stamp is zero.

    Args:
        path: The bag (`runs/<id>/run.mcap`).

    Returns:
        The frames sorted by time and the intrinsics of the first camera_info. A bag without
        its summary (its recorder killed) is read up to its last complete chunk.

    Raises:
        InvalidInput: the bag is missing or unreadable (not MCAP, or cut short before its
            first frame), or holds no camera_info.

    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(
            f'no bag {path}: the run was recorded before bags existed or without the recorder'
        )
    frames, info, state = [], None, ReadState()
    try:
        for topic, log_ns, msg in read_messages(path, (IMAGE_TOPIC, CAMERA_INFO_TOPIC), state):
            if topic == CAMERA_INFO_TOPIC:
                info = info or msg
                continue
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
            frames.append(Frame(stamp or log_ns * 1e-9, bytes(msg.data)))
    except InvalidInput as exc:  # not an MCAP file
        raise InvalidInput(f'cannot read bag: {exc}') from None
    if not frames and not state.complete:  # cut short before its first complete chunk
        raise InvalidInput(f'cannot read bag {path}: {state.problem or "no footer"}')
    if info is None:
        raise InvalidInput(f'bag {path} has no {CAMERA_INFO_TOPIC}: no intrinsics to draw with')
    k, dist = intrinsics_from_camera_info(info.width, info.height, list(info.k), list(info.d))
    frames.sort(key=lambda f: f.stamp_s)  # file order is log time: sorted by capture time
    return BagImages(tuple(frames), int(info.width), int(info.height), k, dist)


def trial_window(trial: dict) -> tuple[float, float]:
    """Return a trial line's window (start_s, end_s) on the graph clock.

    Raises:
        InvalidInput: the line has no window (a run recorded without the graph).

    """
    try:
        start, end = float(trial['start_s']), float(trial['end_s'])
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f'trial {trial.get("iteration")} has no start_s/end_s window') from None
    return start, end


def frames_in_window(images: BagImages, trial: dict) -> list[Frame]:
    """Return the bag's frames captured in the trial's window (ends included).

    Raises:
        InvalidInput: no frame in the window, naming the window and the bag's time range.

    """
    start, end = trial_window(trial)
    chosen = [f for f in images.frames if start <= f.stamp_s <= end]
    if not chosen:
        span = (
            f'{images.frames[0].stamp_s:.2f}..{images.frames[-1].stamp_s:.2f} s'
            if images.frames
            else 'no camera frames at all'
        )
        raise InvalidInput(
            f'no camera frames in the window {start:.2f}..{end:.2f} s of trial '
            f'{trial["iteration"]} (the bag has {span})'
        )
    return chosen


def decode(frame: Frame) -> np.ndarray:
    """Return the frame as a BGR image.

    Raises:
        InvalidInput: the bytes are not an image OpenCV decodes.

    """
    image = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInput(f'the camera frame at {frame.stamp_s:.3f} s does not decode')
    return image


def frame_rate(frames: Sequence[Frame]) -> float:
    """Return the capture rate of `frames` (1 / median interval), 30 fps if it cannot tell."""
    gaps = np.diff([f.stamp_s for f in frames])
    gaps = gaps[gaps > 0]
    return float(np.clip(1.0 / np.median(gaps), 1.0, 60.0)) if len(gaps) else 30.0


def write_video(
    images: Iterable[np.ndarray],
    path: Path | str,
    fps: float,
    fmt: str,
    colours: Sequence[tuple] = (),
) -> int:
    """Write BGR images as an MP4 (`mp4v`) or a GIF; atomically (temporary file, rename).

    A GIF has one palette, made from the first frame and `colours`; frames are converted
    as they come, so memory holds the paletted frames only.

    Args:
        images: The frames, all of one size.
        path: The file to write.
        fps: Frames per second.
        fmt: 'mp4' or 'gif'.
        colours: BGR colours a GIF's palette holds exactly (the overlay's).

    Returns:
        The number of frames written.

    Raises:
        InvalidInput: an unknown format, no frames, or frames of different sizes.
        Failed: OpenCV could not open an MP4 writer.

    """
    if fmt not in FORMATS:
        raise InvalidInput(f'video format must be one of {FORMATS}, got {fmt!r}')
    path = Path(path)
    tmp = path.with_name(f'.{path.stem}.{os.getpid()}.tmp.{fmt}')
    try:
        if fmt == 'mp4':
            count = _write_mp4(iter(images), tmp, fps)
        else:
            count = _write_gif(iter(images), tmp, fps, colours)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _sized(images: Iterator[np.ndarray]) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    first = next(images, None)
    if first is None:
        raise InvalidInput('no frames to write')

    def rest() -> Iterator[np.ndarray]:
        yield first
        for image in images:
            if image.shape != first.shape:
                raise InvalidInput(f'frame of size {image.shape} in a video of {first.shape}')
            yield image

    return first, rest()


def _write_mp4(images: Iterator[np.ndarray], path: Path, fps: float) -> int:
    first, frames = _sized(images)
    size = (first.shape[1], first.shape[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    if not writer.isOpened():
        raise Failed(f'OpenCV cannot open an mp4v writer for {path}')
    count = 0
    try:
        for image in frames:
            writer.write(image)
            count += 1
    finally:
        writer.release()
    return count


def _write_gif(
    images: Iterator[np.ndarray], path: Path, fps: float, colours: Sequence[tuple]
) -> int:
    from PIL import Image

    first, frames = _sized(images)
    palette = _gif_palette(first, colours)
    count = 0

    def pictures() -> Iterator[Image.Image]:  # one at a time, as paletted images
        nonlocal count
        for image in frames:
            count += 1
            rgb = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            yield rgb.quantize(palette=palette, dither=Image.Dither.NONE)

    sequence = pictures()
    duration = max(20, int(round(1000.0 / fps / 10.0)) * 10)  # GIF delays are centiseconds
    next(sequence).save(
        path, format='GIF', save_all=True, append_images=sequence, duration=duration, loop=0
    )
    return count


def _gif_palette(first: np.ndarray, colours: Sequence[tuple]):
    """One palette for every frame: the first frame's colours plus `colours` (BGR) exactly."""
    from PIL import Image

    free = 256 - len(colours)
    rgb = Image.fromarray(cv2.cvtColor(first, cv2.COLOR_BGR2RGB))
    entries = rgb.quantize(colors=free, dither=Image.Dither.NONE).getpalette()[: 3 * free]
    entries += [0] * (3 * free - len(entries))
    for b, g, r in colours:
        entries += [r, g, b]
    palette = Image.new('P', (1, 1))
    palette.putpalette(entries)
    return palette
