"""The node library: factories that return plain `State -> update` callables."""

from ._approval import ANSWER_APPROVAL, APPROVAL_WRITES, make_human_approval
from ._budget import (
    Budget,
    Usage,
    UsageCounter,
    add_usage,
    message_tokens,
    metered,
    question_id,
    spent,
)
from ._cited import CITED_PROMPT, CITED_RESPONDER_WRITES, cited, cites_a_source, make_cited_responder
from ._critic import CRITIC_WRITES, Check, grounded_answer, make_critic
from ._executor import APPROVAL, EXECUTOR_WRITES, ExecutorOptions, make_executor, validation_problem
from ._judge import JUDGE_PROMPT, LLM_CRITIC_WRITES, REVIEW_SCHEMA, make_llm_critic
from ._memory_writer import EPISODE, MEMORY_WRITER_WRITES, make_memory_writer
from ._messages import CRITIC, critiques, model_turns, question_of, tool_evidence
from ._plan import PLAN_PROMPT, PLAN_WRITES, SUB_QUESTION_PROMPT, make_plan_writer, plan_schema
from ._planner import PLANNER_PROMPT, PLANNER_WRITES, make_planner
from ._responder import RESPONDER_PROMPT, RESPONDER_WRITES, make_responder
from ._retriever import RETRIEVER_WRITES, RetrieverOptions, approx_tokens, make_retriever, within_budget

__all__ = [
    "ANSWER_APPROVAL",
    "APPROVAL",
    "APPROVAL_WRITES",
    "Budget",
    "CITED_PROMPT",
    "CITED_RESPONDER_WRITES",
    "CRITIC",
    "CRITIC_WRITES",
    "Check",
    "EPISODE",
    "EXECUTOR_WRITES",
    "ExecutorOptions",
    "JUDGE_PROMPT",
    "LLM_CRITIC_WRITES",
    "MEMORY_WRITER_WRITES",
    "PLANNER_PROMPT",
    "PLANNER_WRITES",
    "PLAN_PROMPT",
    "PLAN_WRITES",
    "RESPONDER_PROMPT",
    "RESPONDER_WRITES",
    "RETRIEVER_WRITES",
    "REVIEW_SCHEMA",
    "RetrieverOptions",
    "SUB_QUESTION_PROMPT",
    "Usage",
    "UsageCounter",
    "add_usage",
    "approx_tokens",
    "cited",
    "cites_a_source",
    "critiques",
    "grounded_answer",
    "make_cited_responder",
    "make_critic",
    "make_executor",
    "make_human_approval",
    "make_llm_critic",
    "make_memory_writer",
    "make_plan_writer",
    "make_planner",
    "make_responder",
    "make_retriever",
    "message_tokens",
    "metered",
    "model_turns",
    "plan_schema",
    "question_id",
    "question_of",
    "spent",
    "tool_evidence",
    "validation_problem",
    "within_budget",
]
