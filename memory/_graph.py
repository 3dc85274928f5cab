"""A knowledge graph on networkx: (subject, relation, object) facts with provenance, saved to a JSON file.

Entities are nodes keyed by their case-folded name (the first spelling seen is kept for display); each fact is
an edge keyed by its relation, carrying where it came from (`sources`) and how sure its writer was
(`confidence`). Adding a fact that is already there merges it: sources are united, the higher confidence kept.
`about(question)` is the retriever mode: it finds the entities a question names and answers with the facts
around them, ordered by distance, so a two-hop question gets the fact chain that leads to its answer.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from ..errors import MemoryInputError, MemoryUnavailableError

_FORMAT = "graphwright-knowledge-graph"
_VERSION = 1
_SPACE = re.compile(r"\s+")
_PUNCTUATION = re.compile(r"[^\w\s]")


@dataclass(frozen=True)
class Fact:
    """One (subject, relation, object) triple and where it came from."""

    subject: str
    """The entity the fact is about."""
    relation: str
    """How the subject relates to the object, e.g. `"born in"`."""
    object: str
    """The other entity (or a literal value)."""
    sources: tuple[str, ...] = ()
    """Provenance: documents, runs or messages the fact was taken from."""
    confidence: float = 1.0
    """How sure the writer was, 0..1."""

    def sentence(self) -> str:
        """Return the fact as one line of text, e.g. `Marie Curie born in Warsaw`."""
        return f"{self.subject} {self.relation} {self.object}"


def _words(text: str) -> str:
    return _SPACE.sub(" ", _PUNCTUATION.sub(" ", text)).strip().casefold()


def entity_key(name: str) -> str:
    """Return the key an entity name is stored under: case-folded, spaces collapsed.

    Example:
        >>> entity_key("  Marie   CURIE ")
        'marie curie'
    """
    return _SPACE.sub(" ", name).strip().casefold()


class KnowledgeGraph:
    """Facts as a directed multigraph of entities, with neighbourhood and path queries and JSON persistence.

    Example:
        >>> kg = KnowledgeGraph()
        >>> _ = kg.add("Marie Curie", "born in", "Warsaw", source="wiki")
        >>> _ = kg.add("Warsaw", "capital of", "Poland", source="atlas")
        >>> [f.sentence() for f in kg.about("Where was Marie Curie born, in which country?")]
        ['Marie Curie born in Warsaw', 'Warsaw capital of Poland']
        >>> [f.sentence() for f in kg.paths("marie curie", "Poland")[0]]
        ['Marie Curie born in Warsaw', 'Warsaw capital of Poland']
    """

    def __init__(self) -> None:
        """Create an empty graph (use `KnowledgeGraph.load(path)` to read a saved one)."""
        self.graph = nx.MultiDiGraph()

    def __len__(self) -> int:
        """The number of facts."""
        return self.graph.number_of_edges()

    # Writing ------------------------------------------------------------------------------------------------

    def add(self, subject: str, relation: str, object: str, *, source: str | None = None, confidence: float = 1.0) -> Fact:
        """Add a fact, or merge it into the same (subject, relation, object) already there. Returns the stored fact.

        Raises:
            MemoryInputError: a part is empty, or confidence is outside 0..1.
        """
        return self.add_fact(Fact(subject, relation, object, (source,) if source else (), confidence))

    def add_fact(self, fact: Fact) -> Fact:
        """Add (or merge) a `Fact`; see `add`."""
        parts = [fact.subject, fact.relation, fact.object]
        if not all(isinstance(p, str) and p.strip() for p in parts):
            raise MemoryInputError(f"a fact needs a non-empty subject, relation and object, got {tuple(parts)!r}")
        if not 0.0 <= fact.confidence <= 1.0:
            raise MemoryInputError(f"confidence must be within 0..1, got {fact.confidence}")
        subject, obj = (self._node(name) for name in (fact.subject, fact.object))
        relation = _SPACE.sub(" ", fact.relation).strip()
        key = relation.casefold()
        sources = set(fact.sources)
        confidence = fact.confidence
        if self.graph.has_edge(subject, obj, key):
            data = self.graph.edges[subject, obj, key]
            sources |= set(data["sources"])
            confidence = max(confidence, data["confidence"])
            relation = data["relation"]
        self.graph.add_edge(subject, obj, key, relation=relation, sources=sorted(sources), confidence=confidence)
        return self._fact(subject, obj, key)

    def add_facts(self, facts: Iterable[Fact]) -> list[Fact]:
        """Add (or merge) several facts; all are checked before any is added."""
        facts = list(facts)
        probe = KnowledgeGraph()
        for fact in facts:
            probe.add_fact(fact)
        return [self.add_fact(fact) for fact in facts]

    def merge(self, other: KnowledgeGraph) -> None:
        """Merge every fact of `other` into this graph."""
        self.add_facts(other.facts())

    def remove(self, subject: str, relation: str, object: str) -> bool:
        """Remove a fact; return whether it was there. Entities left without facts are removed too."""
        s, o, key = entity_key(subject), entity_key(object), _SPACE.sub(" ", relation).strip().casefold()
        if not self.graph.has_edge(s, o, key):
            return False
        self.graph.remove_edge(s, o, key)
        self.graph.remove_nodes_from([n for n in (s, o) if self.graph.degree(n) == 0])
        return True

    # Reading ------------------------------------------------------------------------------------------------

    def facts(self, entity: str | None = None) -> list[Fact]:
        """Return every fact, or the facts whose subject or object is `entity`."""
        if entity is None:
            edges = self.graph.edges(keys=True)
        else:
            node = entity_key(entity)
            if node not in self.graph:
                return []
            edges = [*self.graph.out_edges(node, keys=True), *self.graph.in_edges(node, keys=True)]
        return [self._fact(s, o, k) for s, o, k in edges]

    def entities(self) -> list[str]:
        """Return the display names of all entities, sorted."""
        return sorted(self.graph.nodes[n]["name"] for n in self.graph)

    def neighbourhood(self, entity: str, hops: int = 1) -> list[Fact]:
        """Return the facts within `hops` steps of `entity` (either direction), nearest first.

        A fact is `d` steps away when one of its ends is `d - 1` steps from the entity.
        """
        return self._around([entity_key(entity)], hops)

    def paths(self, start: str, end: str, *, max_hops: int = 3, limit: int = 5) -> list[list[Fact]]:
        """Return up to `limit` chains of facts linking two entities (either direction), shortest first."""
        a, b = entity_key(start), entity_key(end)
        undirected = nx.Graph(self.graph.to_undirected(as_view=True))
        if a not in self.graph or b not in self.graph or a == b or not nx.has_path(undirected, a, b):
            return []
        chains: list[list[Fact]] = []
        for nodes in nx.shortest_simple_paths(undirected, a, b):
            if len(nodes) - 1 > max_hops or len(chains) >= limit:
                break
            chains.append([self._between(x, y) for x, y in zip(nodes, nodes[1:])])
        return chains

    def entities_in(self, text: str) -> list[str]:
        """Return the keys of entities whose name appears in `text` as whole words, longest names first.

        A name inside a longer name that matched (`Curie` inside `Marie Curie`) does not count again.
        """
        haystack = f" {_words(text)} "
        found: list[tuple[str, str]] = []
        for node in sorted(self.graph, key=lambda n: (-len(n), n)):
            words = _words(node)
            if words and f" {words} " in haystack and not any(f" {words} " in f" {longer} " for _, longer in found):
                found.append((node, words))
        return [node for node, _ in found]

    def about(self, question: str, *, hops: int = 2, limit: int = 20) -> list[Fact]:
        """Return up to `limit` facts around the entities `question` names, nearest first (the retriever mode)."""
        if not isinstance(question, str) or not question.strip():
            raise MemoryInputError("the question is empty")
        return self._around(self.entities_in(question), hops)[:limit]

    # Persistence --------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the graph to `path` as JSON, atomically (a crash leaves the old file or the new one, whole).

        Raises:
            MemoryUnavailableError: the folder does not exist or is not writable.
        """
        path = Path(path)
        payload = {
            "format": _FORMAT,
            "version": _VERSION,
            "facts": [{**fact.__dict__, "sources": list(fact.sources)} for fact in self.facts()],
        }
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        except OSError as exc:
            raise MemoryUnavailableError(f"cannot write knowledge graph {str(path)!r}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, ensure_ascii=False, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KnowledgeGraph:
        """Read a graph saved by `save`; a missing file gives an empty graph.

        Raises:
            MemoryUnavailableError: the file is unreadable, not JSON, or not a saved knowledge graph.
        """
        path = Path(path)
        kg = cls()
        if not path.exists():
            return kg
        try:
            payload: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MemoryUnavailableError(f"cannot read knowledge graph {str(path)!r}: {exc}") from exc
        if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
            raise MemoryUnavailableError(f"{str(path)!r} is not a saved graphwright knowledge graph")
        try:
            kg.add_facts(Fact(f["subject"], f["relation"], f["object"], tuple(f["sources"]), f["confidence"]) for f in payload["facts"])
        except (KeyError, TypeError, MemoryInputError) as exc:
            raise MemoryUnavailableError(f"knowledge graph {str(path)!r} holds a malformed fact: {exc}") from exc
        return kg

    # Internals ----------------------------------------------------------------------------------------------

    def _node(self, name: str) -> str:
        key = entity_key(name)
        if key not in self.graph:
            self.graph.add_node(key, name=_SPACE.sub(" ", name).strip())
        return key

    def _fact(self, s: str, o: str, key: str) -> Fact:
        data = self.graph.edges[s, o, key]
        return Fact(self.graph.nodes[s]["name"], data["relation"], self.graph.nodes[o]["name"], tuple(data["sources"]), data["confidence"])

    def _between(self, x: str, y: str) -> Fact:
        if self.graph.has_edge(x, y):
            return self._fact(x, y, next(iter(self.graph[x][y])))
        return self._fact(y, x, next(iter(self.graph[y][x])))

    def _around(self, starts: list[str], hops: int) -> list[Fact]:
        if hops < 1:
            raise MemoryInputError(f"hops must be at least 1, got {hops}")
        starts = [s for s in starts if s in self.graph]
        if not starts:
            return []
        distance = nx.multi_source_dijkstra_path_length(self.graph.to_undirected(as_view=True), starts, cutoff=hops - 1)
        ranked = []
        for s, o, key in self.graph.edges(keys=True):
            near = min(distance.get(s, hops), distance.get(o, hops))
            if near < hops:
                ranked.append((near, -self.graph.edges[s, o, key]["confidence"], s, key, o))
        return [self._fact(s, o, key) for _, _, s, key, o in sorted(ranked)]
