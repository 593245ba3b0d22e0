"""Settings read from the environment (prefix ``ONEX_``) and an optional ``.env`` file."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.db import is_sqlite

DEV_SECRET_KEY = "dev-secret-change-me-never-use-this-one-in-production"
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "dev-secret-change-me", DEV_SECRET_KEY}
)
MIN_PRODUCTION_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Everything an operator may configure; see the table in README.md."""

    model_config = SettingsConfigDict(env_prefix="ONEX_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./data/onex.db"
    secret_key: str = DEV_SECRET_KEY
    access_token_minutes: int = Field(default=480, ge=1, le=60 * 24 * 30)
    cors_origins: list[str] = Field(default_factory=list)
    timezone: str = "Asia/Shanghai"
    school_name: str = "本校"
    """The school's name, as the cover of the year's report shows it."""
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    """The language of messages, labels and exports when a request sends no Accept-Language."""
    bootstrap_admin_username: str | None = None
    bootstrap_admin_password: str | None = None
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    log_level: str = "INFO"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=20, ge=0, le=500)
    # Requests served at once per process (503 problem+json beyond); unset = pool + overflow.
    max_concurrent_requests: int | None = Field(default=None, ge=1)
    read_threads: int | None = Field(default=None, ge=1, le=40)
    """Threads per process that run the short reads: list pages and reads of one (``Routes``;
    exports, counts of every row and deep ``offset`` pages take the general pool of 40).
    Unset: 1 with SQLite, 4 with PostgreSQL (docs/performance.md, "Request threads")."""
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    """The largest request body other than an upload; larger ones get 413 before any work."""
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or
    # networks, "*" for any): the per-client limits then see the real client, not the proxy.
    # Empty (the default): no one's, so no client can pick the address it is counted under.
    forwarded_allow_ips: str = ""

    @property
    def trusts_proxies(self) -> bool:
        """Whether any proxy's forwarded headers are believed (``forwarded_allow_ips`` set)."""
        return bool(self.forwarded_allow_ips.strip())

    audit_seal_seconds: int = Field(default=60, ge=0, le=24 * 3600)
    """How often each worker seals the audit chain (docs/security.md); 0 = never (run
    ``python -m app audit seal`` from a timer instead)."""

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> "Settings":
        if self.env == "production":
            if self.secret_key.strip().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "ONEX_SECRET_KEY is missing or a placeholder; in production set it to a "
                    f"random string of at least {MIN_PRODUCTION_SECRET_LENGTH} characters "
                    "(for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if len(self.secret_key) < MIN_PRODUCTION_SECRET_LENGTH:
                raise ValueError(
                    f"ONEX_SECRET_KEY is too short for production: use at least "
                    f"{MIN_PRODUCTION_SECRET_LENGTH} random characters"
                )
        return self

    @property
    def read_thread_limit(self) -> int:
        """Threads that run short reads: the setting, else 1 with SQLite, 4 with PostgreSQL."""
        if self.read_threads is not None:
            return self.read_threads
        return 1 if is_sqlite(self.database_url) else 4

    @property
    def request_limit(self) -> int:
        """Requests served at once per process: the setting, else pool size + overflow."""
        return self.max_concurrent_requests or self.db_pool_size + self.db_max_overflow


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
