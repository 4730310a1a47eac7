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
    monkeypatch.setenv("ISX_SECRET_KEY", "Zq3v-W8kP1x_L0rN7tB2mD5yH9cF6jS4aG")
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


# --- issue 11: secret keys in production, a local key in development --------------------------------------
@pytest.mark.parametrize("weak", [
    "change-me-to-a-long-random-value",  # the .env.example placeholder
    "isx-development-secret-key-do-not-use-in-production",  # the key ISX once published
    "a" * 16,  # too short
    "a" * 48,  # long, but one character
    "0123456789abcdef" * 3,  # a repeated pattern
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",  # a run of consecutive characters
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaabcdefghijk",  # ten different characters, little entropy
])
def test_production_refuses_weak_secret_keys(monkeypatch: pytest.MonkeyPatch, weak: str) -> None:
    monkeypatch.setenv("ISX_ENV", "production")
    monkeypatch.setenv("ISX_SECRET_KEY", weak)
    with pytest.raises(ValidationError, match="ISX_SECRET_KEY is too weak for production"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_accepts_generated_secret_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    monkeypatch.setenv("ISX_ENV", "production")
    for _ in range(50):
        for key in (secrets.token_urlsafe(48), secrets.token_hex(16), secrets.token_urlsafe(32)):
            monkeypatch.setenv("ISX_SECRET_KEY", key)
            assert Settings(_env_file=None).secret_key == key  # type: ignore[call-arg]


def test_development_generates_a_local_secret_once(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import stat

    from backend import config

    monkeypatch.setattr(config, "LOCAL_SECRET_FILE", tmp_path / "var" / "secret_key")
    monkeypatch.setenv("ISX_ENV", "development")
    monkeypatch.delenv("ISX_SECRET_KEY", raising=False)
    first = Settings(_env_file=None).secret_key  # type: ignore[call-arg]
    stored = tmp_path / "var" / "secret_key"
    assert stored.read_text().strip() == first and config.weak_secret_reason(first) is None
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert Settings(_env_file=None).secret_key == first  # type: ignore[call-arg]  # reused, not regenerated
    assert "var/" in (PROJECT_ROOT / ".gitignore").read_text().split()


def test_isx_serve_refuses_a_weak_production_key_with_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from backend.cli import app
    from backend.config import get_settings

    def served(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("isx serve started with a weak production key")

    monkeypatch.setattr(uvicorn, "run", served)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve"], env={"ISX_ENV": "production", "ISX_SECRET_KEY": "a" * 16})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "ISX_SECRET_KEY is too weak for production" in result.output and "32 bytes" in result.output
