"""The LangGraph store on Chroma: the BaseStore contract, semantic search, and writes that outlive the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from langgraph.store.base import GetOp, ListNamespacesOp, MatchCondition, PutOp, SearchOp

from graphwright.errors import MemoryInputError, MemoryUnavailableError
from graphwright.memory import ChromaStore


@pytest.fixture
def store(tmp_path, embeddings) -> ChromaStore:
    return ChromaStore(tmp_path / "store", embeddings=embeddings)


def test_put_get_update_delete(store) -> None:
    store.put(("users", "ada"), "prefs", {"theme": "dark", "size": 3})
    first = store.get(("users", "ada"), "prefs")
    assert (first.namespace, first.key, first.value) == (("users", "ada"), "prefs", {"theme": "dark", "size": 3})
    time.sleep(0.01)
    store.put(("users", "ada"), "prefs", {"theme": "light"})
    second = store.get(("users", "ada"), "prefs")
    assert second.value == {"theme": "light"}
    assert second.created_at == first.created_at and second.updated_at > first.updated_at
    assert store.get(("users", "ada"), "missing") is None
    assert store.get(("users", "bob"), "prefs") is None
    store.delete(("users", "ada"), "prefs")
    assert store.get(("users", "ada"), "prefs") is None
    assert store.search(("users",), query="light theme") == []


def test_search_by_prefix_and_filter(store) -> None:
    store.put(("docs", "a"), "1", {"kind": "note", "n": 1}, index=False)
    store.put(("docs", "a"), "2", {"kind": "todo", "n": 5}, index=False)
    store.put(("docs", "b"), "3", {"kind": "note", "n": 9, "tags": {"lang": "en"}}, index=False)
    store.put(("other",), "4", {"kind": "note"}, index=False)
    assert {i.key for i in store.search(("docs",))} == {"1", "2", "3"}
    assert [i.key for i in store.search(("docs", "a"))] == ["2", "1"]  # newest first
    assert {i.key for i in store.search(("docs",), filter={"kind": "note"})} == {"1", "3"}
    assert [i.key for i in store.search(("docs",), filter={"n": {"$gt": 4}, "kind": "todo"})] == ["2"]
    assert [i.key for i in store.search(("docs",), filter={"tags": {"lang": "en"}})] == ["3"]
    assert [i.key for i in store.search((), limit=2, offset=1)] == ["3", "2"]
    assert {i.key for i in store.search(("doc",))} == set()  # a prefix is whole labels, not characters


def test_semantic_search_ranks_by_meaning(store) -> None:
    store.put(("mem", "ada"), "tea", {"text": "Ada drinks green tea every morning"})
    store.put(("mem", "ada"), "job", {"text": "Ada works as a compiler engineer"})
    store.put(("mem", "bob"), "car", {"text": "Bob drives an old red bicycle to work"})
    store.put(("mem", "ada"), "private", {"text": "Ada's beverage notes"}, index=False)
    hits = store.search(("mem", "ada"), query="what does she like to drink?")
    assert [h.key for h in hits][:2] == ["tea", "job"]
    assert hits[0].score > hits[1].score
    assert hits[-1].key == "private" and hits[-1].score is None  # not embedded: listed last, unscored
    assert [h.key for h in store.search(("mem",), query="transport to the office", limit=1)] == ["car"]
    only_job = store.search(("mem",), query="drink", filter={"text": "Ada works as a compiler engineer"})
    assert [h.key for h in only_job] == ["job"]


def test_index_fields_choose_what_is_embedded(tmp_path, embeddings) -> None:
    store = ChromaStore(tmp_path / "s", embeddings=embeddings, index_fields=["title"])
    store.put(("b",), "1", {"title": "Gardening for beginners", "body": "rockets and orbital mechanics"})
    store.put(("b",), "2", {"title": "Rocket science", "body": "tomatoes and soil"})
    assert [h.key for h in store.search(("b",), query="spaceflight")][0] == "2"
    store.put(("b",), "3", {"title": "ignored", "body": "Space travel to the moon"}, index=["body"])
    assert store.search(("b",), query="a trip to the moon")[0].key == "3"


def test_list_namespaces(store) -> None:
    for ns in [("a", "x", "1"), ("a", "y"), ("b", "x"), ("b", "y", "2")]:
        store.put(ns, "k", {"v": 1}, index=False)
    assert store.list_namespaces() == [("a", "x", "1"), ("a", "y"), ("b", "x"), ("b", "y", "2")]
    assert store.list_namespaces(prefix=("a",)) == [("a", "x", "1"), ("a", "y")]
    assert store.list_namespaces(suffix=("x",)) == [("b", "x")]
    assert store.list_namespaces(prefix=("*", "y")) == [("a", "y"), ("b", "y", "2")]
    assert store.list_namespaces(max_depth=1) == [("a",), ("b",)]
    assert store.list_namespaces(limit=2, offset=1) == [("a", "y"), ("b", "x")]


def test_batch_runs_ops_in_order(store) -> None:
    results = store.batch(
        [
            PutOp(("n",), "k", {"v": 1}, index=False),
            GetOp(("n",), "k"),
            SearchOp(("n",), None, 10, 0),
            ListNamespacesOp((MatchCondition("prefix", ("n",)),), None, 10, 0),
            PutOp(("n",), "k", None),
            GetOp(("n",), "k"),
        ]
    )
    assert results[0] is None and results[1].value == {"v": 1}
    assert [i.key for i in results[2]] == ["k"] and results[3] == [("n",)]
    assert results[4] is None and results[5] is None


async def test_async_api(store) -> None:
    await store.aput(("async",), "greeting", {"text": "hello from a coroutine"})
    assert (await store.aget(("async",), "greeting")).value == {"text": "hello from a coroutine"}
    assert [h.key for h in await store.asearch(("async",), query="coroutine greeting")] == ["greeting"]
    assert await store.alist_namespaces() == [("async",)]
    await store.adelete(("async",), "greeting")
    assert await store.aget(("async",), "greeting") is None


def test_bad_input(store, tmp_path) -> None:
    with pytest.raises(MemoryInputError, match="must be a dict"):
        store.batch([PutOp(("n",), "k", ["not", "a", "dict"])])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):  # LangGraph's own namespace check runs first
        store.put((), "k", {"v": 1})
    with pytest.raises(MemoryInputError, match="cannot be empty|empty"):
        store.search(("n",), query="   ")
    assert store.list_namespaces() == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(MemoryUnavailableError):
        ChromaStore(tmp_path / "file", index_fields=None)
    with pytest.raises(MemoryUnavailableError, match="cannot reach"):
        ChromaStore("http://127.0.0.1:9", index_fields=None)


_GRAPH = """
import sys
from typing import TypedDict
from langgraph.graph import StateGraph, START
from langgraph.runtime import Runtime
from graphwright.graphs import compile_graph
from graphwright.memory import ChromaStore, open_checkpointer

class S(TypedDict):
    note: str
    found: list

def remember(state: S, runtime: Runtime) -> dict:
    if state.get("note"):
        runtime.store.put(("user", "dana"), "note-" + str(len(state["note"])), {"text": state["note"]})
    hits = runtime.store.search(("user", "dana"), query="which instrument does Dana play?", limit=1)
    return {"found": [h.value["text"] for h in hits]}

g = StateGraph(S)
g.add_node("remember", remember)
g.add_edge(START, "remember")
with open_checkpointer(sys.argv[2]) as saver:
    app = compile_graph(g, checkpointer=saver, store=ChromaStore(sys.argv[1]))
    out = app.invoke({"note": sys.argv[3]}, {"configurable": {"thread_id": "t1"}})
    print(out["found"])
"""


def test_a_threads_store_writes_survive_a_process_restart(tmp_path) -> None:
    script = tmp_path / "graph.py"
    script.write_text(textwrap.dedent(_GRAPH))
    store_dir, db = str(tmp_path / "store"), str(tmp_path / "runs.sqlite")

    def run(note: str) -> str:
        done = subprocess.run([sys.executable, str(script), store_dir, db, note], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    assert run("Dana plays the cello in an orchestra") == "['Dana plays the cello in an orchestra']"
    assert run("") == "['Dana plays the cello in an orchestra']"  # a new process: only the store remembers
    reopened = ChromaStore(store_dir, index_fields=None)
    assert [i.value for i in reopened.search(("user", "dana"))] == [{"text": "Dana plays the cello in an orchestra"}]


def test_store_on_a_chroma_server(chroma_server, embeddings) -> None:
    store = ChromaStore(chroma_server, embeddings=embeddings, prefix="store-test-")
    store.put(("svc",), "k", {"text": "kept by the server"})
    again = ChromaStore(chroma_server, embeddings=embeddings, prefix="store-test-")
    assert again.get(("svc",), "k").value == {"text": "kept by the server"}
    assert [h.key for h in again.search(("svc",), query="who keeps it?")] == ["k"]
