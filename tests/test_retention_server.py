"""Per-project retention through a running server with auth on: API, auth gate, CLI, metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from spyglass.cli import _app
from tests.conftest import ServerProcess
from tests.factory import BASE_NS, TraceSpec, export_request

ADMIN = ("admin", "admin-password-1")
SERVER_WIDE_DAYS = 400


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("retention"),
        extra_args=["--basic-auth-username", ADMIN[0], "--basic-auth-password", ADMIN[1],
                    "--retention-days", str(SERVER_WIDE_DAYS)],
    )  # fmt: skip
    proc.start()
    yield proc
    proc.stop()


def key(server: ServerProcess, role: str, project: str | None = None) -> dict[str, str]:
    body: dict[str, Any] = {"name": f"{role}-{project}", "role": role}
    if project is not None:
        body["project"] = project
    r = httpx.post(f"{server.url}/api/auth/keys", json=body, auth=ADMIN)
    assert r.status_code == 201, r.text
    return {"authorization": f"Bearer {r.json()['key']}"}


def send_old_traces(server: ServerProcess, project: str, ages_days: list[int]) -> dict[int, str]:
    """Store one trace (root + child) per age through OTLP; return trace ids by age."""
    now = datetime.now(UTC)
    specs = {}
    for age in ages_days:
        start_ns = int((now - timedelta(days=age)).timestamp() * 1e9)
        specs[age] = TraceSpec(name=f"{age}d", start_ms=(start_ns - BASE_NS) / 1e6, children=[{}])
    r = httpx.post(
        f"{server.url}/v1/traces",
        content=export_request(list(specs.values())).SerializeToString(),
        headers={"content-type": "application/x-protobuf", "x-spyglass-project": project},
        auth=ADMIN,
    )
    assert r.status_code == 200, r.text
    return {age: spec.trace_id.hex() for age, spec in specs.items()}


def stored(server: ServerProcess, project: str, trace_id: str) -> tuple[bool, int]:
    """Whether the trace's summary is there, and how many of its spans are."""
    params = {"project": project}
    summary = httpx.get(f"{server.url}/api/traces/{trace_id}", params=params, auth=ADMIN)
    assert summary.status_code in (200, 404), summary.text
    spans = httpx.get(f"{server.url}/api/traces/{trace_id}/spans", params=params, auth=ADMIN)
    count = len(spans.json()["spans"]) if spans.status_code == 200 else 0
    return summary.status_code == 200, count


def set_days(server: ServerProcess, project: str, days: Any, **kw: Any) -> httpx.Response:
    kw.setdefault("auth", ADMIN)
    return httpx.put(f"{server.url}/api/retention/projects/{project}", json={"days": days}, **kw)


def run(server: ServerProcess) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/api/retention/run", auth=ADMIN)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_projects_expired_traces_go_and_another_projects_stay(secured: ServerProcess) -> None:
    a, b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    a_ids = send_old_traces(secured, a, [5, 40, 90])
    b_ids = send_old_traces(secured, b, [5, 40, 90])
    assert set_days(secured, a, 30).status_code == 200
    assert set_days(secured, b, 60).status_code == 200
    run(secured)
    assert stored(secured, a, a_ids[5]) == (True, 2)
    assert stored(secured, a, a_ids[40]) == (False, 0)  # the summary went with its spans
    assert stored(secured, a, a_ids[90]) == (False, 0)
    assert stored(secured, b, b_ids[40]) == (True, 2)
    assert stored(secured, b, b_ids[90]) == (False, 0)
    listed = httpx.get(f"{secured.url}/api/traces", params={"project": a}, auth=ADMIN).json()
    assert [t["trace_id"] for t in listed["traces"]] == [a_ids[5]]

    # Changing the retention takes effect on the next sweep; clearing it stops deleting.
    assert set_days(secured, b, 30).status_code == 200
    run(secured)
    assert stored(secured, b, b_ids[40]) == (False, 0)
    assert stored(secured, b, b_ids[5]) == (True, 2)
    r = httpx.delete(f"{secured.url}/api/retention/projects/{b}", auth=ADMIN)
    assert r.status_code == 200 and r.json() == {"project": b, "days": None}
    b_again = send_old_traces(secured, b, [40])
    run(secured)
    assert stored(secured, b, b_again[40]) == (True, 2)

    body = httpx.get(f"{secured.url}/api/retention", auth=ADMIN).json()
    assert body["default_days"] == SERVER_WIDE_DAYS
    mine = {p["project"]: p for p in body["projects"] if p["project"] in (a, b)}
    assert mine[a]["days"] == 30 and mine[a]["updated_by"] == "admin" and b not in mine
    assert body["last_sweep"]["tables"][0]["table"] == "traces"

    metrics = httpx.get(f"{secured.url}/metrics", auth=ADMIN).text
    runs = next(line for line in metrics.splitlines() if line.startswith("spyglass_retention_runs"))
    assert int(runs.split()[-1]) >= 3
    assert 'spyglass_retention_rows_removed_total{table="spans",how="delete"}' in metrics


def test_the_server_wide_retention_applies_to_projects_without_their_own(
    secured: ServerProcess,
) -> None:
    project = f"c-{uuid.uuid4().hex[:8]}"
    ids = send_old_traces(secured, project, [5, SERVER_WIDE_DAYS + 30])
    run(secured)
    assert stored(secured, project, ids[5]) == (True, 2)
    assert stored(secured, project, ids[SERVER_WIDE_DAYS + 30]) == (False, 0)


def test_only_unconfined_admins_may_read_or_change_retention(secured: ServerProcess) -> None:
    url = f"{secured.url}/api/retention"
    for headers in (key(secured, "write"), key(secured, "read"), key(secured, "admin", "p1")):
        assert set_days(secured, "p1", 7, auth=None, headers=headers).status_code == 403
        assert httpx.post(f"{url}/run", headers=headers).status_code == 403
        assert httpx.get(url, headers=headers).status_code == 403
        assert httpx.delete(f"{url}/projects/p1", headers=headers).status_code == 403
    assert httpx.get(url).status_code == 401
    assert set_days(secured, "p1", 7, auth=None, headers=key(secured, "admin")).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"days": 0}, "body.days: Input should be greater than or equal to 1"),
        ({"days": -3}, "body.days: Input should be greater than or equal to 1"),
        ({"days": 10**12}, "body.days: Input should be less than or equal to 3650"),
        ({"days": "30"}, "body.days: Input should be a valid integer"),
        ({"days": 7.5}, "body.days: Input should be a valid integer"),
        ({"days": True}, "body.days: Input should be a valid integer"),
        ({"days": 7, "keep": "forever"}, "body.keep: Extra inputs are not permitted"),
        ({}, "body.days: Field required"),
        (
            {"days": SERVER_WIDE_DAYS + 1},
            f"exceeds the server's --retention-days {SERVER_WIDE_DAYS}",
        ),
    ],
)
def test_bad_retention_values_get_a_precise_400(
    secured: ServerProcess, body: dict[str, Any], message: str
) -> None:
    r = httpx.put(f"{secured.url}/api/retention/projects/p2", json=body, auth=ADMIN)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_unknown_projects_and_overlong_names_are_refused(secured: ServerProcess) -> None:
    url = f"{secured.url}/api/retention/projects"
    r = httpx.delete(f"{url}/never-set", auth=ADMIN)
    assert r.status_code == 404 and "no retention of its own" in r.text
    assert httpx.get(f"{url}/never-set", auth=ADMIN).status_code == 404
    assert set_days(secured, "x" * 201, 7).status_code == 400


def test_the_cli_sets_lists_runs_and_clears(secured: ServerProcess) -> None:
    admin_key = key(secured, "admin")["authorization"].removeprefix("Bearer ")
    common = ["--url", secured.url, "--api-key", admin_key]
    runner = CliRunner()
    project = f"team/cli-{uuid.uuid4().hex[:6]}"  # a slash survives the URL
    result = runner.invoke(_app(), ["retention", "set", project, "14", *common])
    assert result.exit_code == 0, result.output
    assert f"{project}: 14 days" in result.output
    result = runner.invoke(_app(), ["retention", "list", *common])
    assert f"server-wide: {SERVER_WIDE_DAYS} days" in result.output
    assert f"{project}: 14 days" in result.output
    result = runner.invoke(_app(), ["retention", "run", *common])
    assert result.exit_code == 0 and "spans:" in result.output
    result = runner.invoke(_app(), ["retention", "clear", project, *common])
    assert result.exit_code == 0, result.output
    result = runner.invoke(_app(), ["retention", "set", project, "0", *common])
    assert result.exit_code == 1
    result = runner.invoke(_app(), ["retention", "set", project, "7", "--url", secured.url])
    assert result.exit_code == 1 and "401" in result.output
