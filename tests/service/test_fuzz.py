"""Property-based fuzzing of the HTTP API from its own OpenAPI document (Schemathesis), on SQLite and Postgres.

Every operation in `/openapi.json` gets bodies, paths and queries drawn from its schema (valid and invalid,
with NULs, surrogates and huge numbers): no answer may be a 5xx, every answer must match the document (status
code, content type, body schema, `Allow` on 405), and whatever the schema forbids must get a 4xx.

Not checked: that every schema-valid request is accepted (`positive_data_acceptance`). The document cannot say
what the server still refuses on purpose with a 422: state values that do not fit the served graph, thread ids
outside their character set, a NUL or lone surrogate in a string, integers beyond 64 bits, options this server
does not offer (store TTLs without a TTL store, `multitask_strategy='rollback'`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from service_support import ALICE, make_app

from graphwright.memory import open_checkpointer

EXAMPLES = 4
"""Cases per operation, mode and backend (about 40 operations): the known classes of failure turn up in seconds."""


@pytest.fixture(params=["sqlite", "postgres"])
def saver(request, tmp_path) -> Iterator[object]:
    """A checkpointer of each backend; the service keeps its thread and run records beside it."""
    target = request.getfixturevalue("postgres_url") if request.param == "postgres" else tmp_path / "fuzz.sqlite"
    with open_checkpointer(target) as opened:
        yield opened


def test_every_operation_answers_fuzzed_input_with_a_documented_non_5xx_response(saver) -> None:
    # Schemathesis' pytest integration (`from_fixture`) does not run under pytest 9, so each operation's
    # strategy is driven by Hypothesis here.
    schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(checkpointer=saver))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    for operation in operations:
        for mode in GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def check(case) -> None:
                case.call_and_validate(headers={"x-api-key": ALICE}, excluded_checks=[positive_data_acceptance])

            check()
