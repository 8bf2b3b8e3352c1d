# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""`icpi llm serve`: the embedded local LLM (llama.cpp's server from .venv-llm) until stopped."""

import argparse
import signal
import sys

from icpi_ros.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_REJECTED
from icpi_ros.process.local_llm import (
    DEFAULT_HOST,
    DEFAULT_N_CTX,
    SMOLLM2,
    SMOLLM2_ALIAS,
    LocalLLMError,
    LocalLLMFailed,
    LocalLLMServer,
)
from icpi_ros.process.stop_signal import StopSignal


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
