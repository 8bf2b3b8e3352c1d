# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A test stand-in for the paid LLM service: an OpenAI-compatible HTTP server on 127.0.0.1.

It speaks the chat-completions and completions protocols (POST /v1/chat/completions,
/v1/completions), records every request, and answers the ICPI prompt by computing a delta
from the examples it was shown: the mean delta of the `nearest` last example lines (the prompt
lists them far to near). What the next requests get can be scripted, one action each:

- `answer`: the delta, 6 decimals (also what every request gets once the script is empty);
- `wrapped`, `fenced`, `think`, `labelled`: the delta as real chat models write it (a sentence,
  a code fence, a `<think>` block, a `Δθ:` label with a Unicode minus and a trailing period);
- `reasoning_field`: the delta, with a separate `reasoning_content` field;
- `length`: the delta, marked `finish_reason: length` (cut off);
- `slow` (a client timeout), `400` (a bad request), `429`, `500`;
- `text:...`: any literal text.

`reasoning_model = True` makes the server refuse `max_tokens` and a temperature other than 1
with HTTP 400, as OpenAI's reasoning models do.
"""

import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARROW = '->'
# An example line; one from the robot's own trials starts with '* ' (episode memory).
_EXAMPLE = re.compile(r'^(\* )?[-+\d. |]+->[-+\d. ]+$')


def delta_from_prompt(prompt_text: str, nearest: int = 5) -> list[float]:
    """Mean delta of the last `nearest` example lines of an ICPI prompt."""
    examples = [line for line in prompt_text.splitlines() if _EXAMPLE.match(line.strip())]
    deltas = [[float(v) for v in line.split(ARROW)[1].split()] for line in examples[-nearest:]]
    return [sum(col) / len(col) for col in zip(*deltas, strict=True)]


def _refusal(param: str, message: str) -> dict:
    return {
        'error': {
            'message': message,
            'type': 'invalid_request_error',
            'param': param,
            'code': 'unsupported_parameter',
        }
    }


class LoopbackLLM:
    """Start with `with LoopbackLLM() as llm:`; `llm.base_url` goes to the client."""

    def __init__(self, nearest: int = 5) -> None:
        self.nearest = nearest
        self.requests: list[dict] = []
        self.paths: list[str] = []
        self.headers: list[dict] = []
        self.script: deque = deque()  # actions for the next requests, then 'answer'
        self.slow_s = 2.0
        self.reasoning_model = False
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                if not re.fullmatch(r'(/v1)?/(chat/)?completions', self.path):
                    self._send(404, {'error': {'message': f'no route {self.path}'}})
                    return
                request = json.loads(body)
                with outer._lock:
                    outer.requests.append(request)
                    outer.paths.append(self.path)
                    outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                    refusal = outer._refusal(request)
                    action = (
                        'refuse'
                        if refusal
                        else (outer.script.popleft() if outer.script else 'answer')
                    )
                if refusal:
                    self._send(400, refusal)
                    return
                outer._act(self, action, request, chat='chat/' in self.path)

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

    def _refusal(self, request: dict) -> dict | None:
        if not self.reasoning_model:
            return None
        if 'max_tokens' in request:
            return _refusal(
                'max_tokens',
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                "'max_completion_tokens' instead.",
            )
        if request.get('temperature', 1) != 1:
            return _refusal(
                'temperature',
                f"Unsupported value: 'temperature' does not support {request['temperature']} "
                'with this model. Only the default (1) value is supported.',
            )
        return None

    def answer_text(self, request: dict) -> str:
        """The delta this server answers for a request (6 decimals)."""
        if 'prompt' in request:
            text = request['prompt']
        else:
            text = next(m['content'] for m in request['messages'] if m['role'] == 'user')
        return ' '.join(f'{v:.6f}' for v in delta_from_prompt(text, self.nearest))

    def _act(self, handler, action: str, request: dict, chat: bool) -> None:
        if action == 'slow':
            time.sleep(self.slow_s)
            action = 'answer'
        if action in ('400', '429', '500'):
            handler._send(int(action), {'error': {'message': f'injected {action}'}})
            return
        finish, extra = 'stop', {}
        if action.startswith('text:'):
            text = action.removeprefix('text:')
        else:
            delta = self.answer_text(request)
            text = {
                'wrapped': f'Based on the nearest examples, the change is:\n{delta}',
                'fenced': f'```\n{delta}\n```',
                'think': f'<think>The last lines are closest; average them.</think>\n{delta}',
                'labelled': 'Δθ: ' + delta.replace('-', '\u2212').replace(' ', ', ') + '.',
            }.get(action, delta)
            if action == 'length':
                finish = 'length'
            if action == 'reasoning_field':
                extra = {'reasoning_content': 'Averaging the nearest deltas.'}
        if chat:
            choice = {'message': {'role': 'assistant', 'content': text, **extra}}
        else:
            choice = {'text': ' ' + text}
        handler._send(
            200,
            {
                'id': f'cmpl-loopback-{len(self.requests)}',
                'object': 'chat.completion' if chat else 'text_completion',
                'created': int(time.time()),
                'model': request.get('model', ''),
                'choices': [{'index': 0, 'finish_reason': finish, **choice}],
                'usage': {'prompt_tokens': 500, 'completion_tokens': 12, 'total_tokens': 512},
            },
        )

    def __enter__(self) -> 'LoopbackLLM':
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
