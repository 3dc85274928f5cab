"""The knowledge graph: merging with provenance, neighbourhoods, paths, two-hop answers, atomic files, extraction."""

from __future__ import annotations

import json

import pytest
from fakes import ScriptedChatModel, call
from langchain_core.messages import AIMessage

from graphwright.errors import MemoryInputError, MemoryUnavailableError
from graphwright.memory import Fact, KnowledgeGraph, extract_facts


@pytest.fixture
def kg() -> KnowledgeGraph:
    graph = KnowledgeGraph()
    graph.add("Marie Curie", "born in", "Warsaw", source="bio.txt")
    graph.add("Warsaw", "capital of", "Poland", source="atlas.txt")
    graph.add("Marie Curie", "won", "Nobel Prize in Physics", source="bio.txt")
    graph.add("Pierre Curie", "married", "Marie Curie", source="bio.txt")
    graph.add("Poland", "member of", "European Union", source="atlas.txt")
    graph.add("Lisbon", "capital of", "Portugal", source="atlas.txt")
    return graph


def test_the_graph_answers_a_two_hop_question(kg) -> None:
    facts = [f.sentence() for f in kg.about("In which country was Marie Curie born?")]
    # the chain to the answer: Marie Curie -born in-> Warsaw -capital of-> Poland
    assert "Marie Curie born in Warsaw" in facts and "Warsaw capital of Poland" in facts
    assert facts.index("Marie Curie born in Warsaw") < facts.index("Warsaw capital of Poland")  # nearest first
    assert "Lisbon capital of Portugal" not in facts  # unrelated facts stay out
    assert "Poland member of European Union" not in facts  # three hops away
    chain = kg.paths("Marie Curie", "Poland")[0]
    assert [(f.subject, f.relation, f.object) for f in chain] == [("Marie Curie", "born in", "Warsaw"), ("Warsaw", "capital of", "Poland")]
    assert kg.about("What is the capital of Portugal?") == [Fact("Lisbon", "capital of", "Portugal", ("atlas.txt",), 1.0)]


def test_adding_the_same_fact_merges_provenance(kg) -> None:
    before = len(kg)
    merged = kg.add("marie  curie", "Born in", "WARSAW", source="encyclopedia", confidence=0.4)
    assert len(kg) == before
    assert merged == Fact("Marie Curie", "born in", "Warsaw", ("bio.txt", "encyclopedia"), 1.0)


def test_neighbourhood_and_entity_queries(kg) -> None:
    one = {f.sentence() for f in kg.neighbourhood("Warsaw")}
    assert one == {"Marie Curie born in Warsaw", "Warsaw capital of Poland"}
    two = {f.sentence() for f in kg.neighbourhood("Warsaw", hops=2)}
    assert {"Pierre Curie married Marie Curie", "Poland member of European Union"} <= two
    assert "Lisbon capital of Portugal" not in two
    assert kg.facts("nobody") == [] and kg.neighbourhood("nobody") == []
    assert kg.entities_in("Did Pierre Curie know Marie Curie?") == ["pierre curie", "marie curie"]
    assert kg.paths("Lisbon", "Warsaw") == []


def test_save_and_load_round_trip_atomically(kg, tmp_path) -> None:
    path = tmp_path / "kg.json"
    kg.save(path)
    loaded = KnowledgeGraph.load(path)
    assert sorted(loaded.facts(), key=Fact.sentence) == sorted(kg.facts(), key=Fact.sentence)
    assert [p.name for p in tmp_path.iterdir()] == ["kg.json"]  # no temporary file left behind
    assert json.loads(path.read_text())["format"] == "graphwright-knowledge-graph"
    kg.add("Warsaw", "on river", "Vistula")
    kg.save(path)
    assert len(KnowledgeGraph.load(path)) == len(loaded) + 1
    assert len(KnowledgeGraph.load(tmp_path / "absent.json")) == 0


def test_bad_facts_and_files_give_typed_errors(kg, tmp_path) -> None:
    size = len(kg)
    with pytest.raises(MemoryInputError, match="non-empty"):
        kg.add("Warsaw", " ", "Poland")
    with pytest.raises(MemoryInputError, match="confidence"):
        kg.add("a", "b", "c", confidence=2)
    with pytest.raises(MemoryInputError):
        kg.add_facts([Fact("x", "y", "z"), Fact("", "y", "z")])
    assert len(kg) == size  # nothing half-added
    with pytest.raises(MemoryInputError, match="empty"):
        kg.about("")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(MemoryUnavailableError, match="cannot read"):
        KnowledgeGraph.load(tmp_path / "junk.json")
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(MemoryUnavailableError, match="not a saved"):
        KnowledgeGraph.load(tmp_path / "other.json")
    with pytest.raises(MemoryUnavailableError, match="cannot write"):
        kg.save(tmp_path / "missing" / "kg.json")


def _extractor(messages, tool_names) -> AIMessage:
    """Reads 'A <relation> B.' sentences the way a model would answer the structured-output request."""
    text = messages[-1].text
    facts = []
    for sentence in filter(None, (s.strip() for s in text.split("."))):
        for relation in ("was born in", "is the capital of"):
            if relation in sentence:
                subject, obj = sentence.split(f" {relation} ")
                facts.append({"subject": subject, "relation": relation, "object": obj})
    return call(tool_names[0], "extract-1", facts=facts)


def test_fact_extraction_through_structured_output_feeds_a_two_hop_answer() -> None:
    model = ScriptedChatModel(rule=_extractor)
    text = "Ada Lovelace was born in London. London is the capital of England. Ada Lovelace was born in London."
    facts = extract_facts(model, text, source="notes.txt")
    assert facts == [
        Fact("Ada Lovelace", "was born in", "London", ("notes.txt",), 0.8),
        Fact("London", "is the capital of", "England", ("notes.txt",), 0.8),
    ]
    kg = KnowledgeGraph()
    kg.add_facts(facts)
    assert [f.object for f in kg.about("Which country was Ada Lovelace born in?")] == ["London", "England"]
    with pytest.raises(MemoryInputError):
        extract_facts(model, "  ")
