"""IMAPS and SMTPS with certificates verified, against Dovecot and aiosmtpd using a throwaway CA."""

from __future__ import annotations

import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Setup, write_config
from tests.e2e.servers import Dovecot, SmtpSink, append
from tests.e2e.test_poll_e2e import MAILS, TO
from tests.e2e.tls import Certificates, make_certificates

pytestmark = pytest.mark.any_database  # runs once, in the SQLite pass: see pyproject.toml


@pytest.fixture
def certs() -> Iterator[Certificates]:
    with tempfile.TemporaryDirectory(prefix="tls-") as tmp:
        Path(tmp).chmod(0o755)
        yield make_certificates(Path(tmp))


@pytest.fixture
def tls_servers(certs: Certificates) -> Iterator[tuple[Dovecot, SmtpSink]]:
    dovecot = Dovecot(tls=(certs.cert, certs.key))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.cert, certs.key)
    sink = SmtpSink(ssl_context=context)
    dovecot.start()
    sink.start()
    try:
        yield dovecot, sink
    finally:
        sink.stop()
        dovecot.cleanup()


def tls_config(tmp_path: Path, dovecot: Dovecot, sink: SmtpSink, ca: Path | None) -> Setup:
    config = write_config(tmp_path, dovecot, sink)
    text = config.read_text(encoding="utf-8")
    text = text.replace(f"port = {dovecot.port}\nsecurity = \"none\"", f"port = {dovecot.tls_port}\nsecurity = \"ssl\"")
    text = text.replace(f"port = {sink.port}\nsecurity = \"none\"", f"port = {sink.port}\nsecurity = \"ssl\"")
    if ca is not None:
        text = text.replace('timeout_seconds = 20\n', f'timeout_seconds = 20\nca_file = "{ca}"\n')
    config.write_text(text, encoding="utf-8")
    return Setup(tmp_path, config, tmp_path / "data", dovecot, sink)


def test_imaps_and_smtps_work_when_the_ca_is_trusted(
    tmp_path: Path, tls_servers: tuple[Dovecot, SmtpSink], certs: Certificates
) -> None:
    dovecot, sink = tls_servers
    setup = tls_config(tmp_path, dovecot, sink, certs.ca)
    assert setup.config.read_text(encoding="utf-8").count('security = "ssl"') == 2
    writer, args, internaldate = MAILS["foxmail"]
    append(dovecot, writer(to=TO, **args), internaldate)
    out = setup.intake("poll", "--once")
    assert "本轮收取 1 封：入库 1 封" in out.stdout and "发出回复 1 封" in out.stdout
    assert len(sink.messages) == 1


def test_an_unknown_certificate_is_refused_with_a_clear_error(
    tmp_path: Path, tls_servers: tuple[Dovecot, SmtpSink]
) -> None:
    dovecot, sink = tls_servers
    setup = tls_config(tmp_path, dovecot, sink, None)
    writer, args, internaldate = MAILS["foxmail"]
    append(dovecot, writer(to=TO, **args), internaldate)
    out = setup.intake("poll", "--once", check=False)
    assert out.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr and sink.messages == []
