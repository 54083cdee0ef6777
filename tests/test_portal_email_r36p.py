"""Round 36 (P2): one mailbox is one account. Spellings of the same address (a fully qualified domain's
trailing dot, a punycode domain, decomposed accents) are stored as one, so they cannot make two portal people or
two staff addresses; invisible characters are refused; sign-in takes any spelling."""

from __future__ import annotations

import unicodedata

import pytest

from pim.errors import InputError
from pim.mail import normal_email
from pim.portal_people import add_person, authenticate_person, people, set_active
from pim.web.accounts import active_by_email, add_user
from tests.feeds_data import store_contract

SPELLINGS = [
    ("ana@acme.example.", "ana@acme.example"),
    (" Ana@ACME.Example. ", "ana@acme.example"),
    ("jo@" + "acmé".encode("idna").decode() + ".example", "jo@acmé.example"),
    (unicodedata.normalize("NFD", "rené@acme.example"), "rené@acme.example"),
]


@pytest.mark.parametrize(("given", "stored"), SPELLINGS)
def test_spellings_of_one_mailbox_normalise_to_one_address(given: str, stored: str) -> None:
    assert normal_email(given) == stored == normal_email(stored)


@pytest.mark.parametrize("bad", ["ana@acme.example..", "ana@acme..example", "ana@.acme.example", "ana@acme.",
                                 "ana\u200b@acme.example", "ana@acme.example\u2028x", "ana@xn--zz.example"])
def test_what_is_no_address_is_refused(bad: str) -> None:
    from pim.mail import email_key  # round 36

    with pytest.raises(InputError):
        normal_email(bad)
    assert email_key(bad) == bad.strip().lower()  # a lookup by it never raises, and matches nothing stored


def test_the_trailing_dot_spelling_cannot_be_a_second_portal_person(store, pim_env) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    store_contract(store, code="a-feed", customer="acme")
    store_contract(store, code="b-feed", customer="bolt")
    runner = CliRunner()
    first = runner.invoke(app, ["feeds", "person", "add", "acme", "ana@acme.example", "--password", "a long passphrase"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(app, ["feeds", "person", "add", "bolt", "ana@acme.example.", "--password", "another passphrase"])
    assert again.exit_code != 0 and "already has a portal account" in again.output + str(again.exception)
    assert [(p["customer"], p["email"]) for p in people(store)] == [("acme", "ana@acme.example")]


def test_other_spellings_are_one_portal_person_and_sign_in_as_it(store) -> None:
    add_person(store, "acme", "jo@" + "acmé".encode("idna").decode() + ".example", "a long passphrase", force=True)
    with pytest.raises(InputError, match="already has a portal account"):
        add_person(store, "bolt", "jo@acmé.example", "another passphrase", force=True)
    add_person(store, "acme", unicodedata.normalize("NFD", "rené@acme.example"), "a long passphrase", force=True)
    with pytest.raises(InputError, match="already has a portal account"):
        add_person(store, "bolt", "René@acme.example.", "another passphrase", force=True)
    assert authenticate_person(store, "JO@acmé.example.", "a long passphrase") is not None
    assert set_active(store, "rené@acme.example.", False)
    assert authenticate_person(store, "rené@acme.example", "a long passphrase") is None


def test_a_staff_address_cannot_be_taken_twice_by_spelling_it_with_a_dot(store) -> None:
    add_user(store, "bob", "a long passphrase", email="bob@bolt.example")
    with pytest.raises(InputError, match="e-mail of another user|exists"):
        add_user(store, "bobby", "a long passphrase", email="bob@bolt.example.")
    assert active_by_email(store, "Bob@bolt.example.") is not None
