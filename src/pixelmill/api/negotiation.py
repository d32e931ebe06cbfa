"""Content negotiation: which of the media types a route can send the client's `Accept` prefers.

    quality(accept, media_type)   the q the header gives a media type (0-1)
    preferred(accept, offers)     the offer with the highest q; ties and no header: the first

A media type takes the q of the most specific range that matches it (`image/png` before
`image/*` before `*/*`), so `image/png;q=0, */*` refuses PNG and accepts everything else. A q
that is not a number counts as 0; one outside 0-1 is clipped. Parameters other than q are
ignored.
"""

from __future__ import annotations

from collections.abc import Sequence


def quality(accept: str, media_type: str) -> float:
    """The q of the most specific media range in `accept` that matches `media_type`."""
    kind, _, subtype = media_type.lower().partition("/")
    best: tuple[int, float] = (-1, 0.0)
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        range_kind, _, range_subtype = media.lower().partition("/")
        if (range_kind, range_subtype) == (kind, subtype):
            specificity = 2
        elif (range_kind, range_subtype) == (kind, "*"):
            specificity = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            specificity = 0
        else:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value)))
                except ValueError:
                    q = 0.0
        if specificity > best[0]:
            best = (specificity, q)
    return best[1]


def preferred(accept: str | None, offers: Sequence[str]) -> str:
    """The offer `accept` ranks highest; the earliest on a tie, and the first with no header.

    An `Accept` that refuses every offer still gets the first: the routes answer with their
    default rather than 406.
    """
    if not accept or not accept.strip():
        return offers[0]
    return max(offers, key=lambda offer: quality(accept, offer))
