"""`emotrace keys create|list|revoke` through the real command, and what the API makes of keys."""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
from sqlalchemy import select, text

from emotrace.db import session_scope
from emotrace.devstack import run_cli
from emotrace.models import ApiKey
from emotrace.settings import Settings

KEY_LINE = re.compile(r"^et_[A-Za-z0-9_-]{40,}$")


def test_create_list_revoke(service_env: dict[str, str], settings: Settings, api_url: str) -> None:
    name = f"platform-{uuid.uuid4().hex[:8]}"
    created = run_cli("keys", "create", name, env=service_env)
    assert created.returncode == 0, created.stderr
    lines = created.stdout.strip().splitlines()
    key = lines[-1]
    assert KEY_LINE.match(key), created.stdout
    assert lines == [key], "the key is alone on stdout; the rest goes to stderr"

    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{api_url}/v1/jobs", headers=headers).status_code == 200

    with session_scope(settings) as session:
        stored = session.scalars(
            select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(key.encode()).hexdigest())
        ).one()
        dump = session.execute(text("SELECT * FROM api_key")).all()
    assert key not in repr(dump), "the key itself is never stored"

    listed = run_cli("keys", "list", env=service_env)
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if str(stored.id) in line)
    assert name in row and "active" in row and key not in listed.stdout

    revoked = run_cli("keys", "revoke", str(stored.id), env=service_env)
    assert revoked.returncode == 0, revoked.stderr
    response = httpx.get(f"{api_url}/v1/jobs", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"
    assert "active" not in next(
        line for line in run_cli("keys", "list", env=service_env).stdout.splitlines() if str(stored.id) in line
    )


def test_a_second_key_for_the_same_client_sees_the_same_jobs(service_env: dict[str, str], api_url: str) -> None:
    name = f"platform-{uuid.uuid4().hex[:8]}"
    first = run_cli("keys", "create", name, env=service_env).stdout.strip().splitlines()[-1]
    second = run_cli("keys", "create", name, env=service_env).stdout.strip().splitlines()[-1]
    assert first != second
    for key in (first, second):
        assert httpx.get(f"{api_url}/v1/jobs", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_revoking_an_unknown_key_is_bad_input(service_env: dict[str, str]) -> None:
    result = run_cli("keys", "revoke", str(uuid.uuid4()), env=service_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: key_not_found:")
