# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A test stand-in for the paid LLM service: an OpenAI-compatible HTTP server on 127.0.0.1.

It speaks the chat-completions protocol (POST /v1/chat/completions), records every request,
and answers the ICPI prompt by computing a delta from the examples it was shown: the mean
delta of the `nearest` last example lines (the prompt lists them far to near). Faults can be
scripted per request: a slow answer (client timeout), HTTP 429 / 500, or any literal text.
"""

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARROW = '->'


def delta_from_prompt(user_text: str, nearest: int = 5) -> list[float]:
    """Mean delta of the last `nearest` example lines of an ICPI prompt."""
    examples = [line for line in user_text.splitlines() if not line.rstrip().endswith(ARROW)]
    deltas = [[float(v) for v in line.split(ARROW)[1].split()] for line in examples[-nearest:]]
    return [sum(col) / len(col) for col in zip(*deltas, strict=True)]


class LoopbackLLM:
    """Start with `with LoopbackLLM() as llm:`; `llm.base_url` goes to the client."""

    def __init__(self, nearest: int = 5) -> None:
        self.nearest = nearest
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.script: deque = deque()  # actions for the next requests, then 'answer'
        self.slow_s = 2.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                if not re.fullmatch(r'(/v1)?/chat/completions', self.path):
                    self._send(404, {'error': {'message': f'no route {self.path}'}})
                    return
                request = json.loads(body)
                with outer._lock:
                    outer.requests.append(request)
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    action = outer.script.popleft() if outer.script else 'answer'
                outer._act(self, action, request)

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._handler = Handler
        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL of this server."""
        host, port = self._server.server_address[:2]
        return f'http://{host}:{port}/v1'

    def answer_text(self, request: dict) -> str:
        """The delta this server answers for a request (6 decimals)."""
        user = next(m['content'] for m in request['messages'] if m['role'] == 'user')
        return ' '.join(f'{v:.6f}' for v in delta_from_prompt(user, self.nearest))

    def _act(self, handler, action: str, request: dict) -> None:
        if action == 'slow':
            time.sleep(self.slow_s)
            action = 'answer'
        if action in ('429', '500'):
            handler._send(int(action), {'error': {'message': f'injected {action}'}})
            return
        text = self.answer_text(request) if action == 'answer' else action.removeprefix('text:')
        handler._send(
            200,
            {
                'id': f'chatcmpl-loopback-{len(self.requests)}',
                'object': 'chat.completion',
                'created': int(time.time()),
                'model': request.get('model', ''),
                'choices': [
                    {
                        'index': 0,
                        'message': {'role': 'assistant', 'content': text},
                        'finish_reason': 'stop',
                    }
                ],
                'usage': {'prompt_tokens': 500, 'completion_tokens': 12, 'total_tokens': 512},
            },
        )

    def __enter__(self) -> 'LoopbackLLM':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
