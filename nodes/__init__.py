"""The node library: factories that return plain `State -> update` callables."""

from ._critic import CRITIC_WRITES, Check, grounded_answer, make_critic
from ._executor import APPROVAL, EXECUTOR_WRITES, ExecutorOptions, make_executor, validation_problem
from ._memory_writer import EPISODE, MEMORY_WRITER_WRITES, make_memory_writer
from ._messages import CRITIC, critiques, model_turns, question_of, tool_evidence
from ._planner import PLANNER_PROMPT, PLANNER_WRITES, make_planner
from ._responder import RESPONDER_PROMPT, RESPONDER_WRITES, make_responder
from ._retriever import RETRIEVER_WRITES, RetrieverOptions, approx_tokens, make_retriever, within_budget

__all__ = [
    "APPROVAL",
    "CRITIC",
    "CRITIC_WRITES",
    "Check",
    "EPISODE",
    "EXECUTOR_WRITES",
    "ExecutorOptions",
    "MEMORY_WRITER_WRITES",
    "PLANNER_PROMPT",
    "PLANNER_WRITES",
    "RESPONDER_PROMPT",
    "RESPONDER_WRITES",
    "RETRIEVER_WRITES",
    "RetrieverOptions",
    "approx_tokens",
    "critiques",
    "grounded_answer",
    "make_critic",
    "make_executor",
    "make_memory_writer",
    "make_planner",
    "make_responder",
    "make_retriever",
    "model_turns",
    "question_of",
    "tool_evidence",
    "validation_problem",
    "within_budget",
]
