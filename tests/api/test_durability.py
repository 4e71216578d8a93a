"""A real ``suandian serve`` killed with SIGKILL and restarted while 200,000 readings stream in.

Half the readings arrive over MQTT (QoS 1, 500 messages of 200), half over HTTP (20 requests of
5,000). Senders behave as real clients: an HTTP request that got no 2xx answer is sent again, an
MQTT message counts once the broker acknowledged it. Afterwards every acknowledged reading is
stored exactly once, with the value sent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import numpy as np
import orjson
import paho.mqtt.client as mqtt
import pandas as pd
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from suandian.api.mqtt import session_client_id
from suandian.store.readings import ReadingsStore

from .test_mqtt import BROKER_HOST, BROKER_PORT, broker_url, forget_session

__all__ = ["broker_url"]

SUANDIAN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "suandian"
START = pd.Timestamp("2025-03-01T00:00:00Z")
STEP = pd.Timedelta(minutes=15)

MQTT_METERS = [f"m-svc-{i:02d}" for i in range(1, 11)]  # 10 meters × 10,000 intervals
HTTP_METERS = [
    "m-battery-a",
    "m-battery-b",
    "m-battery-c",
    "m-battery-d",
    "m-silicon-a",
    "m-silicon-b",
    "m-h2-01",
    "m-dc-nanchuan",
]  # 8 meters × 12,500 intervals
PER_MESSAGE = 200
PER_REQUEST = 5_000
SENTINEL = ("m-svc-14", "2025-01-01T00:00:00Z")


def _kwh(meter: int, interval: np.ndarray) -> np.ndarray:
    """A value unique to each meter and interval, so a misplaced reading shows. [kWh]"""
    return meter * 100.0 + interval * 0.001


def _starts(n: int) -> list[str]:
    return [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in pd.date_range(START, periods=n, freq=STEP)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """``suandian serve`` as a subprocess that can be killed and started again."""

    def __init__(self, data_dir: Path, prefix: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SUANDIAN_DATA_DIR": str(data_dir),
            "SUANDIAN_MQTT_URL": f"mqtt://{BROKER_HOST}:{BROKER_PORT}",
            "SUANDIAN_MQTT_TOPIC_PREFIX": prefix,
        }
        self.env.pop("SUANDIAN_DATABASE_URL", None)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def token(self) -> str:
        out = subprocess.run(
            [
                str(SUANDIAN),
                "admin",
                "create-token",
                "--user",
                "feeder",
                "--role",
                "operator",
                "--json",
            ],
            env=self.env,
            capture_output=True,
            check=True,
        )
        return str(orjson.loads(out.stdout)["token"])

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(SUANDIAN), "serve", "--port", str(self.port), "--log-level", "warning"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"the service exited: {self.log.read_text()[-2000:]}"
            try:
                if httpx2.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def service(broker_url: str, tmp_path: Path) -> Iterator[Service]:
    service = Service(tmp_path / "data", f"suandian-test/{uuid.uuid4().hex[:12]}", tmp_path / "log")
    yield service
    service.stop()
    forget_session(session_client_id(service.env["SUANDIAN_MQTT_TOPIC_PREFIX"], tmp_path / "data"))


def test_every_acknowledged_reading_survives_sigkill_exactly_once(service: Service) -> None:
    token = service.token()
    service.start()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    n_mqtt = 100_000 // len(MQTT_METERS)
    n_http = 100_000 // len(HTTP_METERS)
    mqtt_starts, http_starts = _starts(n_mqtt), _starts(n_http)
    messages = [
        (
            meter,
            [
                {"start_utc": t, "kwh": float(v)}
                for t, v in zip(
                    mqtt_starts[i : i + PER_MESSAGE],
                    _kwh(m, np.arange(i, min(i + PER_MESSAGE, n_mqtt))),
                    strict=True,
                )
            ],
        )
        for m, meter in enumerate(MQTT_METERS)
        for i in range(0, n_mqtt, PER_MESSAGE)
    ]
    rows = [
        {"meter_id": meter, "start_utc": t, "kwh": float(v)}
        for m, meter in enumerate(HTTP_METERS, start=len(MQTT_METERS))
        for t, v in zip(http_starts, _kwh(m, np.arange(n_http)), strict=True)
    ]
    requests = [rows[i : i + PER_REQUEST] for i in range(0, len(rows), PER_REQUEST)]

    acked_messages: list[int] = []
    answers: list[dict[str, int]] = []
    failures: list[BaseException] = []
    sending = threading.Event()
    # The two channels keep pace (each at most two requests' worth ahead of the other), so that
    # both are part-way through at every kill, whichever the machine runs faster.
    unit = len(messages) // len(requests)

    def wait_until(ready: Callable[[], bool]) -> None:
        while not ready() and not failures:
            time.sleep(0.005)

    def publish() -> None:
        try:
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
            client.max_queued_messages_set(0)
            client.connect(BROKER_HOST, BROKER_PORT)
            client.loop_start()
            prefix = service.env["SUANDIAN_MQTT_TOPIC_PREFIX"]
            for k, (meter, payload) in enumerate(messages):
                wait_until(lambda k=k: k < (len(answers) + 2) * unit)
                info = client.publish(f"{prefix}/{meter}", orjson.dumps(payload), qos=1)
                info.wait_for_publish(timeout=30)
                if info.is_published():
                    acked_messages.append(k)
                time.sleep(0.01)
            client.disconnect()
            client.loop_stop()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    def post() -> None:
        try:
            with httpx2.Client(timeout=30) as client:
                for j, body in enumerate(requests):
                    wait_until(lambda j=j: j * unit <= len(acked_messages) + 2 * unit)
                    content = orjson.dumps({"readings": body})
                    while True:
                        sending.set()
                        try:
                            r = client.post(
                                f"{service.url}/v1/readings", content=content, headers=headers
                            )
                        except httpx2.HTTPError:
                            sending.clear()
                            time.sleep(0.05)  # the service is down: send again
                            continue
                        sending.clear()
                        if r.status_code == 200:
                            answers.append(r.json())
                            break
                        assert r.status_code >= 500, r.text
                        time.sleep(0.05)
                    time.sleep(0.1)
        except BaseException as exc:
            failures.append(exc)

    senders = [threading.Thread(target=publish), threading.Thread(target=post)]
    for t in senders:
        t.start()
    # Kill mid-stream twice, each time with both channels part-way through and a request on
    # its way (answered or not, committed or not: the client sends it again if unanswered).
    for answered, published in ((4, 100), (10, 300)):
        while (len(answers) < answered or len(acked_messages) < published) and not failures:
            time.sleep(0.01)
        sending.wait(timeout=10)
        time.sleep(0.03)
        assert len(answers) < len(requests) and len(acked_messages) < len(messages)
        service.kill()
        service.start()
    for t in senders:
        t.join(timeout=120)
    assert not failures, failures
    assert len(acked_messages) == len(messages)
    assert len(answers) == len(requests)

    # A reading published after every other one: once it is stored, the broker has delivered
    # everything before it (a session's messages arrive in order, unacknowledged ones first).
    sentinel_client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    sentinel_client.connect(BROKER_HOST, BROKER_PORT)
    sentinel_client.loop_start()
    info = sentinel_client.publish(
        f"{service.env['SUANDIAN_MQTT_TOPIC_PREFIX']}/{SENTINEL[0]}",
        orjson.dumps({"start_utc": SENTINEL[1], "kwh": 1.0}),
        qos=1,
    )
    info.wait_for_publish(timeout=30)
    sentinel_client.disconnect()
    sentinel_client.loop_stop()
    deadline = time.monotonic() + 60
    while True:
        r = httpx2.get(
            f"{service.url}/v1/meters/{SENTINEL[0]}/readings",
            params={"start": SENTINEL[1], "end": "2025-01-01T00:15:00Z"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        if r.json()["missing"] == 0:
            break
        assert time.monotonic() < deadline, "the last MQTT message was not stored"
        time.sleep(0.05)
    metrics = httpx2.get(f"{service.url}/metrics").text
    service.stop()

    # What the service said: every HTTP row new or (sent again after a kill) a duplicate.
    assert service.starts == 3
    assert sum(a["rows"] for a in answers) == 100_000
    assert sum(a["rejected"] + a["corrected"] for a in answers) == 0
    assert sum(a["new"] + a["duplicate"] for a in answers) == 100_000
    for outcome in ("rejected", "corrected"):
        assert f'outcome="{outcome}"' not in metrics

    # What the store holds: one version per meter and interval, the value sent.
    with ReadingsStore(Path(service.env["SUANDIAN_DATA_DIR"])) as store:
        assert store.counts() == {"meters": 28, "readings": 200_001, "versions": 200_001}
        stored = store._con.execute(
            "SELECT m.meter_id, epoch_us(r.start_utc) AS t, r.kwh FROM readings r "
            "JOIN meters m USING (meter_key) WHERE m.meter_id <> ?",
            [SENTINEL[0]],
        ).df()
    meters = {m: i for i, m in enumerate([*MQTT_METERS, *HTTP_METERS])}
    interval = (stored["t"].to_numpy() - START.value // 1000) // (STEP.value // 1000)
    expected = _kwh(stored["meter_id"].map(meters).to_numpy(), interval)
    np.testing.assert_allclose(stored["kwh"].to_numpy(), expected, rtol=0, atol=1e-9)
    per_meter = stored.groupby("meter_id").size()
    assert all(per_meter[m] == n_mqtt for m in MQTT_METERS)
    assert all(per_meter[m] == n_http for m in HTTP_METERS)
