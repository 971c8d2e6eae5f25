"""/openapi.json is a valid OpenAPI document that a generated client can use: the bearer scheme is
declared and required where it is, and the intake endpoints' bodies are described as the real ones are
(GitHub's own sample, gitleaks' output and our format validate against what the document says)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate

from keysentry.config.settings import Settings
from keysentry.service.app import PARTNER_PATH, create_app

PARTNER = json.loads((Path(__file__).parent / "data" / "github_secret_scanning_partner.json").read_text())


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")), background=False)
    with TestClient(app) as client:
        answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _schema(spec: dict[str, Any], path: str, content: str = "application/json") -> dict[str, Any]:
    """The request body's schema, with the document's components so that $refs resolve."""
    body = spec["paths"][path]["post"]["requestBody"]["content"][content]["schema"]
    return {**body, "components": spec["components"]}


def test_the_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)  # openapi-spec-validator: raises on any error


def test_the_bearer_scheme_is_declared_and_every_token_route_requires_it(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/") and path != PARTNER_PATH:
                assert operation.get("security") == [{name: []}], f"{method.upper()} {path}"
                assert "401" in operation["responses"], f"{method.upper()} {path}"
    partner = spec["paths"][PARTNER_PATH]["post"]
    assert "security" not in partner  # GitHub signs the body instead
    headers = {p["name"] for p in partner["parameters"] if p["in"] == "header"}
    assert headers == {"Github-Public-Key-Identifier", "Github-Public-Key-Signature"}


def test_githubs_own_sample_matches_the_partner_body_and_answer(spec: dict[str, Any]) -> None:
    schema = _schema(spec, PARTNER_PATH)
    jsonschema.validate(PARTNER["example_request_body"], schema)
    jsonschema.validate(json.loads(PARTNER["sample_http_post"]["raw_body"]), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"token": "x"}, schema)  # GitHub sends an array
    answer = spec["paths"][PARTNER_PATH]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    label = {"token_hash": "ab" * 32, "token_type": "mycompany_api_token", "label": "true_positive"}
    jsonschema.validate([label], {**answer, "components": spec["components"]})


def test_the_report_body_describes_each_format_we_read(spec: dict[str, Any]) -> None:
    schema = _schema(spec, "/v1/reports")
    ours = {"key_id": "AKIAQYLPMN5HHHFPZAM2", "secret": "x" * 40, "url": "https://paste.example/a", "line": 3}
    gitleaks = [
        {
            "RuleID": "aws-access-token", "Match": "aws_access_key_id = AKIAQYLPMN5HHHFPZAM2",
            "Secret": "AKIAQYLPMN5HHHFPZAM2", "File": "deploy/settings.py", "StartLine": 12,
            "Commit": "0" * 40, "Author": "Dev Two", "Email": "two@example.com",
            "Date": "2026-11-21T09:00:00Z",
            "Fingerprint": "0000:deploy/settings.py:aws-access-token:12",
        }
    ]  # fmt: skip
    for body in (ours, [ours], gitleaks):
        jsonschema.validate(body, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"File": "x"}], schema | {"anyOf": schema["anyOf"][2:3]})  # no RuleID
    assert "application/x-ndjson" in spec["paths"]["/v1/reports"]["post"]["requestBody"]["content"]
    answer = spec["paths"]["/v1/reports"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    accepted = {"accepted": 1, "credentials": [], "without_a_usable_credential": 1}
    jsonschema.validate(accepted, {**answer, "components": spec["components"]})
    secret = spec["components"]["schemas"]["KeysentryReport"]["properties"]["secret"]
    assert secret.get("writeOnly") is True and secret.get("format") == "password"


def test_the_api_docs_work_offline_from_the_package_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """/docs is Swagger UI from files shipped with the package: nothing from a CDN, no inline script,
    and the page's policy allows this origin only."""
    import re

    from fastapi.testclient import TestClient

    from keysentry.config.settings import Settings
    from keysentry.service.app import create_app

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'k.db'}")
    with TestClient(create_app(settings, background=False)) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert "cdn." not in page.text and "http" not in page.text.replace('lang="en"', "")
        assert not re.search(r"<script>(?!</script>)", page.text)  # every script has a src
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "cdn" not in policy and "http" not in policy
        for src in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
            asset = client.get(src)
            assert asset.status_code == 200 and len(asset.content) > 50, src
        assert "SwaggerUIBundle" in client.get("/docs-assets/swagger-ui-bundle.js").text
        assert client.get("/redoc").status_code == 404
