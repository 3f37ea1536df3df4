"""Configuration mistakes around the local broker end in one line naming problem and fix."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.local_kafka import LocalKafka, LocalKafkaError


def _broker_with_cached_jars(tmp_path: Path, port: int, controller_port: int) -> LocalKafka:
    broker = LocalKafka(home=tmp_path / "kafka", port=port, controller_port=controller_port)
    real = LocalKafka().fetch()  # the shared cache, so no test downloads twice
    broker.home.mkdir(parents=True)
    broker.jars.symlink_to(real)
    return broker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_missing_java_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match=r"Java not found.*apt-get install openjdk-17"):
        LocalKafka(home=tmp_path / "k", port=_free_port(), controller_port=_free_port()).start()


def test_missing_maven_is_named_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = shutil.which("java")
    assert java is not None
    (bin_dir / "java").symlink_to(java)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(LocalKafkaError, match=r"Maven \(mvn\) not found.*apt-get install maven"):
        LocalKafka(home=tmp_path / "k").fetch()


def test_port_in_use_is_named_and_nothing_starts(tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        broker = _broker_with_cached_jars(tmp_path, port, _free_port())
        with pytest.raises(LocalKafkaError, match=rf"port {port} on 127.0.0.1 is in use"):
            broker.start(wait_seconds=5)
        assert broker.pid() is None
    finally:
        busy.close()


def test_cli_reports_port_in_use_as_one_line_not_a_stack_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        broker = _broker_with_cached_jars(tmp_path, port, _free_port())
        monkeypatch.setenv("BRIDGE_LOCAL_KAFKA_HOME", str(broker.home))
        monkeypatch.setenv("BRIDGE_LOCAL_KAFKA_PORT", str(port))
        result = CliRunner().invoke(app, ["kafka", "start", "--wait", "5"])
    finally:
        busy.close()
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.output
    assert "Traceback" not in result.output


def test_data_dir_without_metadata_is_reported_broken(tmp_path: Path) -> None:
    broker = _broker_with_cached_jars(tmp_path, _free_port(), _free_port())
    broker.data.mkdir(parents=True)
    (broker.data / "some-topic-0").mkdir()
    with pytest.raises(LocalKafkaError, match=r"data dir .* holds data but no meta.properties.*--wipe"):
        broker.start(wait_seconds=5)


def test_garbled_meta_properties_is_reported_broken(tmp_path: Path) -> None:
    broker = _broker_with_cached_jars(tmp_path, _free_port(), _free_port())
    broker.data.mkdir(parents=True)
    (broker.data / "meta.properties").write_text("\x00\x01garbage")
    with pytest.raises(LocalKafkaError, match=r"broken.*bridge kafka stop --wipe"):
        broker.start(wait_seconds=5)


def test_second_broker_on_its_own_ports_starts_stops_and_wipes(tmp_path: Path) -> None:
    broker = _broker_with_cached_jars(tmp_path, _free_port(), _free_port())
    seconds = broker.start(wait_seconds=60)
    try:
        assert seconds > 0
        assert broker.is_answering()
        assert broker.start() == 0.0  # already running: no second process
    finally:
        assert broker.stop(wipe=True) is True
    assert broker.pid() is None
    assert not broker.data.exists()
    assert not broker.is_answering(timeout=0.5)
    assert os.path.exists(broker.jars)  # jars stay cached
