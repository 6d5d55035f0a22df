"""The SMTP mailer: the only code that talks SMTP (smtplib)."""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from bot.adapters.config_file import SmtpConfig
from bot.adapters.mailer import SendError


class SmtpMailer:
    """Sends over one SMTP connection, opened on first use and reused for the batch."""

    def __init__(self, config: SmtpConfig, ssl_context: ssl.SSLContext | None = None) -> None:
        self.config = config
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds,
                                                  context=self.ssl_context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
            if cfg.security == "starttls":
                smtp.starttls(context=self.ssl_context)
        if cfg.username:
            smtp.login(cfg.username, cfg.password)
        return smtp

    def send(self, sender: str, recipient: str, raw: bytes, message_id: str) -> None:
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            # One row may address several people ("a@x.cn, b@y.cn": the staff digest).
            recipients = [address.strip() for address in recipient.split(",") if address.strip()]
            self.smtp.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            self._drop()
            raise SendError(f"recipient refused: {exc.recipients}", permanent=500 <= code < 600) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise SendError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise SendError(f"SMTP connection to {self.config.host}:{self.config.port} failed: {exc}",
                            permanent=False) from exc

    def _drop(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.smtp.quit()
            self.smtp = None
