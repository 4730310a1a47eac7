"""The API keeps its OpenAPI contract under fuzzing: Schemathesis generates requests from ``/openapi.json`` for
every operation, valid and invalid ones, and sends them through the ASGI app (in-process, on the test database
with the small world of ``conftest.build_world``) as every role and as an anonymous caller.

Every answer must be no server error (5xx), a status code the operation declares, a declared content type, and
a body that matches the declared schema. The run sends at least ``MIN_CASES`` requests in all; the figures are
printed at the end (``pytest -s``) and every failure is listed with the request that caused it.

Rerun: ``.venv/bin/pytest tests/backend/test_api_contract_fuzz.py -s`` (add ``ISX_TEST_DATABASE_URL=...`` for
PostgreSQL); ``ISX_FUZZ_EXAMPLES`` and ``ISX_FUZZ_NEGATIVE_EXAMPLES`` set the number of valid and invalid
examples per operation and role.
"""

import os
import time
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.python import asgi

from tests.backend.conftest import World

pytestmark = pytest.mark.slow

# Anonymous first and the admin last: what a fuzzed request deletes or revokes then hides little from the rest.
ROLES = {"anonymous": None, "verifier": "verifier", "planner": "planner", "firm_user": "fu_own",
         "park_manager": "pm_own", "admin": "admin"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Examples per operation and role, of valid requests and of invalid ones (about 2,400 requests in all).
EXAMPLES = {GenerationMode.POSITIVE: int(os.environ.get("ISX_FUZZ_EXAMPLES", "3")),
            GenerationMode.NEGATIVE: int(os.environ.get("ISX_FUZZ_NEGATIVE_EXAMPLES", "2"))}
METHOD_ORDER = {"GET": 0, "DELETE": 2}
MIN_CASES = 2_000


class Tally:
    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.failures: list[str] = []
        self.seconds: Counter[str] = Counter()
        self.unauthenticated: Counter[str] = Counter()


def fuzz(client: Any, operation: Any, mode: GenerationMode, role: str, headers: dict[str, str],
         tally: Tally) -> None:
    """Send ``EXAMPLES`` generated requests of one operation as one role; record every failed check."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(session=client, headers=headers)
        tally.sent[role] += 1
        tally.statuses[response.status_code] += 1
        if response.status_code == 401 and headers:
            tally.unauthenticated[f"{role} {case.method} {case.formatted_path}"] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Failure, FailureGroup) as exc:  # a failed check: kept with its request, the run goes on
            tally.failures.append(f"{role} {case.method} {case.formatted_path} query={case.query} "
                                  f"body={str(case.body)[:200]} -> {response.status_code}: {str(exc)[:800]}")

    started = time.perf_counter()
    try:
        run()
    except Unsatisfiable:  # no invalid request exists (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE, operation.label
    tally.seconds[operation.label] += time.perf_counter() - started


def test_the_api_keeps_its_contract_for_every_role(app: Any, world: World) -> None:
    from backend.services.runs import wait_for_runs

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    # Reads first and deletions last, so what a fuzzed request removes (its own token, say) hides little.
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=lambda op: (METHOD_ORDER.get(op.method.upper(), 1), op.label))
    assert len(operations) > 50
    tally = Tally()
    with asgi.get_client(app) as client:  # one in-process client (and app start-up) for the whole run
        for role, account in ROLES.items():
            headers = {"Authorization": f"Bearer {world.tokens[account]}"} if account else {}
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    fuzz(client, operation, mode, role, headers, tally)
    wait_for_runs()
    total = sum(tally.sent.values())
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    print(f"\nschemathesis: {total} cases over {len(operations)} operations; by role {dict(tally.sent)}; "
          f"status codes {dict(sorted(tally.statuses.items()))}; {server_errors} server errors; "
          f"{len(tally.failures)} failed checks")
    print("401 with a token:", tally.unauthenticated.most_common(12))
    print("slowest operations (s):", [(label, round(s)) for label, s in tally.seconds.most_common(8)])
    for failure in tally.failures:
        print(failure.replace("\n", " | "))
    assert not tally.failures, "\n".join(tally.failures[:40])
    assert total >= MIN_CASES
    assert set(tally.sent) == set(ROLES)
