"""Memory search and save as tools, on a real embedded Chroma with the packaged MiniLM embeddings."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import AIMessage

from graphwright.memory import open_vector_memory
from graphwright.nodes import make_executor
from graphwright.tools import ToolPolicy, memory_tools, tool_meta


def _calls(*calls: tuple[str, dict]) -> dict:
    tool_calls = [{"name": n, "args": a, "id": f"m{i}", "type": "tool_call"} for i, (n, a) in enumerate(calls)]
    return {"messages": [AIMessage("", tool_calls=tool_calls)]}


def test_saved_notes_are_found_and_saving_needs_permission(tmp_path: Path) -> None:
    memory = open_vector_memory(tmp_path / "mem", ("user", "ann"))
    search, save = memory_tools(memory)
    assert tool_meta(search).side_effects is False
    assert tool_meta(save).permission == "memory:write"

    refused = make_executor([search, save])(_calls(("save_memory", {"note": "Ann's cat is called Miso."})), {})
    assert refused["messages"][0].status == "error"
    assert memory.recall("cat name", k=1) == []

    allowed = make_executor([search, save], policy=ToolPolicy(grants=frozenset({"memory:write"})))
    saved = allowed(_calls(("save_memory", {"note": "Ann's cat is called Miso."})), {})
    assert saved["messages"][0].text.startswith("saved as note:")
    again = save.invoke({"note": "Ann's cat is called Miso."})
    assert "(0 new chunk(s))" in again

    found = allowed(_calls(("search_memory", {"query": "what is the name of Ann's cat"})), {})
    assert "Miso" in found["messages"][0].text


def test_namespaces_keep_users_apart(tmp_path: Path) -> None:
    ann = open_vector_memory(tmp_path / "mem", ("user", "ann"))
    bob = open_vector_memory(tmp_path / "mem", ("user", "bob"))
    memory_tools(ann)[1].invoke({"note": "The launch code is tulip."})
    assert "tulip" not in memory_tools(bob)[0].invoke({"query": "launch code"})
