"""All settings, from the environment (prefix REFERRALS_, plus the usual DATABASE_URL and TEMPORAL_*).

Settings that are unsafe to serve with are refused when the settings are read, not when the first page is
served: outside dev (REFERRALS_ENVIRONMENT=dev, what `referrals dev` and the tests run) the database must be
named, the secret key and the payload keys must be set, the secret key long and not a well-known default,
and cookies must be secure."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.packets import parse_signing_key, parse_trusted_keys
from domain.regions import CITY_CODE, ServedRegions, served_by
from worker.codec import PayloadKeys

MIN_SECRET_LENGTH = 32
# Placeholders that turn up in examples and templates: a key anyone can read signs anyone's session.
KNOWN_DEFAULT_SECRETS = frozenset(
    {"changethis", "changeme", "change-me", "secret", "secret-key", "secretkey", "test-secret", "dev", "development"}
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFERRALS_", extra="ignore")

    # dev: plain http, an embedded PostgreSQL when DATABASE_URL is empty, a secret key kept under var_dir.
    environment: Literal["dev", "production"] = "production"
    # Empty (dev only): the embedded PostgreSQL under var_dir.
    database_url: str = Field("", validation_alias=AliasChoices("DATABASE_URL", "REFERRALS_DATABASE_URL"))
    temporal_address: str = Field(
        "localhost:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS", "REFERRALS_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        "default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "REFERRALS_TEMPORAL_NAMESPACE")
    )
    task_queue: str = "referrals"
    # Signs page sessions; every web process of a deployment needs the same one. Empty (dev only): one
    # generated once and kept in var_dir/secret_key, so that sessions survive a restart.
    secret_key: str = Field("", validation_alias=AliasChoices("SECRET_KEY", "REFERRALS_SECRET_KEY"))
    # Encrypt what workflows carry on the Temporal server (worker/codec.py): `kid:base64key,...`, the first
    # encrypting, all decrypting; every worker and web process of a deployment needs the same ones. Empty
    # (dev only): one generated once and kept in var_dir/payload_keys.
    payload_keys: str = ""
    # Where the Temporal UI is served, allowed to call the codec endpoint (/codec) from the browser. Empty:
    # the dev server's UI (temporal_ui_host:temporal_ui_port).
    temporal_ui_origin: str = ""
    # Production serves pages over HTTPS only; `referrals dev` on plain http turns this off.
    secure_cookies: bool = True
    session_max_age: int = Field(8 * 3600, gt=0)
    var_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    temporal_port: int = Field(7233, gt=0, lt=65536)
    temporal_ui_port: int = Field(8233, gt=0, lt=65536)
    # The dev server's Temporal UI has no login and shows every workflow's history: reachable from this
    # machine only, unless an address is set on purpose (e.g. 0.0.0.0 behind a firewall).
    temporal_ui_host: str = "127.0.0.1"
    # The Temporal UI that admins' case links open (empty: the dev server's, temporal_ui_host:temporal_ui_port).
    temporal_ui_url: str = ""
    # /metrics answers this machine, or a scraper sending `Authorization: Bearer <metrics_token>`.
    metrics_token: str = ""
    # `referrals worker` serves its own /metrics (activity failures) on this port; 0: none.
    worker_metrics_port: int = Field(0, ge=0, lt=65536)
    # json: one JSON object a line (for a log collector); text: for a developer's terminal.
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How long a request waits for the workflow to answer (start, act) before telling the user to retry.
    update_timeout_seconds: float = Field(20.0, gt=0)
    # Password guessing: this many wrong passwords in a row lock the account for this many minutes.
    login_max_failures: int = Field(5, ge=1)
    login_lockout_minutes: int = Field(15, ge=1)
    # Transfer packets between deployments (domain/packets.py): this deployment's name in them, its Ed25519
    # signing key (base64 of the 32-byte private key; empty: packets cannot be exported), and the
    # deployments whose packets it imports (`name=base64 public key,...`).
    deployment_id: str = Field("changzhi", min_length=1, max_length=64)
    packet_signing_key: str = ""
    packet_trusted_keys: str = ""
    # The largest attachment (a scanned consent form) a case takes, in bytes; a larger upload is refused (413)
    # before it is read to its end. Attachments are encrypted at rest with a key derived from the payload keys.
    attachment_max_bytes: int = Field(10 * 1024 * 1024, gt=0, le=64 * 1024 * 1024)
    # How many attachments one web process holds in memory at once (each whole, while sealed or opened), and
    # how long one more waits for its turn before it is answered 503 (api/attachments/gate.py).
    attachment_slots: int = Field(4, ge=1, le=64)
    attachment_wait_seconds: float = Field(10.0, gt=0, le=300)
    # The prefecture-level city this deployment serves (GB/T 2260 code); its current counties come from the
    # region table. A place outside it is external: another deployment (packets) or paper. 长治市 by default;
    # a deployment for 郑州市 sets 410100.
    served_city: str = CITY_CODE

    @model_validator(mode="after")
    def _safe_to_serve(self) -> Self:
        if self.payload_keys:
            PayloadKeys.parse(self.payload_keys)  # a malformed key is refused in dev too
        if self.packet_signing_key:
            parse_signing_key(self.packet_signing_key)
        parse_trusted_keys(self.packet_trusted_keys)
        served_by(self.served_city)  # an unknown or county-level code is refused at start, not on first use
        if self.environment == "dev":
            if not self.secret_key:
                self.secret_key = dev_secret_key(self.var_dir)
            if not self.payload_keys:
                self.payload_keys = dev_payload_keys(self.var_dir)
            return self
        problems = unsafe(self)
        if problems:
            raise ValueError(
                "unsafe settings outside dev (REFERRALS_ENVIRONMENT=dev is for a developer's machine only): "
                + "; ".join(problems)
            )
        return self

    def served(self) -> ServedRegions:
        """The regions this deployment serves (the one decision "inside or outside this deployment")."""
        return served_by(self.served_city)

    def keys(self) -> PayloadKeys:
        return PayloadKeys.parse(self.payload_keys)

    def ui_origin(self) -> str:
        return self.temporal_ui_origin or f"http://{self.temporal_ui_host}:{self.temporal_ui_port}"

    @property
    def temporal_ui(self) -> str:
        return (self.temporal_ui_url or f"http://{self.temporal_ui_host}:{self.temporal_ui_port}").rstrip("/")


def unsafe(s: Settings) -> list[str]:
    """What would make serving with these settings unsafe, one sentence each."""
    problems = []
    if not s.database_url:
        problems.append("DATABASE_URL is not set (only dev runs an embedded PostgreSQL)")
    if not s.secret_key:
        problems.append("SECRET_KEY is not set")
    elif s.secret_key.strip().lower() in KNOWN_DEFAULT_SECRETS:
        problems.append("SECRET_KEY is a well-known placeholder")
    elif len(s.secret_key) < MIN_SECRET_LENGTH:
        problems.append(f"SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters")
    if not s.payload_keys:
        problems.append("REFERRALS_PAYLOAD_KEYS is not set (workflow payloads would be kept in clear)")
    if not s.secure_cookies:
        problems.append("REFERRALS_SECURE_COOKIES is off, but pages must be served over HTTPS with secure cookies")
    return problems


def dev_secret_key(var_dir: Path) -> str:
    """The key kept in var_dir/secret_key (made on first use, readable by its owner only)."""
    path = var_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def dev_payload_keys(var_dir: Path) -> str:
    """The payload key kept in var_dir/payload_keys (made on first use, readable by its owner only): a
    restart must read the histories it wrote."""
    path = var_dir / "payload_keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PayloadKeys.generate("dev1"))
        path.chmod(0o600)
    return path.read_text().strip()
