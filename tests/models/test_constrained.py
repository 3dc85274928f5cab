"""Constrained decoding on the real default model: tool_choice modes, structured output, routing, streaming."""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

import pytest
from langchain_core.messages import AIMessageChunk, AnyMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import BaseModel, Field

from graphwright import calculator, compile_graph
from graphwright.models import ChatLocal, choose_route, legal_successors

pytestmark = pytest.mark.model

QUESTION = [SystemMessage("You are a helpful assistant."), HumanMessage("What is 17 * 23 + 4?")]


def test_required_forces_a_valid_call(local_chat_model: ChatLocal) -> None:
    reply = local_chat_model.bind_tools([calculator], tool_choice="required").invoke(QUESTION)
    assert reply.invalid_tool_calls == [] and len(reply.tool_calls) >= 1
    assert set(reply.tool_calls[0]["args"]) == {"expression"}


def test_named_choice_calls_that_tool_even_when_another_fits_better(local_chat_model: ChatLocal) -> None:
    from langchain_core.tools import tool

    @tool
    def shout(text: str) -> str:
        """Repeat text loudly.

        Args:
            text: what to shout.
        """
        return text.upper()

    reply = local_chat_model.bind_tools([calculator, shout], tool_choice="shout").invoke(QUESTION)
    assert [c["name"] for c in reply.tool_calls] == ["shout"]
    assert isinstance(reply.tool_calls[0]["args"]["text"], str)


def test_none_answers_in_text(local_chat_model: ChatLocal) -> None:
    reply = local_chat_model.bind_tools([calculator], tool_choice="none").invoke(QUESTION, max_new_tokens=16)
    assert reply.tool_calls == [] and reply.text


class Invoice(BaseModel):
    """An invoice line."""

    customer: str = Field(description="customer name")
    quantity: int
    status: Literal["paid", "unpaid"]


def test_structured_output_into_a_pydantic_model(local_chat_model: ChatLocal) -> None:
    structured = local_chat_model.with_structured_output(Invoice, include_raw=True)
    out = structured.invoke("Acme Corp bought 12 widgets and has not paid yet. Extract the invoice.")
    assert out["parsing_error"] is None
    invoice = out["parsed"]
    assert isinstance(invoice, Invoice) and invoice.status in ("paid", "unpaid")
    assert out["raw"].usage_metadata["output_tokens"] > 0


class Triage(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def _triage_graph() -> StateGraph:
    graph = StateGraph(Triage)
    graph.add_node("triage", lambda state: {})
    graph.add_node("billing", lambda state: {})
    graph.add_node("tech_support", lambda state: {})
    graph.add_edge(START, "triage")
    graph.add_conditional_edges("triage", lambda state: END, ["billing", "tech_support", END])
    return graph


def test_routing_chooses_among_the_compiled_graphs_successors(local_chat_model: ChatLocal) -> None:
    compiled = compile_graph(_triage_graph())
    options = legal_successors(compiled, "triage")
    assert options == ["billing", "tech_support", "__end__"]
    choice = choose_route(
        local_chat_model,
        [HumanMessage("My invoice charged me twice this month, please refund one payment.")],
        options,
        descriptions={"billing": "payments, invoices, refunds", "tech_support": "bugs and errors in the app"},
    )
    assert choice.next in options
    assert len(choice.reason) <= 160


def test_tokens_stream_through_a_compiled_graph(local_chat_model: ChatLocal) -> None:
    graph = StateGraph(Triage)
    graph.add_node("chat", lambda state: {"messages": [local_chat_model.invoke(state["messages"], max_new_tokens=12)]})
    graph.add_edge(START, "chat")
    app = compile_graph(graph)
    chunks = [
        message
        for message, meta in app.stream({"messages": [HumanMessage("Count from one to five in words.")]}, stream_mode="messages")
        if meta["langgraph_node"] == "chat"
    ]
    pieces = [c for c in chunks if isinstance(c, AIMessageChunk) and c.content]
    assert len(pieces) >= 3, "tokens should arrive in several chunks, not one message"
