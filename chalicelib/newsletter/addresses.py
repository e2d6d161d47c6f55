"""Email addresses from signup forms: validated and normalised before anything is stored.

We accept what SES can deliver to and what cannot be abused:
- syntax checked by ``email-validator`` without DNS lookups (a signup must not wait on DNS,
  and the confirmation mail proves the address works anyway);
- exactly one bare address: no display name, no list, no quoting, no IP-literal domain;
- no line breaks or other control characters (header injection);
- ASCII before the @: SES cannot send to SMTPUTF8 mailboxes, and non-ASCII local parts are
  where Unicode look-alikes hide (``аdmin`` with a Cyrillic а);
- an international domain becomes punycode; a domain label that mixes scripts (Latin ``e``
  next to Cyrillic ``е``) or is spelled only with Cyrillic/Greek letters that pass for Latin
  ones (``аррӏе``) is refused as a look-alike;
- at most 254 characters once normalised.

The normalised form is lower case throughout: mailbox names are case-insensitive everywhere
in practice, and one person must map to one subscriber however they type their address.

``mailbox(address)`` is what the signup's mail limit counts: the mailbox many addresses
deliver to (``name+news@`` and ``name@``; for Gmail also ``n.a.m.e@googlemail.com``). Mail
still goes to the address as typed, and the subscriber is still that address. Which rules
apply, and why no others: docs/newsletter.md#one-mailbox-many-addresses.
"""

from __future__ import annotations

import unicodedata

MAX_LENGTH = 254
# Scripts whose letters never count as "mixing" with another script in one label.
_NEUTRAL = frozenset({"DIGIT", "HYPHEN-MINUS", "COMBINING"})
# Cyrillic and Greek letters that look like Latin ones (Unicode confusables): a label made
# only of these (``аррӏе`` in Cyrillic) is a whole-script look-alike of a Latin name.
_LATIN_LOOKALIKES = frozenset("аеорсухіјӏѕԁԛԝһԍɑοαυνκιτρεχ")
# Google's consumer mail: dots in the name are ignored, and both domains are one account.
# (Google Workspace domains keep their dots; they are not listed here.)
_GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


class InvalidAddress(ValueError):
    """The address cannot be used; the message (Danish) says what to fix."""


def _script(char: str) -> str:
    name = unicodedata.name(char, "UNKNOWN")
    return name.split(" ", 1)[0]


def _lookalike_label(domain: str) -> str | None:
    """The first label of ``domain`` that mixes scripts, or is spelled only with letters
    that pass for Latin ones."""
    for label in domain.split("."):
        if label.isascii():
            continue
        letters = [char for char in label if char.isalpha()]
        scripts = {_script(char) for char in letters} - _NEUTRAL
        if len(scripts) > 1 or (letters and all(char in _LATIN_LOOKALIKES for char in letters)):
            return label
    return None


def normalise(raw: str) -> str:
    """The canonical ASCII form of one address (punycode domain, lower case), or InvalidAddress."""
    if not raw or not raw.strip():
        raise InvalidAddress("Skriv din e-mailadresse.")
    if any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in raw):
        raise InvalidAddress(
            "E-mailadressen indeholder linjeskift eller usynlige tegn. Skriv den igen uden dem."
        )
    candidate = raw.strip()
    if len(candidate) > MAX_LENGTH:
        raise InvalidAddress(f"E-mailadressen er for lang (højst {MAX_LENGTH} tegn).")
    from email_validator import EmailNotValidError, validate_email

    try:
        valid = validate_email(
            candidate,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_empty_local=False,
        )
    except EmailNotValidError as problem:
        text = str(problem)
        if "before the @-sign are not supported" in text:
            raise InvalidAddress(
                "Brug kun almindelige bogstaver (a-z), tal og . _ - + før @. Internationale tegn "
                "før @ kan vi ikke sende til, og de kan ligne andre bogstaver."
            ) from None
        raise InvalidAddress(
            "Det ligner ikke en gyldig e-mailadresse. Skriv én adresse som navn@eksempel.dk."
        ) from None
    if _lookalike_label(valid.domain) is not None:
        raise InvalidAddress(
            "Domænet i e-mailadressen har bogstaver, der kan forveksles med latinske (fx kyrilliske "
            "eller græske, der ligner a, e, o, p). Kontrollér adressen."
        )
    ascii_email = valid.ascii_email
    if ascii_email is None:  # only with SMTPUTF8, which we refuse above
        raise InvalidAddress("E-mailadressen kan ikke skrives med almindelige tegn.")
    normalised = ascii_email.lower()
    if len(normalised) > MAX_LENGTH:
        raise InvalidAddress(f"E-mailadressen er for lang (højst {MAX_LENGTH} tegn).")
    return normalised


def mailbox(address: str) -> str:
    """The mailbox a ``normalise``d address delivers to, as far as the address alone tells:
    the key the per-mailbox mail limit counts, never where mail is sent.

    - A ``+tag`` is dropped for every domain: subaddressing with ``+`` (RFC 5233) is what
      Gmail, Outlook.com/Hotmail, iCloud and most mail servers do, and where it is not, the
      worst is two addresses sharing one mail limit.
    - A ``-tag`` is kept: hyphens are part of ordinary names (``anne-marie@``), and Yahoo's
      ``-`` addresses must each be created by their owner, so a stranger cannot multiply them.
    - Gmail and Googlemail: the dots in the name are dropped, and googlemail.com is gmail.com.
    """
    local, _, domain = address.rpartition("@")
    name = local.split("+", 1)[0] or local  # "+x@" has no name before its tag: keep it whole
    if domain in _GMAIL_DOMAINS:
        domain = "gmail.com"
        name = name.replace(".", "")
    return f"{name}@{domain}"
