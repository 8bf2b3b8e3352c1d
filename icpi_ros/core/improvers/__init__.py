# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""Improvers behind one interface, created by name."""

import importlib

from icpi_ros.core.improvers.base import (
    Improver,
    ImproverContext,
    ImproverFailed,
    PolicyQuery,
    Proposal,
)
from icpi_ros.core.llm import LLMConfig
from icpi_ros.core.retrieval import ExampleLibrary
from icpi_ros.core.validation import InvalidInput

# name -> 'module:class' of every improver this version provides (imported on first use:
# the LLM client and the GP library take seconds to import).
IMPROVERS: dict[str, str] = {
    'llm': 'icpi_ros.core.improvers.icpi_llm:IcpiLLM',
    'knn_linear': 'icpi_ros.core.improvers.knn:KnnLinear',
    'knn_mean': 'icpi_ros.core.improvers.knn:KnnMean',
    'random_shooting': 'icpi_ros.core.improvers.random_shooting:RandomShooting',
    'bayes_opt': 'icpi_ros.core.improvers.bayes_opt:BayesOpt',
    'gp_model': 'icpi_ros.core.improvers.gp_model:GpModel',
    'promptpo': 'icpi_ros.core.promptpo.improver:PromptPO',
}
LLM = 'llm'
# What `auto` means without an LLM endpoint.
OFFLINE_DEFAULT = 'knn_linear'
AUTO = 'auto'
# Fallback improver settings besides a name: `auto` puts the offline default behind `llm`
# (when the task has a dataset), `none` fails the step instead.
NO_FALLBACK = 'none'
FALLBACK_CHOICES = [AUTO, NO_FALLBACK, *sorted(IMPROVERS)]


def make_improver(name: str, context: ImproverContext | None = None) -> Improver:
    """Create the improver called `name`.

    Raises:
        InvalidInput: unknown name.
        ImproverFailed: the improver cannot work here (no dataset, no LLM endpoint).

    """
    try:
        module, cls = IMPROVERS[name].split(':')
    except KeyError:
        known = ', '.join(sorted(IMPROVERS))
        raise InvalidInput(f'unknown improver {name!r}; available: {known}') from None
    factory = getattr(importlib.import_module(module), cls)
    return factory(context or ImproverContext())


def resolve_default(name: str, llm: LLMConfig) -> tuple[str, str | None]:
    """Resolve `auto` to `llm` if an endpoint is configured, else the offline default.

    Returns the improver name and, when the offline default was chosen, the warning to show
    once.
    """
    if name != AUTO:
        return name, None
    if llm.endpoint_configured:
        return LLM, None
    return OFFLINE_DEFAULT, (
        f'no LLM endpoint configured (OPENAI_API_KEY / OPENAI_BASE_URL / llm.base_url): '
        f'using the offline improver {OFFLINE_DEFAULT!r}'
    )


def resolve_fallback(
    name: str, improver: str, task: str, examples: ExampleLibrary | None
) -> str | None:
    """Return the fallback behind `improver` for `task`, or None (no fallback).

    `name` is a fallback setting: an improver, `none` (or empty), or `auto`: the offline
    default behind `llm` when the task has an improvement dataset, else none.
    """
    if name in ('', NO_FALLBACK):
        return None
    if name != AUTO:
        return name
    if improver == LLM and examples is not None and examples.has(task):
        return OFFLINE_DEFAULT
    return None


__all__ = [
    'AUTO',
    'FALLBACK_CHOICES',
    'NO_FALLBACK',
    'IMPROVERS',
    'LLM',
    'OFFLINE_DEFAULT',
    'Improver',
    'ImproverContext',
    'ImproverFailed',
    'PolicyQuery',
    'Proposal',
    'make_improver',
    'resolve_default',
    'resolve_fallback',
]
