"""The node library: factories that return plain `State -> update` callables."""

from ._critic import CRITIC_WRITES, Check, grounded_answer, make_critic
from ._executor import APPROVAL, EXECUTOR_WRITES, ExecutorOptions, make_executor, validation_problem
from ._messages import CRITIC, critiques, model_turns, question_of, tool_evidence
from ._planner import PLANNER_PROMPT, PLANNER_WRITES, make_planner
from ._responder import RESPONDER_PROMPT, RESPONDER_WRITES, make_responder

__all__ = [
    "APPROVAL",
    "CRITIC",
    "CRITIC_WRITES",
    "Check",
    "EXECUTOR_WRITES",
    "ExecutorOptions",
    "PLANNER_PROMPT",
    "PLANNER_WRITES",
    "RESPONDER_PROMPT",
    "RESPONDER_WRITES",
    "critiques",
    "grounded_answer",
    "make_critic",
    "make_executor",
    "make_planner",
    "make_responder",
    "model_turns",
    "question_of",
    "tool_evidence",
    "validation_problem",
]
