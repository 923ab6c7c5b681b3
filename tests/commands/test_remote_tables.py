"""The client commands' tables show free text as it is, never as a terminal would reorder
or hide it: bidi controls and zero-width characters in a state appear as escapes; a version
or an actor is cut to its columns with an ellipsis, escapes and wide characters counted."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Console

from deploystatus.commands._output import field, records_table, shortened


def rendered(state: str) -> str:
    console = Console(record=True, width=200, color_system=None)
    record = {
        "Component": "abc.def",
        "Environment": "prod",
        "State": state,
        "Timestamp": "2024-07-30T14:06:41Z",
    }
    columns = [(name.upper(), field(name)) for name in ("Component", "Environment", "State")]
    console.print(records_table([record], columns))
    return console.export_text()


def test_bidi_and_zero_width_characters_in_a_state_are_shown_as_escapes() -> None:
    text = rendered("\u202eKO-deyolped \u2066x\u2069 O\u200bk\ufeff")
    assert "\\u202eKO-deyolped \\u2066x\\u2069 O\\u200bk\\ufeff" in text
    for hidden in "\u202e\u2066\u2069\u200b\ufeff":
        assert hidden not in text


def test_other_text_is_shown_as_it_is() -> None:
    assert "déploiement réussi [ok]" in rendered("déploiement réussi [ok]")


def test_a_detail_within_its_columns_is_whole_and_a_longer_one_ends_in_an_ellipsis() -> None:
    assert shortened("1.4.2", 10) == "1.4.2"
    assert shortened("2024.07.30", 10) == "2024.07.30"
    assert shortened("2024.07.30-1", 10) == "2024.07.3…"
    assert shortened("9fceb02d0ae598e95dc970b74767f19372d61af8", 10) == "9fceb02d0…"


def test_a_detail_is_cut_by_terminal_columns_not_characters() -> None:
    for text in ("版本二〇二四年七月", "relâche-🚀-canary", "\u202eevil-actor"):
        cut = shortened(text, 10)
        assert cell_len(cut) <= 10, (text, cut)
        assert cut.endswith("…")
    assert shortened("\u202eevil-actor", 10) == "\\u202eevi…"  # the escape, never the control
    assert shortened("版本二〇二四年七月", 10) == "版本二〇…"
