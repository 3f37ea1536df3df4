"""`bridge serve` under abusive clients stays up, answers /healthz, and keeps its memory bounded."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from bridge.http_protocol import MAX_HEAD_BYTES
from bridge.settings import Settings
from fuzz.receiver_process import ServedReceiver, served_receiver

RSS_BOUND = 300 * 2**20  # generous: the process starts near 75 MiB


@pytest.fixture
def receiver(settings: Settings) -> Iterator[ServedReceiver]:
    with served_receiver(settings.model_copy(update={"max_body_bytes": 64 * 1024})) as served:
        yield served


def _connect(receiver: ServedReceiver) -> socket.socket:
    host, port = receiver.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=15)
    return sock


def _healthy(receiver: ServedReceiver) -> None:
    r = httpx.get(f"{receiver.url}/healthz", timeout=15)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert receiver.process.poll() is None
    assert receiver.rss_bytes() < RSS_BOUND, receiver.rss_bytes()


def test_a_thousand_idle_connections_do_not_starve_healthz(receiver: ServedReceiver) -> None:
    idle = [_connect(receiver) for _ in range(1000)]
    try:
        _healthy(receiver)
    finally:
        for sock in idle:
            sock.close()
    _healthy(receiver)


def test_slow_loris_clients_dribbling_headers_do_not_block_others(receiver: ServedReceiver) -> None:
    slow = [_connect(receiver) for _ in range(200)]
    try:
        for sock in slow:
            sock.sendall(b"POST /webhooks/orb HTTP/1.1\r\nHost: x\r\n")
        for i in range(5):  # a few more header bytes each, never finishing the head
            for sock in slow:
                sock.sendall(f"X-Slow-{i}: ".encode() + b"a" * 10)
            _healthy(receiver)
    finally:
        for sock in slow:
            sock.close()
    _healthy(receiver)


def test_huge_headers_are_refused_with_431_and_memory_stays_bounded(receiver: ServedReceiver) -> None:
    for _ in range(20):  # 20 × 1 MB heads: with no bound this alone would grow RSS by 20 MB+
        sock = _connect(receiver)
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(16):
                sock.sendall(b"a" * 65536)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused mid-send: the point
        try:
            answer = sock.recv(200)
        except ConnectionResetError:
            answer = b""
        sock.close()
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431"), answer
    big = httpx.get(f"{receiver.url}/healthz", headers={"X-Big": "a" * (2 * MAX_HEAD_BYTES)}, timeout=15)
    assert big.status_code == 431 and big.json()["error"] == "headers_too_large"
    _healthy(receiver)


def test_a_body_declared_larger_than_the_limit_is_refused_before_it_is_sent(
    receiver: ServedReceiver,
) -> None:
    sock = _connect(receiver)
    try:
        sock.sendall(
            b"POST /webhooks/orb HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000000\r\n\r\n{"
        )
        answer = b""  # answered with only one body byte sent; headers and body may come apart
        while b"}" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"error":"too_large"' in answer
    _healthy(receiver)
