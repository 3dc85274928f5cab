"""Every error type graphwright raises, importable from here: `from graphwright.errors import DrawingError`.

Each is a `GraphwrightError`, and also the built-in exception its kind of failure would be, so code that already
catches `ValueError` or `LookupError` keeps working. Each message says what was wrong.

    GraphwrightError
    ├── GraphSetupError (ValueError)         a graph is malformed; raised at build or compile time
    ├── GraphNotFoundError (LookupError)     a graph reference names no graph
    ├── InvalidThreadIdError (ValueError)    a thread id is empty, too long, or has bad characters
    ├── ThreadStateError (RuntimeError)      the thread's state does not allow the request
    ├── CheckpointerError (ValueError)       a checkpoint database cannot be opened or read
    ├── ModelNotFoundError (FileNotFoundError)
    ├── ModelLoadError (RuntimeError)
    ├── ContextLengthError (ValueError)      a prompt does not fit the model's context
    ├── GrammarError (ValueError)            a schema or grammar cannot be compiled for constrained decoding
    ├── RequestCancelled                     a model call was cancelled, or its model's scheduler closed
    ├── ToolDefinitionError (TypeError)      a function cannot become a tool
    ├── ToolPathError (PermissionError)      a workspace path leaves the workspace
    ├── ToolHostError (PermissionError)      a URL outside the HTTP tool's allow-list
    ├── SandboxUnavailableError (RuntimeError)
    ├── ServiceSetupError (ValueError)       an HTTP service is configured wrongly
    ├── RequestInputError (ValueError)       an HTTP request's body, path or query is malformed or unsafe to keep
    ├── MemoryInputError (ValueError)        bad input to long-term memory
    │   └── EmbeddingDimensionError          vectors of another dimension than the collection's
    ├── MemoryUnavailableError (ConnectionError)
    ├── DrawingError (ValueError)            a graph cannot be drawn as asked
    ├── TracingError (ValueError)            tracing cannot be turned on as asked (an unknown destination)
    ├── EnvSetupError (ValueError)           an environment cannot be made as asked: unknown game, fold, seed
    ├── InvalidActionError (ValueError)      an action the environment does not accept here
    ├── EpisodeStateError (RuntimeError)     a step before `reset()` or after the episode ended
    ├── TaskFileError (ValueError)           an evaluation task file is missing or malformed
    ├── EvalReportError (ValueError)         an evaluation report cannot be used
    ├── ClusterError (RuntimeError)          a Ray cluster cannot be started or joined, or its actors cannot build
    ├── ExperienceError (ValueError)         an experience record or store is malformed or unreadable
    └── LearningError (RuntimeError)         a learner cannot train, merge or save as asked

Example:
    >>> from graphwright.errors import GraphSetupError, GraphwrightError
    >>> issubclass(GraphSetupError, (GraphwrightError, ValueError))
    True
"""

from __future__ import annotations

__all__ = [
    "CheckpointerError",
    "ClusterError",
    "ContextLengthError",
    "DrawingError",
    "EmbeddingDimensionError",
    "EnvSetupError",
    "EpisodeStateError",
    "EvalReportError",
    "ExperienceError",
    "GrammarError",
    "GraphNotFoundError",
    "GraphSetupError",
    "GraphwrightError",
    "InvalidActionError",
    "InvalidThreadIdError",
    "LearningError",
    "MemoryInputError",
    "MemoryUnavailableError",
    "ModelLoadError",
    "ModelNotFoundError",
    "RequestCancelled",
    "RequestInputError",
    "SandboxUnavailableError",
    "ServiceSetupError",
    "TaskFileError",
    "ThreadStateError",
    "ToolDefinitionError",
    "ToolHostError",
    "ToolPathError",
    "TracingError",
]


class GraphwrightError(Exception):
    """Base class of every error graphwright raises on purpose."""


class GraphSetupError(GraphwrightError, ValueError):
    """A graph is malformed or its parts are inconsistent; raised at build or compile time, before any run."""


class GraphNotFoundError(GraphwrightError, LookupError):
    """A graph reference (a built-in name or `module:attr`) does not name a graph."""



class InvalidThreadIdError(GraphwrightError, ValueError):
    """A thread id is empty, too long, or has characters outside `[A-Za-z0-9._:-]`."""


class ThreadStateError(GraphwrightError, RuntimeError):
    """A thread is not in a state that allows the request (e.g. resuming a thread with nothing pending)."""


class CheckpointerError(GraphwrightError, ValueError):
    """A checkpoint database cannot be opened: a bad path, a file that is not a database, an unreachable URL."""


class ModelNotFoundError(GraphwrightError, FileNotFoundError):
    """A model reference does not point at a model on this machine (nothing is downloaded)."""


class ModelLoadError(GraphwrightError, RuntimeError):
    """A model file exists but could not be read, converted or loaded."""


class ContextLengthError(GraphwrightError, ValueError):
    """A prompt does not fit in the model's context window."""


class GrammarError(GraphwrightError, ValueError):
    """A schema or grammar cannot be compiled for constrained decoding."""


class RequestCancelled(GraphwrightError):
    """A model call was cancelled before it finished (its `cancel` event was set), or the model's scheduler was
    closed (the process is exiting)."""


class ToolDefinitionError(GraphwrightError, TypeError):
    """A function cannot become a tool: a parameter without a type hint, no docstring, an undocumented argument."""


class ToolPathError(GraphwrightError, PermissionError):
    """A workspace path is absolute, climbs out with `..`, or resolves (through a symlink) outside the workspace."""


class ToolHostError(GraphwrightError, PermissionError):
    """A URL names a scheme or host outside the HTTP tool's allow-list."""


class SandboxUnavailableError(GraphwrightError, RuntimeError):
    """The Python sandbox cannot isolate code here (no namespaces), so it refuses to run it unconfined."""


class ServiceSetupError(GraphwrightError, ValueError):
    """An HTTP service is configured wrongly: no API keys and auth not explicitly disabled, a bad limit, a graph name."""


class RequestInputError(GraphwrightError, ValueError):
    """An HTTP request's body, path or query cannot be accepted: nested too deep, a string no store can keep
    (a NUL, a lone surrogate), a number out of range, or a feature the server does not offer."""


class MemoryInputError(GraphwrightError, ValueError):
    """Long-term memory was given bad input: empty text, a bad namespace, filter or limit, a malformed fact."""


class EmbeddingDimensionError(MemoryInputError):
    """Vectors do not have the dimension a memory collection holds (it was built with another embedding model)."""


class MemoryUnavailableError(GraphwrightError, ConnectionError):
    """A memory backend cannot be reached or opened: an unreachable Chroma URL, an unusable folder or file."""


class DrawingError(GraphwrightError, ValueError):
    """A graph cannot be drawn as asked: an unknown format, a binary format with no file, a run from another graph."""


class TracingError(GraphwrightError, ValueError):
    """Tracing cannot be turned on as asked: `$GRAPHWRIGHT_TRACE` or `enable_tracing` names an unknown destination."""


class EnvSetupError(GraphwrightError, ValueError):
    """An environment cannot be made or reset as asked: an unknown game or spec, a bad fold, a seed out of range."""


class InvalidActionError(GraphwrightError, ValueError):
    """An action the environment does not accept in its current state; the message names it and the valid ones."""

    def __init__(self, action: str, valid_actions: list[str] | None, reason: str = "") -> None:
        if valid_actions is not None:
            shown = ", ".join(repr(a) for a in valid_actions)
            message = f"action {action!r} is not valid here; the valid actions are: {shown}"
        else:
            message = f"action {action!r} is not valid here"
        super().__init__(f"{message} ({reason})" if reason else message)
        self.action = action
        self.valid_actions = valid_actions


class EpisodeStateError(GraphwrightError, RuntimeError):
    """An environment was stepped before `reset()` or after its episode ended."""


class TaskFileError(GraphwrightError, ValueError):
    """An evaluation task file is missing or malformed; the message names the file and the line."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class EvalReportError(GraphwrightError, ValueError):
    """An evaluation report or results folder cannot be used: unreadable, not a report, or from another eval."""


class ClusterError(GraphwrightError, RuntimeError):
    """A Ray cluster cannot be started or joined, or the graph cannot be built on its actors."""


class ExperienceError(GraphwrightError, ValueError):
    """An experience record is malformed, or the experience store (or a thread it refers to) cannot be read."""


class LearningError(GraphwrightError, RuntimeError):
    """A learner cannot do what it was asked: no usable examples, a model that cannot be trained or saved."""
