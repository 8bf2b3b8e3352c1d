# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Completions from any OpenAI-compatible endpoint, with bounded retries.

Two request forms (`LLMConfig.api`): `chat` (chat completions: a system and a user turn, or
one user turn when the model has no system role) and `completions` (one raw text prompt with
a stop sequence, the paper's sequence-completion form, for base models). Reasoning models
(OpenAI o-series and alike) refuse `max_tokens` and any temperature but the default: with
`reasoning` set the client sends `max_completion_tokens` and no temperature from the start;
otherwise it adapts once when the endpoint answers HTTP 400 naming one of them, remembers it
for its life and says so in the log.

The API key is read from OPENAI_API_KEY when the client is made and handed to the `openai`
package only: it is not stored in the config, logged, or returned in any record.
"""

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from icpi_ros.core.errors import Failed

if TYPE_CHECKING:
    from icpi_ros.stop_signal import StopSignal

API_KEY_ENV = 'OPENAI_API_KEY'
BASE_URL_ENV = 'OPENAI_BASE_URL'
MODEL_ENV = 'ICPI_LLM_MODEL'
DEFAULT_MODEL = 'gpt-4o'
# Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client needs a string.
NO_KEY = 'no-key-needed'
STOP_POLL_S = 0.1  # how often a request in flight checks for a stop (s)
APIS = ('chat', 'completions')


class LLMError(Failed):
    """The endpoint did not give a usable answer within the allowed attempts."""


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask; nothing secret."""

    base_url: str | None = None  # None: the OpenAI API (needs OPENAI_API_KEY)
    model: str = DEFAULT_MODEL
    temperature: float = 0.0
    max_tokens: int = 64
    timeout_s: float = 30.0
    max_retries: int = 3  # retries after the first attempt, on timeouts, 429 and 5xx
    backoff_s: float = 1.0  # first wait; doubles per retry
    max_backoff_s: float = 20.0
    api: str = 'chat'  # chat | completions
    system_role: bool = True  # False: the system text opens the user turn
    reasoning: bool = False  # a reasoning model: max_completion_tokens, no temperature
    repair_attempts: int = 2  # re-asks after a refused answer, the refusal quoted

    def __post_init__(self) -> None:
        if self.api not in APIS:
            raise ValueError(f'llm api must be one of {", ".join(APIS)}, got {self.api!r}')
        if self.repair_attempts < 0:
            raise ValueError(f'repair_attempts must be >= 0, got {self.repair_attempts}')

    @classmethod
    def from_env(cls, base_url: str = '', model: str = '', **kwargs) -> 'LLMConfig':
        """Fill unset `base_url` and `model` from OPENAI_BASE_URL and ICPI_LLM_MODEL."""
        return cls(
            base_url=base_url or os.environ.get(BASE_URL_ENV) or None,
            model=model or os.environ.get(MODEL_ENV) or DEFAULT_MODEL,
            **kwargs,
        )

    @property
    def endpoint_configured(self) -> bool:
        """True when there is somewhere to send requests: a base URL, or an OpenAI key."""
        return self.base_url is not None or bool(os.environ.get(API_KEY_ENV))

    def describe(self) -> str:
        """One line for logs (no key)."""
        where = self.base_url or 'api.openai.com'
        how = 'reasoning model' if self.reasoning else f'temperature {self.temperature:g}'
        return f'{self.model} at {where} ({self.api}, {how})'

    def as_dict(self) -> dict:
        """JSON-friendly form for run records."""
        return asdict(self)


@dataclass(frozen=True)
class Completion:
    """One answer with what it cost."""

    text: str
    model: str
    usage: dict = field(default_factory=dict)
    attempts: int = 1
    latency_s: float = 0.0
    errors: tuple[str, ...] = ()  # the failed attempts before this answer
    finish_reason: str = ''
    reasoning: str = ''  # a separate reasoning field of the answer, if the endpoint sent one

    def record(self) -> dict:
        """Return the answer and its cost as JSON-friendly fields for a run record."""
        out = {
            'response': self.text,
            'model': self.model,
            'finish_reason': self.finish_reason,
            'usage': self.usage,
            'attempts': self.attempts,
            'latency_s': round(self.latency_s, 4),
            'retried_errors': list(self.errors),
        }
        if self.reasoning:
            out['reasoning'] = self.reasoning
        return out


def _log_warning(message: str) -> None:
    logging.getLogger('icpi_ros.llm').warning(message)


class LLMClient:
    """OpenAI-compatible client with exponential backoff; `stop` interrupts the waits."""

    def __init__(
        self,
        config: LLMConfig,
        stop: 'threading.Event | StopSignal | None' = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not config.endpoint_configured:
            raise LLMError(
                f'no LLM endpoint: set {API_KEY_ENV} for the OpenAI API, or a base URL '
                f'({BASE_URL_ENV} or the llm.base_url parameter) for a compatible server'
            )
        import openai  # a second to import: only when a client is made

        self.config = config
        self._stop = stop or threading.Event()
        self._log = log or _log_warning
        self._openai = openai
        self._retryable = (
            openai.APITimeoutError,
            openai.APIConnectionError,
            openai.RateLimitError,
            openai.InternalServerError,
        )
        self._client = openai.OpenAI(
            api_key=os.environ.get(API_KEY_ENV) or NO_KEY,
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=0,  # retries are ours: bounded, logged, interruptible
        )
        # Request parameters as this endpoint takes them (adapted at most once each).
        self._token_parameter = 'max_completion_tokens' if config.reasoning else 'max_tokens'
        self._send_temperature = not config.reasoning

    def complete(
        self, messages: list[dict[str, str]], temperature: float | None = None
    ) -> Completion:
        """Send chat `messages` (the config's temperature unless given); see `_call`."""
        if not self.config.system_role:
            messages = merge_system_turn(messages)

        def create(params: dict):
            return self._client.chat.completions.create(
                model=self.config.model, messages=messages, **params
            )

        return self._call(create, temperature, chat=True)

    def complete_text(
        self, prompt: str, stop: list[str] | None = None, temperature: float | None = None
    ) -> Completion:
        """Continue a raw text `prompt` (the completions endpoint) up to `stop`."""

        def create(params: dict):
            return self._client.completions.create(
                model=self.config.model, prompt=prompt, stop=stop, **params
            )

        return self._call(create, temperature, chat=False)

    def _params(self, temperature: float | None, chat: bool) -> dict:
        params = {self._token_parameter if chat else 'max_tokens': self.config.max_tokens}
        if self._send_temperature or not chat:
            params['temperature'] = self.config.temperature if temperature is None else temperature
        return params

    def _adapt(self, exc: Exception) -> bool:
        """Drop a parameter the endpoint refused (HTTP 400 naming it); True if one was."""
        text = f'{getattr(exc, "param", "") or ""} {getattr(exc, "message", "")} {exc}'
        if self._token_parameter == 'max_tokens' and 'max_tokens' in text:
            self._token_parameter = 'max_completion_tokens'
            change = 'max_tokens refused: sending max_completion_tokens from now on'
        elif self._send_temperature and 'temperature' in text:
            self._send_temperature = False
            change = "temperature refused: using the model's default from now on"
        else:
            return False
        self._log(f'LLM endpoint {self.config.describe()}: {change}')
        return True

    def _interruptible(self, create: Callable[[dict], object], params: dict) -> object:
        """Run one request; give up at once when `stop` is set (Ctrl-C mid-request).

        The HTTP call cannot be interrupted, so it runs in a daemon thread that is left to
        its timeout when the process stops.

        Raises:
            LLMError: when stopped; else whatever the request raises.

        """
        outcome: dict[str, object] = {}
        done = threading.Event()

        def run() -> None:
            try:
                outcome['response'] = create(params)
            except Exception as exc:
                outcome['error'] = exc
            finally:
                done.set()

        threading.Thread(target=run, name='llm-request', daemon=True).start()
        while not done.wait(STOP_POLL_S):
            if self._stop.is_set():
                raise LLMError('stopped while waiting for the LLM')
        if 'error' in outcome:
            raise outcome['error']
        return outcome['response']

    def _call(self, create: Callable[[dict], object], temperature: float | None, chat: bool):
        """Run `create` with retries on timeouts, connection errors, 429 and 5xx.

        Raises:
            LLMError: after the last retry, on any other API error, or on an empty answer.

        """
        cfg = self.config
        errors: list[str] = []
        start = time.perf_counter()
        attempt = 0
        while attempt <= cfg.max_retries:
            if attempt and errors:
                wait = min(cfg.backoff_s * 2 ** (attempt - 1), cfg.max_backoff_s)
                if self._stop.wait(wait):
                    raise LLMError(f'stopped while retrying ({"; ".join(errors)})')
            try:
                response = self._interruptible(create, self._params(temperature, chat))
            except self._retryable as exc:
                errors.append(_describe(exc))
                attempt += 1
                continue
            except self._openai.BadRequestError as exc:
                if chat and self._adapt(exc):
                    continue  # the same attempt again, without the refused parameter
                raise LLMError(f'{_describe(exc)}: {_message(exc)} (not retried)') from None
            except self._openai.OpenAIError as exc:
                raise LLMError(f'{_describe(exc)} (not retried)') from None
            return self._completion(response, attempt + 1, start, errors, chat)
        raise LLMError(f'gave up after {cfg.max_retries + 1} attempts: {"; ".join(errors)}')

    def _completion(self, response, attempts: int, start: float, errors: list, chat: bool):
        choice = response.choices[0] if response.choices else None
        if choice is None:
            raise LLMError('the endpoint answered with no choices')
        if chat:
            message = choice.message
            text = message.content or ''
            extra = getattr(message, 'model_extra', None) or {}
            reasoning = getattr(message, 'reasoning_content', None) or extra.get(
                'reasoning_content', extra.get('reasoning', '')
            )
        else:
            text, reasoning = choice.text or '', ''
        if not text and not reasoning:
            raise LLMError('the endpoint answered with no text')
        usage = response.usage.model_dump() if response.usage is not None else {}
        return Completion(
            text=text,
            model=response.model or self.config.model,
            usage={k: v for k, v in usage.items() if isinstance(v, int)},
            attempts=attempts,
            latency_s=time.perf_counter() - start,
            errors=tuple(errors),
            finish_reason=choice.finish_reason or '',
            reasoning=reasoning if isinstance(reasoning, str) else str(reasoning),
        )


def merge_system_turn(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Fold system turns into the first user turn, for models without a system role."""
    system = [m['content'] for m in messages if m['role'] == 'system']
    rest = [dict(m) for m in messages if m['role'] != 'system']
    if system and rest and rest[0]['role'] == 'user':
        rest[0]['content'] = '\n\n'.join([*system, rest[0]['content']])
    elif system:
        rest.insert(0, {'role': 'user', 'content': '\n\n'.join(system)})
    return rest


def _describe(exc: Exception) -> str:
    status = getattr(exc, 'status_code', None)
    kind = type(exc).__name__
    return f'{kind} (HTTP {status})' if status else kind


def _message(exc: Exception) -> str:
    text = str(getattr(exc, 'message', '') or exc)
    return text if len(text) <= 200 else text[:197] + '...'
