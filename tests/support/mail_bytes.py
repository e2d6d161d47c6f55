"""A mail as the receiving side reads it: the raw bytes SES was given, checked without
Python's ``email`` policy (which decodes RFC 2047 encoded-words wherever it finds them and so
hides the very mistakes a mail client trips over).

``problems(raw, expected)`` lists everything wrong with one raw message (empty: wire-ready):

- the whole message: CRLF line endings only, no line over 998 octets (RFC 5322 §2.1.1, SES's
  1,000 with the CRLF), 7-bit (SES: content outside 7-bit ASCII should be encoded);
- header block and body split on the first CRLFCRLF; header fields unfolded per RFC 5322
  §2.2.3 (a CRLF followed by WSP), no line of only white space;
- ``List-Unsubscribe`` reads literally ``<https://…>, <mailto:…>``, folded (if at all) only
  after the comma, and the two URIs are exactly the expected ones (RFC 2369, RFC 8058);
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``;
- ``Message-ID`` is ``<…@sender's domain>``; ``Date`` is an RFC 5322 date-time with a numeric
  zone; ``From`` is ``display name <address>``, ``To`` the bare address;
- an encoded-word (RFC 2047) only in ``Subject`` and in the display-name phrase of ``From`` or
  ``List-Id``: never inside ``<…>``, in an address, in ``Date``, ``Message-ID``, ``MIME-Version``,
  ``Auto-Submitted``, ``List-Unsubscribe(-Post)`` or any ``Content-*`` field; each one well
  formed, at most 75 characters, a whole word; decoded, they give the expected text;
- the fields SES accepts once appear at most once;
- the body is multipart/alternative: text/plain then text/html, UTF-8, each part's headers
  under the same rules, transfer encoding 7bit, quoted-printable or base64.

Decoding here (encoded-words, quoted-printable, base64) uses ``binascii``/``quopri`` only.
See docs/newsletter.md#mail-on-the-wire.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from dataclasses import dataclass, field
from datetime import datetime

CRLF = b"\r\n"
MAX_LINE = 998  # octets, without the CRLF (RFC 5322 §2.1.1)
WSP = " \t"

# Fields SES refuses to see twice (Amazon SES header fields) that our mails carry.
ONCE = ("from", "to", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "content-language", "list-unsubscribe",
        "list-unsubscribe-post", "list-id", "auto-submitted")
REQUIRED = ("from", "to", "subject", "date", "message-id", "mime-version", "content-type")
# Where RFC 2047 allows no encoded-word at all: structured fields without a phrase.
NO_ENCODED_WORD = ("to", "date", "message-id", "mime-version", "auto-submitted", "list-unsubscribe",
                   "list-unsubscribe-post", "content-type", "content-transfer-encoding",
                   "content-language", "content-disposition", "content-id")

_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # printable US-ASCII except ":" (RFC 5322 §3.6.8)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_DATE = re.compile(r"^(?:(?P<dow>Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?(?P<day>\d{1,2}) "
                   r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (?P<year>\d{4}) "
                   r"(?P<time>\d{2}:\d{2}(?::\d{2})?) (?P<zone>[+-]\d{4})$")
_MESSAGE_ID = re.compile(r"^<(?P<left>[^<>@\s\"]+)@(?P<right>[^<>@\s\"]+)>$")
_ADDR_SPEC = r"[^<>@\s\",;:()\[\]\\]+@[A-Za-z0-9.-]+"
_BARE_ADDRESS = re.compile(rf"^(?P<addr>{_ADDR_SPEC})$")
_NAME_ADDR = re.compile(rf"^(?P<phrase>\S.*?)\s*<(?P<addr>{_ADDR_SPEC})>$")
_LIST_UNSUBSCRIBE = re.compile(r"^<(?P<https>https://[^<>\s,]+)>,[ \t]*<(?P<mailto>mailto:[^<>\s]+)>$")
_PARAM = re.compile(r""";\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)=(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))""")
_BOUNDARY_CHARS = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")  # RFC 2046


@dataclass(frozen=True)
class Field:
    name: str  # as written
    lines: tuple[str, ...]  # the physical lines, without CRLF; the first starts with the name

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def value(self) -> str:
        """Unfolded (RFC 5322 §2.2.3: remove each CRLF that precedes WSP), around the colon."""
        unfolded = "".join(self.lines)
        return unfolded.split(":", 1)[1].strip(WSP)


@dataclass(frozen=True)
class Expected:
    """What the recipient must read; ``list_unsubscribe`` is (https URL, mailto URI) or None
    for a mail without one; ``headers`` are further fields that must read exactly so."""

    to: str
    subject: str
    sender_name: str
    sender_address: str
    list_unsubscribe: tuple[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Part:
    fields: list[Field]
    text: str  # decoded with its transfer encoding and charset


@dataclass
class Reading:
    """What the reader found; ``problems`` empty means the mail is right on the wire."""

    fields: list[Field] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        found = [f.value for f in self.fields if f.key == name.lower()]
        return found[0] if found else None


def read(raw: bytes, expected: Expected) -> Reading:
    reading = Reading()
    problems = reading.problems
    _check_lines(raw, problems)
    # Read on past wrong line endings (reported above), so every other problem shows too.
    head, separator, body = re.sub(rb"\r?\n", CRLF, raw).partition(CRLF + CRLF)
    if not separator:
        problems.append("no empty line (CRLFCRLF) between header and body")
        return reading
    reading.fields = _fields(head, problems)
    _check_top_fields(reading.fields, expected, problems)
    reading.parts = _parts(reading.fields, body, problems)
    return reading


def problems(raw: bytes, expected: Expected) -> list[str]:
    return read(raw, expected).problems


def header_fields(raw: bytes) -> list[Field]:
    """The top-level header fields of a raw message, as written (read on past LF endings)."""
    head = re.sub(rb"\r?\n", CRLF, raw).partition(CRLF + CRLF)[0]
    return _fields(head, [])


# -- lines ---------------------------------------------------------------------------------

def _check_lines(raw: bytes, problems: list[str]) -> None:
    if not raw.endswith(CRLF):
        problems.append("the message does not end with CRLF")
    lines = raw.split(b"\n")
    for number, ended in enumerate(lines[:-1] if raw.endswith(b"\n") else lines, start=1):
        if number < len(lines) and not ended.endswith(b"\r"):
            problems.append(f"line {number}: ends with a bare LF, not CRLF")
        line = ended.removesuffix(b"\r")
        if b"\r" in line:
            problems.append(f"line {number}: a bare CR")
        if len(line) > MAX_LINE:
            problems.append(f"line {number}: {len(line)} octets (at most {MAX_LINE})")
        if any(octet > 127 or octet == 0 for octet in line):
            problems.append(f"line {number}: not 7-bit ASCII: {line[:60]!r}")


def _fields(head: bytes, problems: list[str]) -> list[Field]:
    """Header fields with their physical lines; reports lines that are neither a field start
    nor a continuation (CRLF + WSP)."""
    text = head.decode("ascii", "replace").replace("\r\n", "\n")
    found: list[tuple[str, list[str]]] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t"):
            if not found:
                problems.append(f"header block starts with a continuation line: {line!r}")
            elif not line.strip(WSP):
                problems.append(f"{found[-1][0]}: a folded line of only white space")
            else:
                found[-1][1].append(line)
            continue
        name, colon, _ = line.partition(":")
        if not colon or not _FIELD_NAME.match(name):
            problems.append(f"not a header field line: {line!r}")
            continue
        found.append((name, [line]))
    return [Field(name, tuple(lines)) for name, lines in found]


# -- encoded-words -------------------------------------------------------------------------

def decode_words(value: str, where: str, problems: list[str]) -> str:
    """``value`` with its RFC 2047 encoded-words decoded (white space between two adjacent
    encoded-words dropped, §6.2); reports malformed, over-long or glued-on words."""
    out: list[str] = []
    position = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(value):
        between = value[position:match.start()]
        if not (previous_was_word and between and not between.strip(WSP)):
            out.append(between)
        before = value[match.start() - 1] if match.start() else " "
        after = value[match.end()] if match.end() < len(value) else " "
        if before not in WSP or after not in WSP:
            problems.append(f"{where}: encoded-word not separated by white space: {match.group(0)}")
        if len(match.group(0)) > 75:
            problems.append(f"{where}: encoded-word of {len(match.group(0))} characters (at most 75)")
        charset, encoding, encoded = match.groups()
        try:
            data = (base64.b64decode(encoded, validate=True) if encoding in "Bb"
                    else quopri.decodestring(encoded.replace("_", " ").encode("ascii"), header=True))
            out.append(data.decode(charset.split("*")[0]))
        except (binascii.Error, LookupError, UnicodeDecodeError, ValueError):
            problems.append(f"{where}: encoded-word does not decode: {match.group(0)}")
        position = match.end()
        previous_was_word = True
    rest = value[position:]
    if "=?" in rest.replace("?=", ""):
        problems.append(f"{where}: '=?' outside a well-formed encoded-word")
    out.append(rest)
    return "".join(out)


def _no_encoded_word(f: Field, problems: list[str]) -> None:
    if "=?" in f.value:
        problems.append(f"{f.name}: encoded-word where RFC 2047 allows none: {f.value[:80]!r}")


# -- the top-level fields ------------------------------------------------------------------

def _check_top_fields(fields: list[Field], expected: Expected, problems: list[str]) -> None:
    by_key: dict[str, list[Field]] = {}
    for f in fields:
        by_key.setdefault(f.key, []).append(f)
        if f.key in NO_ENCODED_WORD:
            _no_encoded_word(f, problems)
        for bracketed in re.findall(r"<[^<>]*>", f.value):
            if "=?" in bracketed:
                problems.append(f"{f.name}: encoded-word inside <…>: {bracketed[:80]!r}")
    for key in ONCE:
        if len(by_key.get(key, [])) > 1:
            problems.append(f"{key}: {len(by_key[key])} times (SES accepts it once)")
    for key in REQUIRED:
        if key not in by_key:
            problems.append(f"{key}: missing")

    def one(key: str) -> Field | None:
        return by_key[key][0] if key in by_key else None

    sender = one("from")
    sender_domain = None
    if sender:
        match = _NAME_ADDR.match(sender.value)
        if not match:
            problems.append(f"From: not 'display name <address>': {sender.value!r}")
        else:
            sender_domain = match["addr"].rsplit("@", 1)[1]
            if match["addr"] != expected.sender_address:
                problems.append(f"From: address {match['addr']!r}, expected {expected.sender_address!r}")
            name = _phrase(match["phrase"], "From", problems)
            if name != expected.sender_name:
                problems.append(f"From: display name reads {name!r}, expected {expected.sender_name!r}")
    to = one("to")
    if to:
        match = _BARE_ADDRESS.match(to.value)
        if not match or match["addr"] != expected.to:
            problems.append(f"To: {to.value!r}, expected the bare address {expected.to!r}")
    subject = one("subject")
    if subject:
        text = decode_words(subject.value, "Subject", problems)
        if text != expected.subject:
            problems.append(f"Subject: reads {text!r}, expected {expected.subject!r}")
    date = one("date")
    if date:
        _check_date(date.value, problems)
    message_id = one("message-id")
    if message_id:
        match = _MESSAGE_ID.match(message_id.value)
        if not match:
            problems.append(f"Message-ID: not '<id@domain>': {message_id.value!r}")
        elif sender_domain and match["right"] != sender_domain:
            problems.append(f"Message-ID: domain {match['right']!r}, not the sender's {sender_domain!r}")
    list_id = one("list-id")
    if list_id:
        phrase, _, rest = list_id.value.rpartition("<")
        decode_words(phrase, "List-Id", problems)
        if not re.fullmatch(r"[A-Za-z0-9.-]+>", rest):
            problems.append(f"List-Id: not 'phrase <list.id>': {list_id.value!r}")
    _check_list_unsubscribe(one("list-unsubscribe"), one("list-unsubscribe-post"), expected, problems)
    mime_version = one("mime-version")
    if mime_version and mime_version.value != "1.0":
        problems.append(f"MIME-Version: {mime_version.value!r}, expected 1.0")
    for name, want in {"content-language": "da", **{k.lower(): v for k, v in expected.headers.items()}}.items():
        got = one(name)
        if got is None or got.value != want:
            problems.append(f"{name}: {got.value if got else None!r}, expected {want!r}")


def _phrase(phrase: str, where: str, problems: list[str]) -> str:
    """The display name a phrase (atoms, a quoted-string, or encoded-words) reads as."""
    if phrase.startswith('"') and phrase.endswith('"') and len(phrase) > 1:
        if "=?" in phrase:
            problems.append(f"{where}: encoded-word inside a quoted-string")
        return re.sub(r"\\(.)", r"\1", phrase[1:-1])
    if re.search(r"[()<>\[\]:;@\\,.\"]", phrase):
        problems.append(f"{where}: display name has specials but is not quoted: {phrase!r}")
    return decode_words(phrase, where, problems)


def _check_date(value: str, problems: list[str]) -> None:
    match = _DATE.match(value)
    if not match:
        problems.append(f"Date: not an RFC 5322 date-time with a numeric zone: {value!r}")
        return
    seconds = ":%S" if match["time"].count(":") == 2 else ""
    try:
        moment = datetime.strptime(f"{match['day']} {match['month']} {match['year']} {match['time']} "
                                   f"{match['zone']}", f"%d %b %Y %H:%M{seconds} %z")
    except ValueError:
        problems.append(f"Date: not a real date and time: {value!r}")
        return
    if match["dow"] and moment.strftime("%a") != match["dow"]:
        problems.append(f"Date: {match['dow']} is the wrong day of the week")


def _check_list_unsubscribe(field_: Field | None, post: Field | None, expected: Expected,
                            problems: list[str]) -> None:
    if expected.list_unsubscribe is None:
        if field_ or post:
            problems.append("List-Unsubscribe in a mail that should have none")
        return
    if field_ is None:
        problems.append("List-Unsubscribe: missing")
        return
    # Folding only after the comma between the two URIs, never inside one.
    for line in field_.lines[:-1]:
        if not line.endswith(","):
            problems.append(f"List-Unsubscribe: folded elsewhere than after the comma: {line!r}")
    match = _LIST_UNSUBSCRIBE.match(field_.value)
    if not match:
        problems.append(f"List-Unsubscribe: not literally '<https://…>, <mailto:…>': {field_.value[:100]!r}")
    elif (match["https"], match["mailto"]) != expected.list_unsubscribe:
        problems.append(f"List-Unsubscribe: {(match['https'], match['mailto'])}, "
                        f"expected {expected.list_unsubscribe}")
    if post is None or post.value != "List-Unsubscribe=One-Click":
        problems.append(f"List-Unsubscribe-Post: {post.value if post else None!r}, "
                        "expected 'List-Unsubscribe=One-Click' (RFC 8058)")


# -- the body ------------------------------------------------------------------------------

def _params(value: str) -> tuple[str, dict[str, str]]:
    """``type/subtype`` and its parameters (quoted or not), lower-cased names."""
    kind, _, rest = value.partition(";")
    params = {name.lower(): quoted if quoted else token
              for name, quoted, token in _PARAM.findall(";" + rest)}
    return kind.strip().lower(), params


def _parts(fields: list[Field], body: bytes, problems: list[str]) -> list[Part]:
    content_type = next((f.value for f in fields if f.key == "content-type"), "")
    kind, params = _params(content_type)
    if kind != "multipart/alternative":
        problems.append(f"Content-Type: {kind!r}, expected multipart/alternative")
        return []
    boundary = params.get("boundary", "")
    if not _BOUNDARY_CHARS.match(boundary):
        problems.append(f"Content-Type: boundary {boundary!r} is not an RFC 2046 boundary")
        return []
    delimiter = f"--{boundary}".encode("ascii")
    lines = body.split(CRLF)
    starts = [n for n, line in enumerate(lines) if line.rstrip(b" \t") == delimiter]
    closes = [n for n, line in enumerate(lines) if line.rstrip(b" \t") == delimiter + b"--"]
    if len(closes) != 1 or not starts or closes[0] < starts[-1]:
        problems.append("multipart body: no single closing delimiter after the parts")
        return []
    parts: list[Part] = []
    for start, end in zip(starts, [*starts[1:], closes[0]], strict=True):
        parts.append(_part(CRLF.join(lines[start + 1:end]), len(parts) + 1, problems))
    kinds = [_params(next((f.value for f in p.fields if f.key == "content-type"), ""))[0] for p in parts]
    if kinds != ["text/plain", "text/html"]:
        problems.append(f"parts: {kinds}, expected text/plain then text/html")
    return parts


def _part(raw: bytes, number: int, problems: list[str]) -> Part:
    head, separator, content = raw.partition(CRLF + CRLF)
    if not separator:
        problems.append(f"part {number}: no empty line between its header and content")
        return Part([], "")
    fields = _fields(head, problems)
    for f in fields:
        _no_encoded_word(f, problems)
    kind, params = _params(next((f.value for f in fields if f.key == "content-type"), ""))
    if params.get("charset", "").lower() != "utf-8":
        problems.append(f"part {number}: charset {params.get('charset')!r}, expected utf-8")
    encoding = next((f.value.lower() for f in fields if f.key == "content-transfer-encoding"), "7bit")
    try:
        if encoding == "quoted-printable":
            data = quopri.decodestring(content)
        elif encoding == "base64":
            data = base64.b64decode(content)
        elif encoding == "7bit":
            data = content
        else:
            problems.append(f"part {number}: transfer encoding {encoding!r} (SES: encode non-7-bit content)")
            data = content
        text = data.decode("utf-8").replace("\r\n", "\n")
    except (binascii.Error, UnicodeDecodeError) as problem:
        problems.append(f"part {number} ({kind}): does not decode: {problem}")
        text = ""
    return Part(fields, text)
