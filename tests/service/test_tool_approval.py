"""An approval-required tool in the assistant, through the service and the real SDK: interrupt, then resume."""

from __future__ import annotations

import re

from service_support import KEYS, asgi_client
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage

from graphwright.graphs import build_assistant
from graphwright.service import ApiKeyAuth, ServiceOptions, create_app
from graphwright.tools import register_tool

SENT: list[str] = []


@register_tool(side_effects=True, needs_approval=True)
def send_payment(to: str, amount: int) -> str:
    """Send money to someone.

    Args:
        to: who receives it.
        amount: how much, in euros.
    """
    SENT.append(f"{to}:{amount}")
    return f"paid {amount} to {to}"


def paying(messages, tool_names) -> AIMessage:
    text = messages[-1].text
    if "Tool results:" in text:
        return AIMessage(f"Done: {re.findall(r'returned: (.*)', text)[-1]}")
    if tool_names and messages[-1].type == "human":
        return call("send_payment", "pay-1", to="bob", amount=500)
    return AIMessage("ok")


async def test_approval_required_tool_interrupts_and_resumes_through_the_sdk() -> None:
    graph = build_assistant(model=ScriptedChatModel(rule=paying), tools=[send_payment])
    app = create_app({"payer": graph}, auth=ApiKeyAuth(KEYS), options=ServiceOptions(rate_per_second=1000, rate_burst=1000))
    client = asgi_client(app)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    SENT.clear()

    await client.runs.wait(tid, "payer", input={"messages": [{"role": "human", "content": "pay bob 500"}]})
    state = await client.threads.get_state(tid)
    assert state["next"] == ["tools"]
    pending = state["interrupts"][0]["value"]
    assert pending["tool"] == "send_payment" and pending["args"] == {"to": "bob", "amount": 500}
    assert SENT == [], "nothing may run before a human approves"

    result = await client.runs.wait(tid, "payer", command={"resume": "approve"})
    assert SENT == ["bob:500"]
    assert result["answer"] == "Done: paid 500 to bob" and result["verdict"] == "approve"
