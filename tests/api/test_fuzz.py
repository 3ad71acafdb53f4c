"""Fuzz the running API from its own OpenAPI document (schemathesis): valid and invalid requests
for every operation, with a client's key. No 5xx, and every response, error or not, matches what
the document says (status codes, bodies, content types)."""

from __future__ import annotations

from collections.abc import Iterator

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode
from schemathesis.core.result import Ok, Result
from schemathesis.errors import InvalidSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from api.server import serve_in_thread
from emotrace.queue import CeleryQueue
from emotrace.settings import Settings
from emotrace.storage import LocalStore
from tests.services import new_key

EXAMPLES_PER_OPERATION = 100
# "Schema-valid data is accepted": no OpenAPI type says "a video file", so schema-valid bytes
# that are not a recording are rightly refused (415); the corpus tests cover those answers.
SCHEMA_CANNOT_SAY: list[schemathesis.CheckFunction] = [positive_data_acceptance]


@pytest.fixture(scope="module")
def fuzz_url(settings: Settings) -> Iterator[str]:
    """The API without the POST rate limit, so every generated upload reaches the parser."""
    unlimited = settings.model_copy(update={"post_rate_per_minute": 0})
    app = create_app(unlimited, queue=CeleryQueue(unlimited), store=LocalStore(unlimited.storage_root))
    with serve_in_thread(app) as url:
        yield url


def _readable(result: Result[schemathesis.APIOperation, InvalidSchema]) -> schemathesis.APIOperation:
    """An operation of the document; one schemathesis cannot read fails the test, saying why."""
    if isinstance(result, Ok):
        return result.ok()
    raise AssertionError(f"an operation of /openapi.json is invalid: {result.err()}")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_schema(fuzz_url: str, settings: Settings, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_url}/openapi.json")
    headers = {"Authorization": f"Bearer {new_key(settings, 'fuzz-client')}"}
    failures: dict[str, str] = {}
    calls: list[int] = []
    operations = [_readable(result) for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            # A negative case may leave out the key on purpose: then it must get 401, not our key.
            dropped_key = mode is GenerationMode.NEGATIVE and "Authorization" not in (case.headers or {})
            response = case.call_and_validate(
                headers=None if dropped_key else headers, excluded_checks=SCHEMA_CANNOT_SAY
            )
            calls.append(response.status_code)

        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to violate: no parameters
        except Exception as exc:  # a failure of one operation must not hide the others
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert len(calls) >= 5 * len(operations), calls
