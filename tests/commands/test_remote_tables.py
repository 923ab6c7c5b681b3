"""The client commands' tables show free text as it is, never as a terminal would reorder
or hide it: bidi controls and zero-width characters in a state appear as escapes."""

from __future__ import annotations

from rich.console import Console

from deploystatus.commands._output import field, records_table


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
