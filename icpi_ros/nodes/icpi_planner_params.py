# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""The planner's parameters, declared in one place: `declare_params(node)`.

`improver` and `fallback_improver` may be set at run time (within CHOICES): IcpiPlannerParams
holds their start-up values; the node resolves and keeps the current ones, which the next
request uses (`IcpiPlanner._on_parameters_set`). Every other parameter is read-only.
"""

from dataclasses import dataclass

from rclpy.node import Node

from icpi_ros.core.improvers import AUTO, FALLBACK_CHOICES, IMPROVERS
from icpi_ros.core.llm import APIS, DEFAULT_MODEL, LLMConfig
from icpi_ros.core.promptpo.improver import MAX_CANDIDATES
from icpi_ros.core.promptpo.sandbox import ISOLATIONS
from icpi_ros.core.retrieval import DEFAULT_K, ENCODINGS
from icpi_ros.nodes.runtime import declare

# The values the run-time settable parameters may take (checked at start and on every set).
CHOICES = {'improver': [AUTO, *sorted(IMPROVERS)], 'fallback_improver': ['', *FALLBACK_CHOICES]}


@dataclass(frozen=True)
class IcpiPlannerParams:
    """Every icpi_planner parameter, as declared at start-up (llm.*: the LLM configuration)."""

    tasks_file: str
    improver: str  # start-up value; settable at run time
    fallback_improver: str  # start-up value; settable at run time
    k: int
    encoding: str
    datasets_dir: str
    seed: int
    llm: LLMConfig  # llm.*, unset endpoint and model filled from the environment
    promptpo_candidates: int
    promptpo_sandbox: str
    episode_memory: bool


def declare_params(node: Node) -> IcpiPlannerParams:
    """Declare the planner's parameters on `node` and return their values.

    Raises:
        InvalidInput: a value outside its choices.

    """
    tasks_file = declare(
        node,
        'tasks_file',
        '',
        'Path of the task definitions (YAML); empty uses the package config/tasks.yaml.',
        read_only=True,
    )
    improver = declare(
        node,
        'improver',
        AUTO,
        'Improver used when a request leaves `improver` empty; auto: llm when an LLM '
        'endpoint is configured, else knn_linear.',
        choices=CHOICES['improver'],
    )
    fallback = declare(
        node,
        'fallback_improver',
        AUTO,
        'Improver that answers when the requested one fails (the LLM is down, or its '
        'answers are refused after the repairs); auto: knn_linear behind llm when the task '
        'has a dataset; none (or empty): fail the request instead.',
        choices=CHOICES['fallback_improver'],
    )
    k = declare(
        node,
        'k',
        DEFAULT_K,
        'Examples retrieved per query (llm, knn_linear).',
        read_only=True,
        int_range=(1, 200),
    )
    encoding = declare(
        node,
        'encoding',
        'error',
        'Prompt and retrieval encoding: error (e = outcome - goal) or raw (outcome, goal).',
        read_only=True,
        choices=list(ENCODINGS),
    )
    datasets_dir = declare(
        node,
        'datasets_dir',
        '',
        'Folder of the improvement datasets (<task>.json); empty: the package data/.',
        read_only=True,
    )
    seed = declare(
        node,
        'seed',
        0,
        'Seed of the improvers random number generators.',
        read_only=True,
        int_range=(0, 2**31 - 1),
    )
    llm = declare_llm(node)
    promptpo_candidates = declare(
        node,
        'promptpo.candidates',
        4,
        'promptpo: candidate policies the LLM writes per round; each costs one trial.',
        read_only=True,
        int_range=(1, MAX_CANDIDATES),
    )
    promptpo_sandbox = declare_promptpo_sandbox(node)
    episode_memory = declare(
        node,
        'episode_memory',
        True,
        "Search the run's own trials, relabelled in hindsight, with the dataset (knn_mean, "
        "knn_linear, llm; the prompt marks them '* '). false: the dataset alone.",
        read_only=True,
    )
    return IcpiPlannerParams(
        tasks_file=tasks_file,
        improver=improver,
        fallback_improver=fallback,
        k=k,
        encoding=encoding,
        datasets_dir=datasets_dir,
        seed=seed,
        llm=llm,
        promptpo_candidates=promptpo_candidates,
        promptpo_sandbox=promptpo_sandbox,
        episode_memory=episode_memory,
    )


def declare_promptpo_sandbox(node: Node) -> str:
    """Declare `promptpo.sandbox` (the planner's and the loop's) and return its value."""
    return declare(
        node,
        'promptpo.sandbox',
        'kernel',
        'promptpo: isolation of LLM-written code. kernel: bubblewrap namespaces + seccomp '
        '(promptpo refuses to start without them); rlimits: Python checks and rlimits '
        'only, weaker, warned in the log and the run record.',
        read_only=True,
        choices=list(ISOLATIONS),
    )


def declare_llm(node: Node) -> LLMConfig:
    """Declare the llm.* parameters; unset endpoint and model come from the environment."""
    return LLMConfig.from_env(
        base_url=declare(
            node,
            'llm.base_url',
            '',
            'OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI); empty: '
            '$OPENAI_BASE_URL, else the OpenAI API. The key is read from $OPENAI_API_KEY '
            'only.',
            read_only=True,
        ),
        model=declare(
            node,
            'llm.model',
            '',
            f'Model; empty: $ICPI_LLM_MODEL, else {DEFAULT_MODEL}.',
            read_only=True,
        ),
        temperature=declare(
            node,
            'llm.temperature',
            0.0,
            'Sampling temperature.',
            read_only=True,
            float_range=(0.0, 2.0),
        ),
        max_tokens=declare(
            node,
            'llm.max_tokens',
            64,
            'Answer length limit (tokens).',
            read_only=True,
            int_range=(8, 4096),
        ),
        timeout_s=declare(
            node,
            'llm.timeout_s',
            30.0,
            'Timeout of one request (s).',
            read_only=True,
            float_range=(0.1, 600.0),
        ),
        max_retries=declare(
            node,
            'llm.max_retries',
            3,
            'Retries on timeouts, 429 and 5xx, with exponential backoff from 1 s.',
            read_only=True,
            int_range=(0, 10),
        ),
        api=declare(
            node,
            'llm.api',
            'chat',
            'Request form: chat (system + user turn) or completions (the example lines as '
            'one raw prompt with a newline stop, for base models).',
            read_only=True,
            choices=list(APIS),
        ),
        system_role=declare(
            node,
            'llm.system_role',
            True,
            'Send the instructions as a system turn; false: they open the user turn (for '
            'models without a system role).',
            read_only=True,
        ),
        reasoning=declare(
            node,
            'llm.reasoning',
            False,
            'A reasoning model: send max_completion_tokens and no temperature (also '
            'adapted automatically when the endpoint refuses them).',
            read_only=True,
        ),
        repair_attempts=declare(
            node,
            'llm.repair_attempts',
            2,
            'Re-asks after a refused answer, with the reason as a follow-up turn; then the '
            'fallback improver answers.',
            read_only=True,
            int_range=(0, 10),
        ),
    )
