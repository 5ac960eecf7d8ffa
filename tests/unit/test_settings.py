"""Settings refuse what is unsafe to serve with as soon as they are read, and dev needs nothing set."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from config.settings import Settings
from worker.codec import PayloadKeys

SAFE = {
    "database_url": "postgresql://db.example/referrals",
    "secret_key": "k" * 40,
    "payload_keys": PayloadKeys.generate("k1"),
}


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the machine running the tests has set must not decide them."""
    for name in ("DATABASE_URL", "SECRET_KEY", "ENVIRONMENT", "SECURE_COOKIES", "PAYLOAD_KEYS"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"REFERRALS_{name}", raising=False)


def refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as e:
        Settings(**values)
    return str(e.value)


def test_production_settings_that_are_safe_are_accepted() -> None:
    s = Settings(**SAFE)
    assert (s.environment, s.secret_key, s.secure_cookies) == ("production", "k" * 40, True)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"secret_key": ""}, "SECRET_KEY is not set"),
        ({"secret_key": "changethis"}, "SECRET_KEY is a well-known placeholder"),
        ({"secret_key": "test-secret"}, "SECRET_KEY is a well-known placeholder"),
        ({"secret_key": "short-but-not-a-placeholder"}, "SECRET_KEY is shorter than 32 characters"),
        ({"secure_cookies": False}, "REFERRALS_SECURE_COOKIES is off"),
        ({"database_url": ""}, "DATABASE_URL is not set"),
        ({"payload_keys": ""}, "REFERRALS_PAYLOAD_KEYS is not set"),
        ({"payload_keys": "k1"}, "each payload key is written kid:base64key"),
        ({"payload_keys": "k1:c2hvcnQ="}, "payload key 'k1' is not 32 bytes"),
        ({"payload_keys": "k1:not base64!"}, "payload key 'k1' is not base64"),
        ({"payload_keys": f"{SAFE['payload_keys']},{SAFE['payload_keys']}"}, "payload key id 'k1' is given twice"),
    ],
)
def test_unsafe_values_are_refused_with_the_reason(values: dict, reason: str) -> None:
    assert reason in refusal(**{**SAFE, **values})


def test_every_problem_is_named_at_once() -> None:
    message = refusal(secure_cookies=False)
    assert "DATABASE_URL is not set" in message
    assert "SECRET_KEY is not set" in message
    assert "REFERRALS_SECURE_COOKIES is off" in message


def test_the_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", SAFE["database_url"])
    monkeypatch.setenv("SECRET_KEY", "changeme")
    assert "SECRET_KEY is a well-known placeholder" in refusal()
    monkeypatch.setenv("REFERRALS_ENVIRONMENT", "dev")
    assert Settings().secret_key == "changeme"


def test_out_of_range_numbers_are_refused() -> None:
    assert "session_max_age" in refusal(**SAFE, session_max_age=0)
    assert "login_max_failures" in refusal(**SAFE, login_max_failures=0)


def test_dev_defaults_are_accepted_and_keep_one_secret_key(tmp_path: Path) -> None:
    s = Settings(environment="dev", var_dir=tmp_path, secure_cookies=False)
    assert s.database_url == ""  # the embedded PostgreSQL
    assert len(s.secret_key) >= 32
    kept = tmp_path / "secret_key"
    assert kept.read_text() == s.secret_key and kept.stat().st_mode & 0o777 == 0o600
    # A restart signs sessions with the same key, so that nobody is logged out.
    assert Settings(environment="dev", var_dir=tmp_path).secret_key == s.secret_key


def test_dev_keeps_one_payload_key_and_a_malformed_one_is_refused_there_too(tmp_path: Path) -> None:
    """A restart must decrypt the histories it wrote: the key generated once is read again."""
    s = Settings(environment="dev", var_dir=tmp_path)
    kept = tmp_path / "payload_keys"
    assert kept.read_text() == s.payload_keys and kept.stat().st_mode & 0o777 == 0o600
    assert s.keys().active == "dev1" and len(s.keys().key("dev1")) == 32
    assert Settings(environment="dev", var_dir=tmp_path).payload_keys == s.payload_keys
    assert "is not 32 bytes" in refusal(environment="dev", var_dir=tmp_path, payload_keys="k:AAAA")


def test_a_secret_key_given_in_dev_is_used_as_it_is(tmp_path: Path) -> None:
    s = Settings(environment="dev", var_dir=tmp_path, secret_key="test-secret", secure_cookies=False)
    assert s.secret_key == "test-secret"
    assert not (tmp_path / "secret_key").exists()


def test_the_dev_temporal_ui_listens_on_this_machine_only_unless_configured(tmp_path: Path) -> None:
    """The Temporal UI has no login: `referrals dev` binds it to 127.0.0.1 unless told otherwise."""
    from cli.temporal_dev import server_args

    def bound(args: list[str], flag: str) -> str:
        return args[args.index(flag) + 1]

    default = server_args(Settings(environment="dev", var_dir=tmp_path), "temporal")
    assert bound(default, "--ip") == "127.0.0.1" and bound(default, "--ui-ip") == "127.0.0.1"
    chosen = server_args(Settings(environment="dev", var_dir=tmp_path, temporal_ui_host="10.0.0.5"), "temporal")
    assert bound(chosen, "--ui-ip") == "10.0.0.5" and bound(chosen, "--ip") == "127.0.0.1"
    # The UI decodes payloads through the web app (for a logged-in administrator only).
    assert bound(default, "--ui-codec-endpoint") == "http://127.0.0.1:8000/codec"
