"""Settings come from ISX_* variables (and DATABASE_URL), with a guard on the production secret."""

import pytest
import yaml
from pydantic import ValidationError

from backend.config import PROJECT_ROOT, Settings

pytestmark = pytest.mark.nodb


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ISX_DATABASE_URL", "DATABASE_URL", "ISX_PORT", "ISX_HOST", "ISX_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("var/isx.db")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@db/isx")
    monkeypatch.setenv("ISX_PORT", "9000")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql+psycopg://u@db/isx" and settings.port == 9000


def test_production_needs_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ISX_ENV", "production")
    monkeypatch.delenv("ISX_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="ISX_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("ISX_SECRET_KEY", "a-long-private-production-secret")
    assert Settings(_env_file=None).env == "production"  # type: ignore[call-arg]


def test_env_file_is_read(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("ISX_PORT", raising=False)
    env = tmp_path / ".env"
    env.write_text("ISX_PORT=8123\n")
    assert Settings(_env_file=env).port == 8123  # type: ignore[call-arg]


def test_env_example_documents_every_setting() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"ISX_{name.upper()}" in text, f".env.example does not document ISX_{name.upper()}"


def test_compose_file_names_both_services() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "app"} <= set(services)
    assert services["db"]["image"].startswith("postgres:15")
    assert "healthcheck" in services["db"]
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "build" in services["app"]
    assert (PROJECT_ROOT / "Dockerfile").is_file()
