"""Declaring, compiling and running agent graphs; the prebuilt agents."""

from ._assistant import AssistantOptions, AssistantState, build_assistant
from ._compile import compile_graph
from ._env_agent import (
    ENV_PROMPT,
    EnvAgentOptions,
    EnvAgentState,
    EnvStep,
    Policy,
    build_env_agent,
    build_random_agent,
    model_policy,
    prompt_messages,
    random_policy,
)
from ._diagram import Diagram, DiagramCluster, DiagramEdge, DiagramNode, diagram
from ._draw import ENGINES, FORMATS, check_drawing, render, save_drawing, to_dot, to_mermaid
from ._history import CheckpointInfo, checkpoint_config, fork, list_checkpoints, state_at
from ._plan_execute import PlanExecuteOptions, PlanExecuteState, build_plan_execute, make_step_runner
from ._rag import RagOptions, RagState, build_rag, merge_context
from ._react import ReactOptions, ReactState, build_react
from ._registry import BUILTIN_GRAPHS, DEFAULT_GRAPH, graph_target, load_graph
from ._runpath import RunPath, Visit, read_run_path
from ._supervisor import SupervisorOptions, SupervisorState, build_supervisor, default_agents, make_agent_node
from ._threads import check_thread_id, new_thread_id, thread_config, unfinished_nodes

__all__ = [
    "AssistantOptions",
    "AssistantState",
    "BUILTIN_GRAPHS",
    "CheckpointInfo",
    "DEFAULT_GRAPH",
    "Diagram",
    "DiagramCluster",
    "DiagramEdge",
    "DiagramNode",
    "ENGINES",
    "ENV_PROMPT",
    "EnvAgentOptions",
    "EnvAgentState",
    "EnvStep",
    "FORMATS",
    "PlanExecuteOptions",
    "PlanExecuteState",
    "Policy",
    "RagOptions",
    "RagState",
    "ReactOptions",
    "ReactState",
    "RunPath",
    "SupervisorOptions",
    "SupervisorState",
    "Visit",
    "build_assistant",
    "build_env_agent",
    "build_plan_execute",
    "build_rag",
    "build_random_agent",
    "build_react",
    "build_supervisor",
    "check_drawing",
    "check_thread_id",
    "checkpoint_config",
    "compile_graph",
    "default_agents",
    "diagram",
    "fork",
    "graph_target",
    "list_checkpoints",
    "load_graph",
    "make_agent_node",
    "make_step_runner",
    "merge_context",
    "model_policy",
    "new_thread_id",
    "prompt_messages",
    "random_policy",
    "read_run_path",
    "render",
    "save_drawing",
    "state_at",
    "thread_config",
    "to_dot",
    "to_mermaid",
    "unfinished_nodes",
]
