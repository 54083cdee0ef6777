"""Sending a plain-text mail through the SMTP server in the settings (PIM_SMTP_*). Only password-reset links
go out this way; without PIM_SMTP_HOST nothing is sent and the features that need mail say so. Also the one rule
for the addresses accounts are reached at (`normal_email`)."""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage

from pim.errors import ConfigError, InputError
from pim.settings import Settings

TIMEOUT = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normal_email(email: str) -> str:
    """The address as stored (trimmed, lower case: addresses are unique regardless of case); InputError when it
    is not one. Portal people and staff accounts use the same rule."""
    email = email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        raise InputError(f"'{email}' is not an e-mail address", field="email", hint="write it as name@example.com")
    return email


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def send_mail(settings: Settings, to: str, subject: str, body: str) -> None:
    """Raises ConfigError (with what to check) when the server refuses or cannot be reached."""
    if not settings.smtp_host:
        raise ConfigError("no mail server is configured", hint="set PIM_SMTP_HOST (and PIM_SMTP_PORT, PIM_MAIL_FROM)")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.mail_from, to, subject
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise ConfigError(f"cannot send mail through {settings.smtp_host}:{settings.smtp_port}: {exc}",
                          hint="check PIM_SMTP_HOST, PIM_SMTP_PORT, PIM_SMTP_STARTTLS and the credentials") from exc
