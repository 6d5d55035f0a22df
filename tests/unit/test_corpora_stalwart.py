"""Attachments against stalwart-mail-parser's reference answers (`NNN.json` beside each `.eml`).

Binary attachments must agree byte for byte (SHA-256). Two kinds of reference entries cannot be
compared by hash, by policy, and are counted in the output instead: stalwart stores text
attachments decoded to Unicode (we keep the bytes the sender sent) and parses attached messages into
a tree (we keep each as one .eml file). What is left over is in the table below, each with its reason.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bot.core.mail.parse import parse_mail

BASE = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "stalwart-mail-parser" / "resources" / "eml"

EXPECTED_DIFFERENCES = {
    "legacy/016": "BinHex 4.0 attachments: stalwart decodes them, we keep the encoded text (no BinHex decoder)",
    "legacy/017": "x-uuencode: the reference keeps the encoded text; we decode it (the result is the real PNG)",
    "legacy/048": "x-uuencode, as in legacy/017",
    "malformed/017": "the multipart boundary is malformed (the header folds it onto another line), so we read the "
                     "whole mail as one text body; stalwart finds an inline image part in it",
    "rfc/001": "message/external-body parts hold only headers: we keep them with the blank line that ends them, "
               "stalwart drops it (and lists a third part whose body our parser leaves out)",
    "thirdparty/006": "a part typed signature/plain with no name: for us it is body text, not a file",
    "thirdparty/009": "message/partial: a fragment of a message, not a file; we do not list it",
}


def cases() -> list[Path]:
    if not BASE.exists():
        return []
    return [p for p in sorted(BASE.rglob("*.json")) if not p.name.endswith(".crlf.json")
            and p.with_suffix(".eml").exists() and json.loads(p.read_text()).get("attachments")]


def compare(reference: Path) -> tuple[list[str], int]:
    """(binary reference attachments we do not have, entries left out by policy)."""
    data = json.loads(reference.read_text())
    ours = {a.sha256 for a in parse_mail(reference.with_suffix(".eml").read_bytes()).attachments}
    missing, by_policy = [], 0
    for index in data["attachments"]:
        body = data["parts"][index]["body"]
        kind = next(iter(body))
        if kind not in ("Binary", "InlineBinary"):
            by_policy += 1
            continue
        digest = hashlib.sha256(bytes(body[kind])).hexdigest()
        if digest not in ours:
            missing.append(f"part {index} ({len(body[kind])} bytes)")
    return missing, by_policy


@pytest.mark.skipif(not BASE.exists(), reason="the shared corpora are not beside the repository")
def test_binary_attachments_agree_with_the_stalwart_references(capsys: pytest.CaptureFixture[str]) -> None:
    found = cases()
    assert len(found) == 66
    agree, policy, differ = 0, 0, {}
    for reference in found:
        name = str(reference.relative_to(BASE).with_suffix(""))
        missing, by_policy = compare(reference)
        policy += by_policy
        if missing:
            differ[name] = missing
        else:
            agree += 1
    with capsys.disabled():
        print(f"\nstalwart references: {len(found)} messages with attachments; binary attachments agree in "
              f"{agree}; {policy} text or message entries not comparable by hash (see module docstring); "
              f"explained differences: {sorted(differ)}")
    assert sorted(differ) == sorted(EXPECTED_DIFFERENCES)
