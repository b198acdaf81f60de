"""Belgian geography: postcode → region → default language and public employment service."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Region(StrEnum):
    BRUSSELS = "brussels"
    FLANDERS = "flanders"
    WALLONIA = "wallonia"
    GERMAN_SPEAKING = "german_speaking"


@dataclass(frozen=True)
class RegionInfo:
    region: Region
    label: str
    default_language: str | None  # Brussels is bilingual: the person must choose fr or nl
    employment_service: str


REGIONS: dict[Region, RegionInfo] = {
    Region.BRUSSELS: RegionInfo(Region.BRUSSELS, "Brussels-Capital", None, "Actiris"),
    Region.FLANDERS: RegionInfo(Region.FLANDERS, "Flanders", "nl", "VDAB"),
    Region.WALLONIA: RegionInfo(Region.WALLONIA, "Wallonia", "fr", "Forem"),
    Region.GERMAN_SPEAKING: RegionInfo(
        Region.GERMAN_SPEAKING, "German-speaking Community", "de", "ADG"
    ),
}

# (first, last, region), by the bpost postcode plan.
_RANGES: tuple[tuple[int, int, Region], ...] = (
    (1000, 1299, Region.BRUSSELS),
    (1300, 1499, Region.WALLONIA),  # Walloon Brabant
    (1500, 3999, Region.FLANDERS),  # Flemish Brabant, Antwerp, Limburg
    (4700, 4791, Region.GERMAN_SPEAKING),  # the nine German-speaking municipalities
    (4000, 7999, Region.WALLONIA),  # Liège, Namur, Hainaut, Luxembourg
    (8000, 9999, Region.FLANDERS),  # West and East Flanders
)


def postcode_languages() -> list[tuple[int, int, str]]:
    """(first, last, default language) for every postcode range whose region has one (Brussels
    has none), first match wins: what a form needs to pre-fill a language from a postcode."""
    return [
        (first, last, REGIONS[region].default_language)
        for first, last, region in _RANGES
        if REGIONS[region].default_language
    ]


def normalize_postcode(raw: str) -> str:
    """Return a 4-digit Belgian postcode or raise ValueError."""
    value = raw.strip().upper().removeprefix("B-").removeprefix("BE-").strip()
    if not (len(value) == 4 and value.isdigit() and 1000 <= int(value) <= 9999):
        raise ValueError("must be a Belgian postcode of four digits (1000-9999)")
    return value


def region_for_postcode(postcode: str) -> Region:
    number = int(normalize_postcode(postcode))
    for first, last, region in _RANGES:
        if first <= number <= last:
            return region
    raise ValueError("unknown Belgian postcode")  # unreachable for 1000-9999


def info_for_postcode(postcode: str) -> RegionInfo:
    return REGIONS[region_for_postcode(postcode)]


def apply_postcode(values: dict, *, set_language: bool = True) -> None:
    """Normalise `values["postcode"]` in place and fill `region` (and an empty `language` with
    the region's default). Raises InvalidInput naming `postcode`. Used by every entry point."""
    from crm.errors import InvalidInput

    if values.get("postcode") is None:
        if "postcode" in values:
            values["region"] = None
        return
    try:
        values["postcode"] = normalize_postcode(values["postcode"])
    except ValueError as exc:
        raise InvalidInput(str(exc), field="postcode") from None
    info = info_for_postcode(values["postcode"])
    values["region"] = info.region
    if set_language and not values.get("language") and info.default_language:
        values["language"] = info.default_language
