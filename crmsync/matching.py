"""The built-in rules that recognise one company in two systems: same tax id, or same
normalised name in the same country. The ``match_customer`` hook is asked first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

LEGAL_FORMS = re.compile(
    r"\b(gmbh|ag|kg|ohg|se|ug|inc|incorporated|corp|corporation|co|company|ltd|limited|llc|plc|sa|sas|sarl|"
    r"srl|spa|bv|nv|ab|oy|as|kk|pte|pty|lp|llp)\b\.?",
)
CJK_LEGAL_FORMS = ("有限责任公司", "股份有限公司", "有限公司", "集团", "公司")


def normalise_name(name: str) -> str:
    """Case-, accent-, punctuation- and legal-form-insensitive form of a company or person name."""
    text = unicodedata.normalize("NFKD", name).casefold()
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for form in CJK_LEGAL_FORMS:
        text = text.replace(form, "")
    text = text.replace("&", " and ")
    text = LEGAL_FORMS.sub(" ", text)
    return re.sub(r"[\W_]+", "", text)


def normalise_tax_id(tax_id: str) -> str:
    return re.sub(r"[\s.\-/]+", "", tax_id).upper()


def hub_keys(record: Mapping[str, Any]) -> dict[str, str | None]:
    """The indexed match keys of a flat canonical record: ``tax_key`` and ``name_key``."""
    tax = record.get("tax_id")
    name = record.get("organization_name") or " ".join(
        str(p) for p in (record.get("first_name"), record.get("last_name")) if p)
    country = record.get("country") or record.get("billing_address.country") or ""
    tax_key = normalise_tax_id(str(tax))[:64] if tax else None
    norm = normalise_name(str(name)) if name else ""
    name_key = f"{norm}|{country}"[:191] if norm else None
    return {"tax_key": tax_key or None, "name_key": name_key}


__all__ = ["hub_keys", "normalise_name", "normalise_tax_id"]
