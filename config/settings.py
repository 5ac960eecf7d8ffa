"""All settings, from the environment (prefix REFERRALS_, plus the usual DATABASE_URL and TEMPORAL_*)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", extra="ignore")

    # Empty: `referrals dev` runs the embedded PostgreSQL under var_dir and fills this in.
    database_url: str = Field("", validation_alias=AliasChoices("DATABASE_URL", "REFERRALS_DATABASE_URL"))
    temporal_address: str = Field(
        "localhost:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS", "REFERRALS_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        "default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "REFERRALS_TEMPORAL_NAMESPACE")
    )
    task_queue: str = "referrals"
    secret_key: str = Field("", validation_alias=AliasChoices("SECRET_KEY", "REFERRALS_SECRET_KEY"))
    # Production serves pages over HTTPS only; `referrals dev` on plain http turns this off.
    secure_cookies: bool = True
    session_max_age: int = 8 * 3600
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8000
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    log_level: str = "INFO"
    # How long a request waits for the workflow to answer (start, act) before telling the user to retry.
    update_timeout_seconds: float = 20.0
    # Password guessing: this many wrong passwords in a row lock the account for this many minutes.
    login_max_failures: int = 5
    login_lockout_minutes: int = 15


@lru_cache
def get_settings() -> Settings:
    return Settings()
