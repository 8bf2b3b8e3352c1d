# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""What the bench compares: the sim tasks, the methods by kind, and when a run succeeds.

Standard library only: the figures (`icpi_ros.core.plots`, imported by the run records) read
these names without importing the harness and its numerical libraries.
"""

# push-gc: closed loop, theta = its reference controller's gains (a full 10 x 20 bench of it
# with the ablations, 150 runs: 263 s on one worker).
SIM_TASKS = ('slide', 'slide-gc', 'roll-gc', 'rope-swing', 'push-gc')
# Methods that need no LLM, in the order the report shows them: the offline default first,
# then the paper's other baselines, then a practitioner's (a GP forward model).
OFFLINE_METHODS = ('knn_linear', 'knn_mean', 'random_shooting', 'bayes_opt', 'gp_model')
# Methods that need an LLM endpoint; each joins the default list when it is registered in
# IMPROVERS and an endpoint is configured.
LLM_METHODS = ('llm', 'promptpo')
# Bench methods that are an improver asked another way: name -> (improver, LLMConfig fields).
METHOD_VARIANTS: dict[str, tuple[str, dict]] = {
    'llm-completions': ('llm', {'api': 'completions'}),
}
# Methods that retrieve examples from the improvement dataset: the dataset-size and encoding
# ablations vary what they are given (promptpo writes policy code from the task's source and
# its own trials: no dataset).
EXAMPLE_METHODS = frozenset({'knn_linear', 'knn_mean', 'llm', 'llm-completions'})
# Methods given the shipped dataset: those that retrieve examples, and gp_model (it fits its
# forward model on the dataset's rollouts; no encoding, so no ablation).
DATASET_METHODS = EXAMPLE_METHODS | {'gp_model'}
# Methods of the episode-memory ablation (ImproverContext.episode_memory on and off).
MEMORY_METHODS = ('knn_linear', 'knn_mean', 'llm')
# Methods that wait on an LLM endpoint for most of a run: the executors run many of them at
# once (`icpi bench --llm-concurrency`), beside the CPU-bound ones.
NETWORK_METHODS = frozenset({*LLM_METHODS, *METHOD_VARIANTS})
# Methods whose steps an LLM answers: their runs record who answered, latency and tokens.
ANSWERING_METHODS = frozenset({'llm', 'llm-completions'})
# Success: a final cost at most the DESIGN target of the task's family (m).
SUCCESS_M = {'slide': 0.01, 'slide-gc': 0.01, 'roll-gc': 0.01, 'rope-swing': 0.02, 'push-gc': 0.01}
DEFAULT_SUCCESS_M = 0.01


def success_threshold(task: str) -> float:
    """Return the final cost under which a run of a task counts as a success.

    Args:
        task: the task's name.

    Returns:
        The threshold in metres (the DESIGN target of the task's family).
    """
    return SUCCESS_M.get(task, DEFAULT_SUCCESS_M)


def default_methods(llm_configured: bool | None = None) -> tuple[str, ...]:
    """Return the methods `icpi bench` compares when none are named.

    Args:
        llm_configured: whether an LLM endpoint is configured; None: read the environment.

    Returns:
        The offline methods, plus the registered LLM methods when an endpoint is configured.
    """
    from icpi_ros.core.improvers import IMPROVERS
    from icpi_ros.core.llm import LLMConfig

    if llm_configured is None:
        llm_configured = LLMConfig.from_env().endpoint_configured
    online = tuple(m for m in LLM_METHODS if m in IMPROVERS) if llm_configured else ()
    return OFFLINE_METHODS + online
