"""Contract fuzzing: schemathesis against the live daemon's ``/docs/openapi.json`` (§3.8).

Every operation of the served document gets a few generated requests (``EXAMPLES_PER_OP``,
about 3 x 88 = a few hundred in all), sent as a real registered user. Half of the
generated cases have their path ids replaced by ids that exist (a server, channel, message,
role, invite, bot, DM channel made here), so the fuzz reaches handlers and not only 404s.
Every response must be no 5xx, use a status code, content type and body schema that the
document declares for that operation.

The shared daemon runs with rate limits off, so no 429 hides an answer. Runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from together_server.daemon import Running

EXAMPLES_PER_OP = 3  # valid requests per operation
NEGATIVE_PER_OP = 1  # requests that break the schema (bad bodies, params) per operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _setup(base_url: str) -> tuple[str, dict[str, str]]:
    """Register a fuzzing user and a neighbour; make one of everything; return (token, ids)."""
    with httpx.Client(base_url=base_url, timeout=30) as c:
        def register(name: str) -> dict[str, Any]:
            r = c.post("/auth/register", json={"username": name, "password": "correct horse"})
            assert r.status_code == 201, r.text
            return r.json()  # type: ignore[no-any-return]

        me, other = register("fuzzer"), register("neighbour")
        h = {"Authorization": f"Bearer {me['access_token']}"}
        oh = {"Authorization": f"Bearer {other['access_token']}"}

        def ok(r: httpx.Response) -> Any:
            assert r.status_code in (200, 201), (r.request.method, r.request.url, r.text)
            return r.json()

        server = ok(c.post("/servers", json={"name": "Fuzz"}, headers=h))
        channel = ok(c.post(f"/servers/{server['id']}/channels", json={"name": "fuzz", "type": "text"}, headers=h))
        message = ok(c.post(f"/channels/{channel['id']}/messages", json={"content": "hello fuzz"}, headers=h))
        invite = ok(c.post(f"/servers/{server['id']}/invites", json={}, headers=h))
        ok(c.post(f"/invites/{invite['code']}/accept", headers=oh))
        role = ok(c.post(f"/servers/{server['id']}/roles", json={"name": "fuzzers"}, headers=h))
        bot = ok(c.post("/bots", json={"name": "fuzz bot"}, headers=h))
        dm = ok(c.post("/dm-channels", json={"user_id": other["user"]["id"]}, headers=h))
        ids = {
            "server_id": server["id"], "channel_id": channel["id"], "message_id": message["id"],
            "user_id": other["user"]["id"], "role_id": role["id"], "invite_id": invite["code"],
            "code": invite["code"], "bot_id": bot["bot"]["id"], "override_id": role["id"],
            "dm_id": dm["id"], "emoji": "👍",
        }
        return me["access_token"], ids


def _operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        yield result.ok()


class Fuzzer:
    """Sends generated cases for one operation at a time and collects failed checks."""

    def __init__(self, base: str, token: str, ids: dict[str, str]) -> None:
        self.base, self.ids = base, ids
        self.session = requests.Session()
        self.auth = {"Authorization": f"Bearer {token}"}
        self.failures: list[str] = []
        self.sent = 0

    def send(self, op: Any, case: Any, known: bool) -> None:
        if known and case.path_parameters:
            case.path_parameters = {k: self.ids.get(k, v) for k, v in case.path_parameters.items()}
        response = case.call(base_url=self.base, session=self.session, headers=self.auth, timeout=30)
        self.sent += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:  # a BaseExceptionGroup of the failed checks
            for exc in group.exceptions:
                self.failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code} {response.text[:200]}\n"
                    f"  {type(exc).__name__}: {str(exc)[:600]}"
                )

    def fuzz(self, op: Any, mode: GenerationMode, examples: int) -> None:
        @given(case=op.as_strategy(generation_mode=mode), known=st.booleans())
        @settings(
            max_examples=examples, deadline=None, database=None, derandomize=True,
            phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        )
        def run(case: Any, known: bool) -> None:
            self.send(op, case, known)

        try:
            run()
        except Unsatisfiable:
            # Negative mode on an operation with no parameters or body: nothing to break.
            assert mode is GenerationMode.NEGATIVE, f"{op.method.upper()} {op.path}"


def test_fuzz_served_contract(shared: Running) -> None:
    token, ids = _setup(shared.url)
    schema = schemathesis.openapi.from_url(f"{shared.url}/docs/openapi.json")
    operations = list(_operations(schema))
    assert len(operations) >= 80
    fuzzer = Fuzzer(shared.url, token, ids)
    for op in operations:
        fuzzer.fuzz(op, GenerationMode.POSITIVE, EXAMPLES_PER_OP)
        fuzzer.fuzz(op, GenerationMode.NEGATIVE, NEGATIVE_PER_OP)
    print(f"{fuzzer.sent} generated requests over {len(operations)} operations")
    assert len(operations) <= fuzzer.sent <= (EXAMPLES_PER_OP + NEGATIVE_PER_OP) * len(operations)
    failures = fuzzer.failures
    assert not failures, "\n\n".join(failures[:25]) + f"\n\n({len(failures)} failures in {fuzzer.sent} requests)"


@pytest.mark.parametrize("path", ["/docs/openapi.json"])
def test_document_loads_in_schemathesis(shared: Running, path: str) -> None:
    schema = schemathesis.openapi.from_url(f"{shared.url}{path}")
    names = {f"{op.method.upper()} {op.path}" for op in _operations(schema)}
    assert "POST /bots/connect" in names and "GET /ice-servers" in names
