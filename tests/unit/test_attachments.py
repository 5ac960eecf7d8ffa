"""An attachment's type is told from its bytes, and its bytes are sealed at rest: readable with the key
that sealed them (or any older one still configured), for the case and content they were sealed for only."""

from __future__ import annotations

import base64
import hashlib

import pytest

from api.attachments.crypto import Sealed, open_sealed, seal
from domain.attachments import sniff
from domain.errors import DomainError
from domain.field_kinds import FieldKind, rules
from domain.processes.mental_health import MENTAL_HEALTH
from tests.codec_keys import KEYS
from tests.files import GIF, HTML_AS_PNG, pdf, png
from worker.codec import PayloadKeyError, PayloadKeys


def test_the_type_is_the_bytes_not_the_name() -> None:
    assert sniff(png()).media_type == "image/png"
    assert sniff(pdf()).media_type == "application/pdf"
    assert sniff(b"\xff\xd8\xff\xe0\x00\x10JFIF").media_type == "image/jpeg"
    for other in (GIF, HTML_AS_PNG, b"", b"PK\x03\x04"):
        with pytest.raises(DomainError) as e:
            sniff(other)
        assert e.value.code == "file_type_not_accepted" and "PDF、JPG或PNG" in e.value.message


def test_sealed_bytes_open_only_for_their_case_and_content() -> None:
    data = png("同意书")
    digest = hashlib.sha256(data).hexdigest()
    sealed = seal(KEYS, data, case_id=7, sha256=digest)
    assert data not in sealed.data and sealed.key_id == KEYS.active
    assert open_sealed(KEYS, sealed, case_id=7, sha256=digest) == data
    with pytest.raises(PayloadKeyError):
        open_sealed(KEYS, sealed, case_id=8, sha256=digest)  # moved to another case's row
    # A rotated key set (a new key first) still opens what the old key sealed.
    rotated = PayloadKeys.parse(PayloadKeys.generate("new1") + "," + f"{KEYS.ids[0]}:" + _b64(KEYS.secrets[0]))
    assert open_sealed(rotated, sealed, case_id=7, sha256=digest) == data
    with pytest.raises(PayloadKeyError):
        open_sealed(
            PayloadKeys.parse(PayloadKeys.generate("other")),
            Sealed("other", sealed.nonce, sealed.data),
            case_id=7,
            sha256=digest,
        )


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def test_the_consent_names_a_consent_form_which_is_clinical() -> None:
    field = next(f for f in MENTAL_HEALTH.attachment_fields() if f.name == "consent_form")
    assert (field.attachment, field.required, field.clinical) == ("consent_form", False, True)
    assert MENTAL_HEALTH.attachment_is_clinical("consent_form")
    assert "consent_form" in MENTAL_HEALTH.clinical_names()
    kind = rules(FieldKind.attachment)
    assert kind.clean(field, "12", None) == 12  # type: ignore[arg-type]
    for wrong in ("0", "abc", "-3"):
        with pytest.raises(DomainError):
            kind.clean(field, wrong, None)  # type: ignore[arg-type]
