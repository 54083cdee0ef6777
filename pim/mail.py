"""Sending a plain-text mail through the SMTP server in the settings (PIM_SMTP_*). Only password-reset links
go out this way; without PIM_SMTP_HOST nothing is sent and the features that need mail say so. Also the one rule
for the addresses accounts are reached at (`normal_email`)."""

from __future__ import annotations

import re
import smtplib
import ssl
import unicodedata
from email.message import EmailMessage

from pim.errors import ConfigError, InputError
from pim.settings import Settings

TIMEOUT = 20
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normal_email(email: str) -> str:
    """The address as stored, one spelling per mailbox so one mailbox is never two accounts: trimmed, lower case,
    Unicode NFC, the domain without the trailing dot of a fully qualified name (`a@b.example.`) and with
    `xn--` labels as the Unicode they encode. InputError when it is not an address (an empty domain label, an
    invisible or control character). Portal people and staff accounts use the same rule."""
    text = unicodedata.normalize("NFC", email.strip().lower())
    local, at, domain = text.rpartition("@")
    try:
        labels = domain.removesuffix(".").split(".")
        domain = ".".join(lb.encode("ascii").decode("idna") if lb.startswith("xn--") else lb for lb in labels)
    except UnicodeError:
        domain = ""
    address = f"{local}{at}{domain}"
    if (not _EMAIL.fullmatch(address) or len(address) > 254 or "" in labels
            or any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp") for c in address)):
        raise InputError(f"'{text}' is not an e-mail address", field="email", hint="write it as name@example.com")
    return address


def email_key(email: str) -> str:
    """What to look an account up by: `normal_email`, or for text that is no address the trimmed lower-case text
    (which matches no account), so a lookup or a throttle key never raises."""
    try:
        return normal_email(email)
    except InputError:
        return email.strip().lower()


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
