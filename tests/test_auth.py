"""Authentication, roles and project isolation against a running server with auth on."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from spyglass.auth.model import Role, required_role
from spyglass.auth.passwords import hash_password, verify_password
from spyglass.auth.sessions import SessionSigner
from spyglass.cli import _app
from spyglass.collector.settings import ServerSettings
from spyglass.errors import ConfigError
from tests.conftest import ServerProcess
from tests.factory import TraceSpec, export_request

ADMIN = ("admin", "admin-password-1")
PROTO = {"content-type": "application/x-protobuf"}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("auth"),
        extra_args=["--basic-auth-username", ADMIN[0], "--basic-auth-password", ADMIN[1]],
    )
    proc.start()
    yield proc
    proc.stop()


def make_key(server: ServerProcess, role: str, project: str | None) -> str:
    body: dict[str, Any] = {"name": f"{role}-{project}", "role": role}
    if project is not None:
        body["project"] = project
    r = httpx.post(f"{server.url}/api/auth/keys", json=body, auth=ADMIN)
    assert r.status_code == 201, r.text
    key: str = r.json()["key"]
    assert key.startswith("sg_")
    return key


def send(server: ServerProcess, headers: dict[str, str], trace: TraceSpec) -> httpx.Response:
    body = export_request([trace]).SerializeToString()
    return httpx.post(f"{server.url}/v1/traces", content=body, headers={**PROTO, **headers})


# --- units ---------------------------------------------------------------------------------


def test_password_hash_round_trip_and_salt() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b  # salted
    assert verify_password("correct horse", a) and not verify_password("wrong", a)
    assert not verify_password("x", "garbage")


def test_session_tokens_are_signed_and_expire() -> None:
    signer = SessionSigner("s3cret")
    token = signer.issue("ana", now=1000.0)
    assert signer.username(token, now=1001.0) == "ana"
    assert signer.username(token, now=1000.0 + 13 * 3600) is None
    assert SessionSigner("other").username(token, now=1001.0) is None
    forged = "Ym9i" + token[token.index(".") :]  # base64("bob") with ana's signature
    assert signer.username(forged, now=1001.0) is None
    assert signer.username("not.a.token", now=1001.0) is None


def test_required_roles() -> None:
    assert required_role("GET", "/api/traces") is Role.READ
    assert required_role("POST", "/api/2.0/mlflow/runs/search") is Role.READ
    assert required_role("POST", "/api/2.0/mlflow/runs/create") is Role.WRITE
    assert required_role("POST", "/v1/traces") is Role.WRITE
    assert required_role("GET", "/api/auth/keys") is Role.ADMIN
    assert required_role("GET", "/api/auth/whoami") is Role.READ


def test_public_address_without_auth_is_refused() -> None:
    with pytest.raises(ConfigError, match="without authentication"):
        ServerSettings(host="0.0.0.0")
    ServerSettings(host="0.0.0.0", allow_public_without_auth=True)
    ServerSettings(host="0.0.0.0", basic_auth_username="a", basic_auth_password="long-enough")
    with pytest.raises(ConfigError, match="both"):
        ServerSettings(basic_auth_username="a")
    result = CliRunner().invoke(_app(), ["server", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output


# --- against the server --------------------------------------------------------------------


def test_everything_but_health_needs_credentials(secured: ServerProcess) -> None:
    url = secured.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    r = httpx.get(f"{url}/api/traces")
    assert r.status_code == 401 and "Basic" in r.headers["www-authenticate"]
    assert send(secured, {}, TraceSpec()).status_code == 401
    r = httpx.post(f"{url}/api/2.0/mlflow/experiments/search", json={})
    assert r.status_code == 401 and r.json()["error_code"] == "UNAUTHENTICATED"
    assert httpx.get(f"{url}/metrics").status_code == 401
    assert httpx.get(f"{url}/openapi.json").status_code == 401
    r = httpx.get(f"{url}/traces?x=1", headers={"accept": "text/html"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Ftraces%3Fx%3D1"
    assert httpx.get(f"{url}/api/traces", auth=("admin", "wrong-password")).status_code == 401
    assert httpx.get(f"{url}/api/traces", headers=bearer("sg_forged")).status_code == 401
    assert httpx.get(f"{url}/api/traces", auth=ADMIN).status_code == 200


def test_roles_are_enforced(secured: ServerProcess) -> None:
    reader = make_key(secured, "read", None)
    writer = make_key(secured, "write", None)
    assert send(secured, bearer(reader), TraceSpec()).status_code == 403
    assert send(secured, bearer(writer), TraceSpec()).status_code == 200
    assert httpx.get(f"{secured.url}/api/traces", headers=bearer(reader)).status_code == 200
    r = httpx.post(f"{secured.url}/api/auth/keys", json={"role": "admin"}, headers=bearer(writer))
    assert r.status_code == 403
    r = httpx.post(f"{secured.url}/api/auth/keys", json={"role": "owner"}, auth=ADMIN)
    assert r.status_code == 400 and "role" in r.text


def test_a_project_key_never_crosses_into_another_project(secured: ServerProcess) -> None:
    url = secured.url
    alpha_writer = make_key(secured, "write", "alpha")
    alpha_reader = make_key(secured, "read", "alpha")
    beta_trace = TraceSpec(name="beta-secret", attributes={"session.id": "beta-session"})
    assert send(secured, {"x-spyglass-project": "beta"}, beta_trace).status_code == 401
    r = send(secured, {**bearer(make_key(secured, "write", None)), "x-spyglass-project": "beta"},
             beta_trace)  # fmt: skip
    assert r.status_code == 200
    # The alpha key asks for beta in the header: its spans land in alpha regardless.
    alpha_trace = TraceSpec(name="alpha-root")
    r = send(secured, {**bearer(alpha_writer), "x-spyglass-project": "beta"}, alpha_trace)
    assert r.status_code == 200
    names = {t["name"] for t in httpx.get(f"{url}/api/traces?project=alpha", auth=ADMIN)
             .json()["traces"]}  # fmt: skip
    assert "alpha-root" in names
    beta_names = {t["name"] for t in httpx.get(f"{url}/api/traces?project=beta", auth=ADMIN)
                  .json()["traces"]}  # fmt: skip
    assert beta_names == {"beta-secret"}

    # Every GET route of the API, asked for beta's data with the alpha key.
    beta_id = beta_trace.trace_id.hex()
    paths = httpx.get(f"{url}/openapi.json", auth=ADMIN).json()["paths"]
    tried = 0
    for path, ops in paths.items():
        if "get" not in ops or path.startswith("/api/auth") or path in ("/healthz", "/readyz"):
            continue
        concrete = re.sub(r"\{trace_id\}", beta_id, path)
        concrete = re.sub(r"\{session_id\}", "beta-session", concrete)
        concrete = re.sub(r"\{[^}]+\}", "x", concrete)
        for query in ("?project=beta", "", "?project=alpha&project=beta"):
            r = httpx.get(f"{url}{concrete}{query}", headers=bearer(alpha_reader))
            tried += 1
            assert r.status_code < 500, (concrete, query, r.text)
            assert "beta-secret" not in r.text, (concrete, query)
            assert r.status_code >= 300 or beta_id not in r.text, (concrete, query)
            if concrete.startswith("/api/2.0/"):  # the MLflow API: checked per experiment
                assert r.status_code >= 400 or '"beta"' not in r.text, (concrete, query)
            elif query.startswith("?project=alpha&") or query == "?project=beta":
                assert r.status_code == 403, (concrete, query, r.status_code)
    assert tried >= 20
    # The UI's tracking pages take no project parameter: closed to scoped keys.
    assert httpx.get(f"{url}/experiments", headers=bearer(alpha_reader)).status_code == 403
    # The browser pages: the project picker and every view show alpha only.
    for page in ("/", "/traces", "/sessions", "/dashboard", f"/traces/{beta_id}",
                 "/sessions/beta-session", "/experiments", "/models"):  # fmt: skip
        for query in ("", "?project=beta"):
            r = httpx.get(f"{url}{page}{query}", headers=bearer(alpha_reader))
            assert r.status_code < 500, (page, query)
            leaks = ("beta-secret", 'value="beta"', ">beta<")
            assert not any(leak in r.text for leak in leaks), (page, query, r.status_code)
    projects = httpx.get(f"{url}/api/projects", headers=bearer(alpha_reader)).json()["projects"]
    assert [p["name"] for p in projects] == ["alpha"]
    who = httpx.get(f"{url}/api/auth/whoami", headers=bearer(alpha_reader)).json()
    assert who["project"] == "alpha" and who["role"] == "read"


def test_revoked_keys_stop_working(secured: ServerProcess) -> None:
    key = make_key(secured, "read", None)
    assert httpx.get(f"{secured.url}/api/traces", headers=bearer(key)).status_code == 200
    key_id = key[3:11]
    assert httpx.delete(f"{secured.url}/api/auth/keys/{key_id}", auth=ADMIN).status_code == 200
    assert httpx.get(f"{secured.url}/api/traces", headers=bearer(key)).status_code == 401
    listed = httpx.get(f"{secured.url}/api/auth/keys", auth=ADMIN).json()["keys"]
    assert any(k["key_id"] == key_id and k["revoked"] for k in listed)
    assert all("key" not in k and "key_hash" not in k for k in listed)


def test_users_log_in_through_the_browser_form(secured: ServerProcess) -> None:
    url = secured.url
    r = httpx.post(f"{url}/api/auth/users", auth=ADMIN,
                   json={"username": "viewer", "password": "viewer-pass-1", "role": "read",
                         "project": "alpha"})  # fmt: skip
    assert r.status_code == 200, r.text
    with httpx.Client(base_url=url) as browser:
        page = browser.get("/login?next=/traces")
        assert page.status_code == 200
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf and browser.cookies.get("spyglass_csrf") == csrf.group(1)
        form = {"username": "viewer", "password": "viewer-pass-1", "next": "/traces"}
        assert browser.post("/login", data={**form, "csrf_token": "forged"}).status_code == 403
        bad = browser.post("/login", data={**form, "password": "nope", "csrf_token": csrf[1]})
        assert bad.status_code == 401 and "Wrong user name or password" in bad.text
        ok = browser.post("/login", data={**form, "csrf_token": csrf.group(1)})
        assert ok.status_code == 303 and ok.headers["location"] == "/traces"
        assert browser.get("/traces").status_code == 200
        assert browser.get("/api/auth/whoami").json()["name"] == "viewer"
        # Cookie sessions need the CSRF header on state changes, and the role still applies.
        assert browser.post("/api/auth/keys", json={}).status_code == 403
        assert browser.get("/api/traces?project=beta").status_code == 403
        evil = browser.post("/login", data={**form, "next": "//evil.example",
                                            "csrf_token": csrf.group(1)})  # fmt: skip
        assert evil.headers["location"] == "/"


def test_metrics_count_ingest(secured: ServerProcess) -> None:
    writer = make_key(secured, "write", None)
    assert send(secured, bearer(writer), TraceSpec(children=[{}, {}])).status_code == 200
    text = httpx.get(f"{secured.url}/metrics", headers=bearer(writer)).text
    accepted = int(re.search(r"^spyglass_spans_accepted_total (\d+)$", text, re.M)[1])  # type: ignore[index]
    assert accepted >= 3
    assert 'spyglass_otlp_requests_total{status="200"}' in text
    assert re.search(r'^spyglass_insert_seconds_bucket\{le="\+Inf"\} [1-9]', text, re.M)
    # Acknowledged at low load means stored: each span counted once, with no lag.
    lag_count = int(re.search(r"^spyglass_span_store_lag_seconds_count (\d+)$", text, re.M)[1])  # type: ignore[index]
    assert lag_count >= 3
    assert re.search(
        rf'^spyglass_span_store_lag_seconds_bucket{{le="0.1"}} {lag_count}$', text, re.M
    )


def test_otel_sdk_and_mlflow_client_authenticate_with_a_key(
    secured: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    key = make_key(secured, "write", None)
    provider = TracerProvider(resource=Resource.create({"spyglass.project": "sdk-auth"}))
    exporter = OTLPSpanExporter(endpoint=f"{secured.url}/v1/traces", headers=bearer(key))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("with-key"):
        pass
    provider.shutdown()
    traces = httpx.get(f"{secured.url}/api/traces?project=sdk-auth", auth=ADMIN).json()["traces"]
    assert [t["name"] for t in traces] == ["with-key"]

    import mlflow
    from mlflow.exceptions import MlflowException

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = mlflow.MlflowClient(tracking_uri=secured.url)
    with pytest.raises(MlflowException):
        client.search_experiments()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", key)
    experiment_id = client.create_experiment("auth-exp")
    run = client.create_run(experiment_id)
    client.log_metric(run.info.run_id, "loss", 0.5)
    assert client.get_metric_history(run.info.run_id, "loss")[0].value == 0.5


def test_a_project_key_uses_only_its_experiment_through_the_mlflow_api(
    secured: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = f"{secured.url}/api/2.0/mlflow"
    gamma = bearer(make_key(secured, "write", "gamma"))
    # Another project's experiment and run, made by the admin.
    delta_id = httpx.post(f"{api}/experiments/create", json={"name": "delta"}, auth=ADMIN)
    delta_id = delta_id.json()["experiment_id"]
    delta_run = httpx.post(f"{api}/runs/create", json={"experiment_id": delta_id}, auth=ADMIN)
    delta_run_id = delta_run.json()["run"]["info"]["run_id"]

    created = httpx.post(f"{api}/experiments/create", json={"name": "gamma"}, headers=gamma)
    assert created.status_code == 200, created.text
    gamma_id = created.json()["experiment_id"]
    run = httpx.post(f"{api}/runs/create", json={"experiment_id": gamma_id}, headers=gamma)
    assert run.status_code == 200
    run_id = run.json()["run"]["info"]["run_id"]
    metric = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 0}
    assert httpx.post(f"{api}/runs/log-metric", json=metric, headers=gamma).status_code == 200
    found = httpx.post(f"{api}/experiments/search", json={"max_results": 100}, headers=gamma)
    assert [e["name"] for e in found.json()["experiments"]] == ["gamma"]

    denied = [
        httpx.post(f"{api}/experiments/create", json={"name": "other"}, headers=gamma),
        httpx.get(f"{api}/experiments/get-by-name", params={"experiment_name": "delta"},
                  headers=gamma),
        httpx.get(f"{api}/experiments/get", params={"experiment_id": delta_id}, headers=gamma),
        httpx.post(f"{api}/runs/create", json={"experiment_id": delta_id}, headers=gamma),
        httpx.get(f"{api}/runs/get", params={"run_id": delta_run_id}, headers=gamma),
        httpx.post(f"{api}/runs/log-metric", json={**metric, "run_id": delta_run_id},
                   headers=gamma),
        httpx.post(f"{api}/runs/search", json={"experiment_ids": [gamma_id, delta_id]},
                   headers=gamma),
        httpx.get(f"{api}/metrics/get-history",
                  params={"run_id": delta_run_id, "metric_key": "m"}, headers=gamma),
        httpx.get(f"{secured.url}/api/2.0/mlflow-artifacts/artifacts",
                  params={"path": f"{delta_id}/{delta_run_id}"}, headers=gamma),
        httpx.get(f"{api}/registered-models/search", headers=gamma),
    ]  # fmt: skip
    assert [r.status_code for r in denied] == [403] * len(denied), [r.text for r in denied]
    assert all(r.json()["error_code"] == "PERMISSION_DENIED" for r in denied)

    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", gamma["authorization"].split()[1])
    client = mlflow.MlflowClient(tracking_uri=secured.url)
    assert [e.name for e in client.search_experiments()] == ["gamma"]
    own = client.create_run(gamma_id)
    client.log_metric(own.info.run_id, "loss", 0.25)
    assert client.get_metric_history(own.info.run_id, "loss")[0].value == 0.25


def test_spyglass_tracer_and_client_send_an_api_key(
    secured: ServerProcess, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spyglass
    from spyglass.client import TrackingClient
    from spyglass.client._http import TrackingError

    key = make_key(secured, "write", None)
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    monkeypatch.delenv("SPYGLASS_API_KEY", raising=False)
    with pytest.raises(TrackingError):
        TrackingClient(secured.url).get_or_create_experiment("client-auth")
    client = TrackingClient(secured.url, api_key=key)
    assert client.get_or_create_experiment("client-auth")
    monkeypatch.setenv("SPYGLASS_API_KEY", key)
    assert TrackingClient(secured.url).get_or_create_experiment("client-auth")

    spyglass.configure(tracking_uri=secured.url, project="tracer-auth", spool_dir=tmp_path)
    try:
        with spyglass.start_span("with-api-key"):
            pass
        assert spyglass.flush(10)
    finally:
        spyglass.shutdown()
    traces = httpx.get(f"{secured.url}/api/traces?project=tracer-auth", auth=ADMIN).json()
    assert [t["name"] for t in traces["traces"]] == ["with-api-key"]


def test_password_guessing_is_throttled(secured: ServerProcess) -> None:
    from spyglass.auth.throttle import LoginThrottle, Throttled

    throttle = LoginThrottle(max_failures=2, window_s=0.2)
    throttle.record("u", "1.2.3.4", ok=False)
    throttle.record("u", "1.2.3.4", ok=False)
    with pytest.raises(Throttled):
        throttle.check("u", "1.2.3.4")
    throttle.check("u", "5.6.7.8")  # another address is not locked out
    import time

    time.sleep(0.25)
    throttle.check("u", "1.2.3.4")  # the window has passed

    user = {"username": "guessme", "password": "right-password", "role": "read"}
    r = httpx.post(f"{secured.url}/api/auth/users", auth=ADMIN, json=user)
    assert r.status_code == 200
    statuses = [
        httpx.get(f"{secured.url}/api/traces", auth=("guessme", f"wrong-{i}")).status_code
        for i in range(10)
    ]
    assert statuses == [401] * 10
    locked = httpx.get(f"{secured.url}/api/traces", auth=("guessme", "right-password"))
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert httpx.get(f"{secured.url}/api/traces", auth=ADMIN).status_code == 200
