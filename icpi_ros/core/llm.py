# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Chat completions against any OpenAI-compatible endpoint, with bounded retries.

The API key is read from OPENAI_API_KEY when the client is made and handed to the `openai`
package only: it is not stored in the config, logged, or returned in any record.
"""

import os
import threading
import time
from dataclasses import asdict, dataclass, field

API_KEY_ENV = 'OPENAI_API_KEY'
BASE_URL_ENV = 'OPENAI_BASE_URL'
MODEL_ENV = 'ICPI_LLM_MODEL'
DEFAULT_MODEL = 'gpt-4o'
# Local servers (vLLM, Ollama, llama.cpp) ignore the key, but the client needs a string.
NO_KEY = 'no-key-needed'


class LLMError(RuntimeError):
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
        return f'{self.model} at {where} (temperature {self.temperature:g})'

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

    def record(self) -> dict:
        """Return the answer and its cost as JSON-friendly fields for a run record."""
        return {
            'response': self.text,
            'model': self.model,
            'usage': self.usage,
            'attempts': self.attempts,
            'latency_s': round(self.latency_s, 4),
            'retried_errors': list(self.errors),
        }


class LLMClient:
    """Chat-completions client with exponential backoff; `stop` interrupts the waits."""

    def __init__(self, config: LLMConfig, stop: threading.Event | None = None) -> None:
        if not config.endpoint_configured:
            raise LLMError(
                f'no LLM endpoint: set {API_KEY_ENV} for the OpenAI API, or a base URL '
                f'({BASE_URL_ENV} or the llm.base_url parameter) for a compatible server'
            )
        import openai  # a second to import: only when a client is made

        self.config = config
        self._stop = stop or threading.Event()
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

    def complete(self, messages: list[dict[str, str]]) -> Completion:
        """Send `messages`; retry timeouts, connection errors, 429 and 5xx with backoff.

        Raises:
            LLMError: after the last retry, on any other API error, or on an empty answer.

        """
        cfg = self.config
        errors: list[str] = []
        start = time.perf_counter()
        for attempt in range(cfg.max_retries + 1):
            if attempt:
                wait = min(cfg.backoff_s * 2 ** (attempt - 1), cfg.max_backoff_s)
                if self._stop.wait(wait):
                    raise LLMError(f'stopped while retrying ({"; ".join(errors)})')
            try:
                response = self._client.chat.completions.create(
                    model=cfg.model,
                    messages=messages,
                    temperature=cfg.temperature,
                    max_tokens=cfg.max_tokens,
                )
            except self._retryable as exc:
                errors.append(_describe(exc))
                continue
            except self._openai.OpenAIError as exc:
                raise LLMError(f'{_describe(exc)} (not retried)') from None
            text = response.choices[0].message.content if response.choices else None
            if not text:
                raise LLMError('the endpoint answered with no text')
            usage = response.usage.model_dump() if response.usage is not None else {}
            return Completion(
                text=text,
                model=response.model or cfg.model,
                usage={k: v for k, v in usage.items() if isinstance(v, int)},
                attempts=attempt + 1,
                latency_s=time.perf_counter() - start,
                errors=tuple(errors),
            )
        raise LLMError(f'gave up after {cfg.max_retries + 1} attempts: {"; ".join(errors)}')


def _describe(exc: Exception) -> str:
    status = getattr(exc, 'status_code', None)
    kind = type(exc).__name__
    return f'{kind} (HTTP {status})' if status else kind
