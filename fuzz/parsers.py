"""Atheris (coverage-guided, libFuzzer) targets for the receiver's parsers.

    python fuzz/parsers.py TARGET -runs=N [-max_len=65536] [-timeout=10] [CORPUS_DIR]

Targets: `orb_verify` (signature + header parsing), `orb_parse`, `chargebee_auth`,
`chargebee_parse`, `soap` (outbound messages). Invariants: only `Rejected` with the
documented status escapes; whatever is accepted really was authentic (a genuine signature, the
right credentials, the configured org) and its envelopes serialise for Kafka. Anything else is
a crash that libFuzzer reports with the input it saved; `-timeout` turns a hang into one.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from bridge.events import Envelope
    from bridge.sources import chargebee, orb, salesforce_outbound
    from bridge.sources.request import Rejected

SECRETS = ["whsec_fuzz_a", "whsec_fuzz_b"]
CB_USER, CB_PASS = "chargebee", "pässword"
ORG = "00D5g000004ZwyX"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _header(fdp: atheris.FuzzedDataProvider, n: int) -> str:
    # Starlette decodes header bytes as latin-1: every byte value can arrive.
    raw: bytes = fdp.ConsumeBytes(n)
    return raw.decode("latin-1")


def _serialises(envelopes: list[Envelope]) -> None:
    for env in envelopes:
        assert env.to_bytes() and env.key, env  # what publish does with it


def _expect(exc: Rejected, statuses: set[int]) -> None:
    if exc.status not in statuses or not exc.message:
        raise AssertionError(f"Rejected({exc.status}, {exc.code!r}) is not one of {statuses}") from exc


def orb_verify(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 0:
        timestamp = _header(fdp, fdp.ConsumeIntInRange(0, 48))
    else:
        skew = timedelta(seconds=fdp.ConsumeIntInRange(-400, 400))
        timestamp = (NOW + skew).isoformat() if mode != 3 else (NOW + skew).replace(tzinfo=None).isoformat()
    noise = _header(fdp, fdp.ConsumeIntInRange(0, 160))
    body = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
    genuine = f"v1={orb.sign(SECRETS[fdp.ConsumeIntInRange(0, 1)], timestamp, body)}"
    signature = noise if fdp.ConsumeBool() else f"{noise} {genuine}"
    headers = {"x-orb-timestamp": timestamp, "x-orb-signature": signature}
    try:
        orb.verify(SECRETS, headers, body, now=NOW)
    except Rejected as exc:
        _expect(exc, {401})
        return
    # Accepted: a genuine signature was offered, for a time within the window.
    offered = signature.split(" ")
    assert any(f"v1={orb.sign(s, timestamp, body)}" in offered for s in SECRETS), headers
    sent = datetime.fromisoformat(timestamp)
    sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
    assert abs(NOW - sent) <= orb.TOLERANCE, timestamp


def orb_parse(data: bytes) -> None:
    try:
        envelope, _ = orb.parse(data)
    except Rejected as exc:
        _expect(exc, {400})
        return
    _serialises([envelope])


def chargebee_auth(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeBool():
        header = _header(fdp, fdp.ConsumeIntInRange(0, 200))
    else:
        raw = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 100))
        header = "Basic " + base64.b64encode(raw).decode()
    try:
        chargebee.check_auth(header, CB_USER, CB_PASS)
    except Rejected as exc:
        _expect(exc, {401})
        return
    token = base64.b64decode(header[6:].strip(), validate=True)
    assert token == f"{CB_USER}:{CB_PASS}".encode(), header


def chargebee_parse(data: bytes) -> None:
    try:
        envelope, _ = chargebee.parse(data)
    except Rejected as exc:
        _expect(exc, {400})
        return
    _serialises([envelope])


def soap(data: bytes) -> None:
    try:
        envelopes = salesforce_outbound.parse(data, ORG)
    except Rejected as exc:
        _expect(exc, {400, 401})
        return
    assert 1 <= len(envelopes) <= salesforce_outbound.MAX_NOTIFICATIONS
    for env in envelopes:
        assert env.payload["organizationId"].startswith(ORG), env.payload
    _serialises(envelopes)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "orb_verify": orb_verify,
    "orb_parse": orb_parse,
    "chargebee_auth": chargebee_auth,
    "chargebee_parse": chargebee_parse,
    "soap": soap,
}


def main() -> None:
    """Run one target under libFuzzer; the remaining arguments are libFuzzer's."""
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: parsers.py {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv.pop(1)]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
