"""Text normalisation, applied once to every transcript before any offset is computed.

All character offsets in :class:`nokoding.document.Document` point into the text *after*
these steps, in this order:

1. **BOM removed**: U+FEFF is dropped wherever it occurs (a byte-order mark at the start,
   a zero-width no-break space elsewhere).
2. **Line ends unified**: CRLF and lone CR become LF; U+0085 (NEL), U+2028 (line
   separator), vertical tab and form feed become LF; U+2029 (paragraph separator) becomes
   a blank line (two LFs).
3. **Invisible characters removed**: zero-width space/joiners (U+200B–U+200D), word joiner
   (U+2060), soft hyphen (U+00AD), bidirectional marks and embeddings (U+200E, U+200F,
   U+202A–U+202E, U+2066–U+2069), and C0/C1 control characters other than tab and LF.
4. **Unusual spaces become a plain space**: no-break space (U+00A0), narrow no-break
   space (U+202F), figure space (U+2007), the typographic spaces U+2000–U+200A, U+205F,
   U+3000 and U+1680.
5. **Unicode NFC** (canonical composition, Unicode Standard Annex #15): "a" + combining
   ring above (U+030A) becomes "å", so æøå typed on a Mac (NFD) and on Windows (NFC) are
   the same string and tokenise the same.

Nothing else changes: case, punctuation, tabs, repeated spaces and blank lines are kept,
so the normalised text is the transcript as a person reads it. The function is
idempotent: ``normalize_text(normalize_text(s)) == normalize_text(s)``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["normalize_text"]

_LINE_ENDS = re.compile(r"\r\n?|[\u0085\u2028\u000b\u000c]")

_REMOVE = (
    [0xFEFF, 0x200B, 0x200C, 0x200D, 0x2060, 0x00AD, 0x200E, 0x200F]
    + list(range(0x202A, 0x202F))
    + list(range(0x2066, 0x206A))
    + [c for c in range(0x20) if c not in (0x09, 0x0A, 0x0B, 0x0C, 0x0D)]
    + [c for c in range(0x7F, 0xA0) if c != 0x85]
)
_SPACES = [0x00A0, 0x202F, 0x2007, 0x205F, 0x3000, 0x1680, *range(0x2000, 0x200B)]

_TABLE: dict[int, str | None] = {c: None for c in _REMOVE}
_TABLE.update({c: " " for c in _SPACES})
_TABLE[0x2029] = "\n\n"


def normalize_text(text: str) -> str:
    """Return ``text`` normalised as described in this module's docstring.

    Args:
        text: any decoded text.

    Returns:
        The normalised text (may be shorter or, for U+2029, longer than the input).
    """
    text = _LINE_ENDS.sub("\n", text)
    text = text.translate(_TABLE)
    return unicodedata.normalize("NFC", text)
