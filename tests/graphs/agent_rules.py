"""Scripted-model rules for the prebuilt agent graphs' tests (importable as `agent_rules`)."""

from __future__ import annotations

import re

from fakes import call
from langchain_core.messages import AIMessage


def arithmetic_agent(messages, tool_names) -> AIMessage:
    """Plan two steps, compute each with the calculator, route to `calculator`, review 5, cite the last source."""
    text = messages[-1].text
    if tool_names == ["plan"]:
        return call("plan", "p1", steps=["compute 2+3", "multiply the result by 4"])
    if tool_names == ["review"]:
        return call("review", "r1", score=5, problem="")
    if tool_names == ["route"]:
        offered = "- calculator" in messages[0].text
        return call("route", "x1", next="calculator" if offered else "finish", reason="arithmetic")
    if "Step to do now: compute 2+3" in text:
        return call("calculator", "s1", expression="2+3")
    if "Step to do now: multiply" in text:
        done = re.findall(r": (\d+)$", text.split("Step to do now")[0], re.M)
        return call("calculator", "s2", expression=f"{done[-1]}*4")
    if "Sources:" in text:
        numbered = re.findall(r"^\[(\d+)\] .*?(\d+)$", text, re.M)
        if numbered:
            n, value = numbered[-1]
            return AIMessage(f"It is {value} [{n}].")
        return AIMessage("I do not know.")
    if "Tool results:" in text:
        result = re.findall(r"returned: (\S+)", text)[-1]
        return AIMessage(f"It is {result}.")
    if tool_names and messages[-1].type == "human":
        found = re.search(r"What is (.*)\?", text)
        return call("calculator", "c1", expression=found.group(1) if found else "1+1")
    if messages[-1].type == "tool":
        return AIMessage(f"The answer is {messages[-1].text}.")
    return AIMessage("done")
