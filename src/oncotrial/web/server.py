"""Running the application under uvicorn: one process, or ``--workers N`` processes that each
build the application from the environment (every process serves the same study database)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from fastapi import FastAPI

from oncotrial.conduct.study import SecurityPolicy, Study
from oncotrial.web.app import create_app

ENV_DB = "ONCOTRIAL_DB"
ENV_PROTOCOL = "ONCOTRIAL_PROTOCOL"
ENV_DB_ROLE = "ONCOTRIAL_DB_ROLE"
ENV_SECURE = "ONCOTRIAL_COOKIE_SECURE"
ENV_IDLE = "ONCOTRIAL_IDLE_MINUTES"


@dataclass(frozen=True)
class ServerConfig:
    """What a server process needs to open the study."""

    db: str
    protocol: str
    db_role: str | None = None
    cookie_secure: bool = False
    idle_minutes: float | None = None

    def environment(self) -> dict[str, str]:
        env = {
            ENV_DB: self.db,
            ENV_PROTOCOL: self.protocol,
            ENV_SECURE: str(int(self.cookie_secure)),
        }
        if self.db_role:
            env[ENV_DB_ROLE] = self.db_role
        if self.idle_minutes is not None:
            env[ENV_IDLE] = str(self.idle_minutes)
        return env

    @classmethod
    def from_environment(cls) -> ServerConfig:
        idle = os.environ.get(ENV_IDLE)
        return cls(
            db=os.environ[ENV_DB],
            protocol=os.environ[ENV_PROTOCOL],
            db_role=os.environ.get(ENV_DB_ROLE) or None,
            cookie_secure=os.environ.get(ENV_SECURE) == "1",
            idle_minutes=float(idle) if idle else None,
        )


def build_app(config: ServerConfig) -> FastAPI:
    """The application of ``config`` (the database is migrated when needed)."""
    from datetime import timedelta

    policy = SecurityPolicy()
    if config.idle_minutes is not None:
        policy = SecurityPolicy(idle=timedelta(minutes=config.idle_minutes))
    study = Study.open(config.db, config.protocol, db_role=config.db_role, policy=policy)
    return create_app(study, secure_cookies=config.cookie_secure)


def app_from_environment() -> FastAPI:
    """uvicorn's application factory for worker processes (``ONCOTRIAL_*`` variables)."""
    return build_app(ServerConfig.from_environment())
