# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A run's MCAP bag, read back: its summary (`icpi bag info`) and its messages, decoded.

A bag the recorder closed has a summary section; one cut short (the recorder killed) has
none and ends in a torn record: both are read record by record from the start, up to the
last complete chunk, and the summary says the file is truncated.
"""

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcap.exceptions import InvalidMagic, McapError
from mcap.records import Channel, Chunk, Footer, Message, Schema
from mcap.stream_reader import CRCValidationError, StreamReader, breakup_chunk

from icpi_ros.core.bag import BAG_NAME
from icpi_ros.core.validation import InvalidInput

MCAP_MAGIC = b'\x89MCAP0\r\n'


@dataclass
class TopicSummary:
    """One topic of a bag: its message type and how many messages it holds."""

    type_name: str
    count: int = 0


@dataclass
class BagSummary:
    """What a bag holds: topics, counts, the log-time span, and whether it is complete."""

    path: Path
    size_bytes: int
    topics: dict[str, TopicSummary] = field(default_factory=dict)
    start_ns: int | None = None
    end_ns: int | None = None
    chunks: int = 0
    complete: bool = False  # closed cleanly: a summary and footer after the data
    problem: str = ''  # why the reading stopped early, for a truncated file

    @property
    def messages(self) -> int:
        """Messages in the bag (complete chunks only)."""
        return sum(t.count for t in self.topics.values())

    @property
    def duration_s(self) -> float:
        """Seconds from the first message's log time to the last one's (0 if none)."""
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9


def bag_path(target: str, runs_dir: Path) -> Path:
    """Return the bag of `target`: a run id (runs_dir/<id>/run.mcap), a run folder or a file.

    Raises:
        InvalidInput: no such bag.

    """
    path = Path(target)
    for candidate in (path, path / BAG_NAME, runs_dir / target / BAG_NAME):
        if candidate.is_file():
            return candidate
    raise InvalidInput(f'no bag for {target!r}: neither a file nor {runs_dir / target / BAG_NAME}')


@dataclass
class ReadState:
    """How a read of a bag went, filled in as it goes; final once the last record is read."""

    chunks: int = 0  # complete chunks read
    complete: bool = False  # the footer was read: the bag was closed cleanly
    problem: str = ''  # why the reading stopped early (a torn or bad record), else ''
    bad_start: bool = False  # it stopped before any chunk (or on the magic bytes)


def _records(path: Path, state: ReadState) -> Iterator[Any]:
    """Every record of the data section, chunks opened; stops at a torn or bad record."""
    with open(path, 'rb') as stream:
        reader = StreamReader(stream, emit_chunks=True)
        try:
            for record in reader.records:
                if isinstance(record, Chunk):
                    inner = breakup_chunk(record, validate_crc=True)
                    state.chunks += 1
                    yield from inner
                else:
                    yield record
                if isinstance(record, Footer):
                    state.complete = True
        except (McapError, CRCValidationError, EOFError, ValueError, struct.error) as exc:
            state.problem = f'{type(exc).__name__}: {exc}'.rstrip(': ')
            state.bad_start = isinstance(exc, InvalidMagic) or state.chunks == 0


def _read(path: Path, state: ReadState) -> Iterator[Any]:
    if not path.is_file():
        raise InvalidInput(f'no bag at {path}')
    return _records(path, state)


def _check_mcap(path: Path, state: ReadState) -> None:
    """Raise InvalidInput if the read stopped at the start of a file that is not MCAP."""
    with open(path, 'rb') as stream:
        head = stream.read(len(MCAP_MAGIC))
    if state.bad_start and head != MCAP_MAGIC:
        raise InvalidInput(f'{path} is not an MCAP file ({state.problem})')


def summarize(path: Path) -> BagSummary:
    """Return what the bag at `path` holds, reading it to its end or its last complete chunk.

    Args:
        path: an MCAP file.

    Returns:
        The summary; `complete` is False for a file that ends early (`problem` says where).

    Raises:
        InvalidInput: no file at `path`, or not an MCAP file.

    """
    state = ReadState()
    records = _read(path, state)
    summary = BagSummary(path, path.stat().st_size)
    schemas: dict[int, str] = {}
    channels: dict[int, str] = {}
    try:
        for record in records:
            if isinstance(record, Schema):
                schemas[record.id] = record.name
            elif isinstance(record, Channel):
                channels[record.id] = record.topic
                summary.topics.setdefault(
                    record.topic, TopicSummary(schemas.get(record.schema_id, '?'))
                )
            elif isinstance(record, Message):
                summary.topics[channels[record.channel_id]].count += 1
                time = record.log_time
                summary.start_ns = time if summary.start_ns is None else min(summary.start_ns, time)
                summary.end_ns = time if summary.end_ns is None else max(summary.end_ns, time)
    finally:
        records.close()
    _check_mcap(path, state)
    summary.chunks, summary.complete = state.chunks, state.complete
    if not summary.complete:
        why = state.problem or 'no footer'
        summary.problem = f'truncated ({why}): read up to its last complete chunk'
    return summary


def read_messages(
    path: Path, topics: Iterable[str] | None = None, state: ReadState | None = None
) -> Iterator[tuple[str, int, Any]]:
    """Yield (topic, log time ns, decoded ROS 2 message) in file order, up to the last chunk.

    Works on a truncated bag too (mcap_ros2's `read_ros2_messages` needs the summary).

    Args:
        path: an MCAP file with `ros2msg` schemas and `cdr` messages.
        topics: only these topics; None: every one.
        state: filled in as the file is read; once the messages are exhausted it says
            whether the bag was closed (`complete`) and, if not, why the reading stopped.

    Yields:
        (topic, log_time_ns, message) with message as mcap_ros2 decodes it (attributes
        named as the fields).

    Raises:
        InvalidInput: no file at `path`, or not an MCAP file (once the messages are read).

    """
    from mcap_ros2.decoder import DecoderFactory

    wanted = None if topics is None else set(topics)
    factory = DecoderFactory()
    state = ReadState() if state is None else state
    records = _read(path, state)
    schemas: dict[int, Schema] = {}
    channels: dict[int, tuple[Channel, Any]] = {}
    try:
        for record in records:
            if isinstance(record, Schema):
                schemas[record.id] = record
            elif isinstance(record, Channel):
                schema = schemas[record.schema_id]
                decoder = factory.decoder_for(record.message_encoding, schema)
                channels[record.id] = (record, decoder)
            elif isinstance(record, Message):
                channel, decoder = channels[record.channel_id]
                if wanted is None or channel.topic in wanted:
                    yield channel.topic, record.log_time, decoder(record.data)
    finally:
        records.close()
    _check_mcap(path, state)
