"""Readings over MQTT: a subscriber that acknowledges a message only once its readings are stored.

Topic ``<prefix>/<meter_id>``, payload one reading ``{"start_utc": ..., "kwh": ...}`` or a list of
them, QoS 1. The subscriber keeps a persistent session (MQTT 5, a fixed client id, a session
expiry) with manual acknowledgement: messages are batched (up to ``batch_messages`` or
``batch_wait_s`` after the first), ingested through :func:`suandian.api.ingest.ingest` — the
same path as HTTP — and only then acknowledged. A message that arrived before a crash but was not
yet stored is unacknowledged, so the broker delivers it again when the session resumes; ingestion
is idempotent, so a message delivered twice is stored once.

A payload that can never be stored (not JSON, not readings, rows the checks refuse) is logged,
counted as rejected and acknowledged: redelivering it would not help.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
import pandas as pd
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from suandian.api.context import Platform
from suandian.api.ingest import frame_from_rows, ingest
from suandian.core.errors import InputError

__all__ = ["MqttSubscriber", "broker_address", "session_client_id"]

log = logging.getLogger("suandian.api.mqtt")

_SCHEMES: Final = {"mqtt": 1883, "tcp": 1883, "mqtts": 8883, "ssl": 8883}
_RETRY_S: Final = 1.0
"""Pause before storing a batch again after the store failed."""


def broker_address(url: str) -> tuple[str, int, str | None, str | None, bool]:
    """Host, port, user, password and TLS of a broker URL ``mqtt[s]://[user:pass@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise InputError(
            f"MQTT URL {parts.scheme}://{parts.hostname or ''}… is not a broker address; write "
            "mqtt://host:1883 (or mqtts://host:8883 for TLS), e.g. mqtt://127.0.0.1:1883"
        )
    try:
        port = parts.port or _SCHEMES[parts.scheme]
    except ValueError:
        raise InputError("the MQTT URL's port is not a number; write mqtt://host:1883") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, password, parts.scheme in ("mqtts", "ssl")


def session_client_id(topic_prefix: str, data_dir: Path) -> str:
    """The client id of the service on ``data_dir`` taking ``topic_prefix``: the same after a
    restart, so the broker resumes its session."""
    identity = f"{topic_prefix.rstrip('/')}\n{data_dir.resolve()}".encode()
    return "suandian-ingest-" + hashlib.sha256(identity).hexdigest()[:16]


@dataclass(frozen=True)
class _Message:
    session: int
    """Which connection delivered it: a message id means nothing on another connection."""
    mid: int
    qos: int
    topic: str
    payload: bytes


class MqttSubscriber:
    """Take readings from ``<topic_prefix>/<meter_id>`` on the broker at ``url`` into ``platform``.

    Parameters
    ----------
    client_id
        The persistent session's id; default: derived from the topic prefix and the data
        directory, so a restarted service resumes its own session.
    session_expiry_s
        How long the broker keeps the session (and queues messages) while the service is away. [s]
    receive_maximum
        Unacknowledged messages the broker may have in flight to the subscriber.
    batch_messages, batch_wait_s
        A batch is stored when it holds ``batch_messages`` messages or ``batch_wait_s`` after its
        first message arrived. [s]
    """

    def __init__(
        self,
        platform: Platform,
        url: str,
        topic_prefix: str,
        *,
        client_id: str | None = None,
        session_expiry_s: int = 7 * 24 * 3600,
        receive_maximum: int = 2000,
        batch_messages: int = 2000,
        batch_wait_s: float = 0.05,
    ) -> None:
        self.platform = platform
        self.prefix = topic_prefix.rstrip("/")
        if not self.prefix or any(c in self.prefix for c in "#+"):
            raise InputError(
                f"MQTT topic prefix {topic_prefix!r} must be a plain topic such as "
                "suandian/readings (no wildcards)"
            )
        self.host, self.port, user, password, tls = broker_address(url)
        self.client_id = client_id or session_client_id(self.prefix, platform.settings.data_dir)
        self.session_expiry_s = session_expiry_s
        self.receive_maximum = receive_maximum
        self.batch_messages = batch_messages
        self.batch_wait_s = batch_wait_s
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if user is not None:
            self._client.username_pw_set(user, password)
        if tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._inbox: queue.Queue[_Message] = queue.Queue()
        self._session = 0
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None

    @property
    def where(self) -> str:
        """The broker, for messages: host and port, never credentials."""
        return f"{self.host}:{self.port}"

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, wait_s: float = 5.0) -> bool:
        """Connect and subscribe in the background; True when subscribed within ``wait_s``.

        An unreachable broker does not stop the service: the client keeps retrying.
        """
        self._stopping.clear()
        self._worker = threading.Thread(target=self._work, name="mqtt-ingest", daemon=True)
        self._worker.start()
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self.session_expiry_s
        properties.ReceiveMaximum = self.receive_maximum
        self._client.connect_async(
            self.host, self.port, keepalive=30, clean_start=False, properties=properties
        )
        self._client.loop_start()
        if self._subscribed.wait(wait_s):
            return True
        log.warning(
            "MQTT broker %s not reachable yet; readings will be taken once it is", self.where
        )
        return False

    def stop(self) -> None:
        """Store and acknowledge the batch in hand, then disconnect; the rest stays queued."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
            self._worker = None
        self._client.disconnect()
        self._client.loop_stop()
        self._subscribed.clear()

    # --- callbacks (the client's network thread) ------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("MQTT broker %s refused the connection: %s", self.where, reason)
            return
        self._session += 1
        client.subscribe(f"{self.prefix}/+", qos=1)
        log.info("MQTT connected to %s, taking readings from %s/+", self.where, self.prefix)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if any(r.is_failure for r in reasons):
            log.error("MQTT broker %s refused the subscription: %s", self.where, reasons)
            return
        self._subscribed.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if not self._stopping.is_set():
            log.warning("MQTT connection to %s lost (%s); reconnecting", self.where, reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._inbox.put(
            _Message(self._session, message.mid, message.qos, message.topic, bytes(message.payload))
        )

    # --- batches (the worker thread) ------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                first = self._inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(batch) < self.batch_messages:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._inbox.get(timeout=left))
                except queue.Empty:
                    break
            self._store(batch)

    def _store(self, batch: list[_Message]) -> None:
        rows, bad = self._rows(batch)
        while True:
            try:
                self._ingest(rows)
                break
            except InputError as exc:  # cannot happen for checked rows; never retried
                log.error("MQTT batch of %d messages refused: %s", len(batch), exc)
                self.platform.metrics.readings.labels("mqtt", "rejected").inc(len(rows))
                break
            except Exception:
                log.exception(
                    "storing %d MQTT readings failed; they stay unacknowledged and are retried",
                    len(rows),
                )
                if self._stopping.wait(_RETRY_S):
                    return  # unacknowledged: the broker delivers them again
        if bad:
            self.platform.metrics.readings.labels("mqtt", "rejected").inc(bad)
        session = self._session
        for message in batch:
            if message.qos > 0 and message.session == session:
                self._client.ack(message.mid, message.qos)

    def _rows(self, batch: list[_Message]) -> tuple[pd.DataFrame, int]:
        """The readings of a batch as one frame, and the count of readings that were unusable."""
        ids: list[object] = []
        starts: list[object] = []
        kwh: list[object] = []
        bad = 0
        for message in batch:
            meter_id = message.topic[len(self.prefix) + 1 :]
            try:
                doc = orjson.loads(message.payload)
            except orjson.JSONDecodeError as exc:
                bad += 1
                log.warning("MQTT %s: payload is not JSON (%s); dropped", message.topic, exc)
                continue
            readings = doc if isinstance(doc, list) else [doc]
            if not readings or not all(isinstance(r, dict) for r in readings):
                bad += max(1, len(readings))
                log.warning(
                    'MQTT %s: payload is not {"start_utc", "kwh"} or a list of them; dropped',
                    message.topic,
                )
                continue
            for reading in readings:
                ids.append(meter_id)
                starts.append(reading.get("start_utc"))
                kwh.append(reading.get("kwh"))
        return frame_from_rows(ids, starts, kwh), bad

    def _ingest(self, rows: pd.DataFrame) -> None:
        if rows.empty:
            return
        # A later message may correct an earlier one of the same batch: the n-th value of each
        # meter and interval is stored in the n-th round, so each round is a plain ingest.
        rounds = rows.groupby(["meter_id", "start_utc"], sort=False, dropna=False).cumcount()
        parts = (
            [rows] if rounds.max() == 0 else [rows[rounds == k] for k in range(rounds.max() + 1)]
        )
        resolution = self.platform.park.resolution_min
        for part in parts:
            outcome = ingest(
                self.platform,
                part.reset_index(drop=True),
                channel="mqtt",
                resolution_min=resolution,
            )
            if outcome.rejected:
                first = outcome.rejections.head(3)
                log.warning(
                    "MQTT: %d of %d readings rejected, e.g. %s",
                    outcome.rejected,
                    outcome.rows,
                    "; ".join(
                        f"{m} {f}={v!r}: {r}"
                        for m, f, v, r in zip(
                            first["meter_id"],
                            first["field"],
                            first["value"],
                            first["reason"],
                            strict=True,
                        )
                    ),
                )
