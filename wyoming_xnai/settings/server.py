"""The sections every service shares: logs and traces, where files live, the metrics endpoint, the server's
limits. Also what the local commands (`xnai ingest`, `xnai ask`) and the satellite build on."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from wyoming_xnai.settings.fields import AtLeastOne, Seconds, SecondsOrZero, timeout
from wyoming_xnai.settings.section import MiB, Section


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "xnai"


class LogSettings(Section):
    """What goes to the log and where traces go."""

    debug: bool = Field(False, description="Log DEBUG messages")
    log_format: Literal["text", "json"] = Field("text", description="Log line format")
    log_text: bool = Field(
        False, description="Log what users said and were told (questions, transcripts, answers); --debug does too"
    )
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP traces endpoint; traces stay in-process unless this is set"
    )


class PathSettings(Section):
    """Where the indexes and the assembled models live."""

    data_dir: Path = Field(default_factory=default_data_dir, description="Where indexes and assembled models live")
    models_dir: Path | None = Field(
        None, description="Where assembled bundled models live (default: DATA_DIR/models; containers bake them in)"
    )

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @model_validator(mode="after")
    def _default_models_dir(self) -> PathSettings:
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        return self


class MetricsSettings(Section):
    """The Prometheus /metrics and /healthz endpoint (off unless a port is given)."""

    metrics_host: str = Field(
        "127.0.0.1", description="Bind address of the /metrics and /healthz endpoint (0.0.0.0 opens it to the LAN)"
    )
    metrics_port: int | None = Field(None, description="Port of the /metrics and /healthz endpoint (off if unset)")
    metrics_max_connections: AtLeastOne = Field(
        8, description="Open connections the metrics endpoint accepts; more are closed at once"
    )
    metrics_timeout: Seconds = Field(5.0, description="Seconds one metrics request may take, reading to writing")


class ServerSettings(MetricsSettings, PathSettings, LogSettings):
    """What every Wyoming server of ours reads: how it is found (zeroconf), what one client may take, how it stops."""

    zeroconf: str | None = Field(
        None, description="Advertise over zeroconf (_wyoming._tcp.local.), optionally with this instance name"
    )
    zeroconf_host: str | None = Field(
        None, description="Address to advertise over zeroconf (default: the LAN address of this host)"
    )
    max_payload_bytes: int = Field(
        4 * MiB, description="Largest data block or payload one event may carry; bigger frames are refused"
    )
    max_connections: AtLeastOne = Field(
        64, description="Open connections one service accepts; more get a busy error (bounds memory)"
    )
    max_connections_per_peer: AtLeastOne = Field(
        16, description="Open connections one client address may hold on one service; more get a busy error"
    )
    idle_timeout: Seconds = timeout(60.0, "a connection", "to send its next request event before it is closed")
    max_connection_seconds: Seconds = Field(
        300.0, description="Longest life of one ASR, TTS or handle connection (each carries one request)"
    )
    write_timeout: Seconds = Field(
        30.0, description="Seconds a client may leave what the server sends unread before it is dropped"
    )
    shutdown_grace: SecondsOrZero = Field(
        5.0, description="On SIGTERM, seconds in-flight requests get to finish before they end with an error"
    )
