from __future__ import annotations

import json

from channels.sms_segments import (
    GSM_BASIC,
    GSM_EXTENSION,
    GSM_LOOKALIKES,
    MAX_BODY_CHARACTERS,
    SmsEncoding,
    count_segments,
    to_gsm_lookalikes,
)

EMOJI = "\N{GRINNING FACE}"  # U+1F600, outside the BMP: a surrogate pair in UTF-16


# --- the alphabet ------------------------------------------------------------------------


def test_basic_table_has_127_characters_besides_the_escape():
    assert len(GSM_BASIC) == 127
    assert "\x1b" not in GSM_BASIC


def test_extension_table_has_ten_characters():
    assert GSM_EXTENSION == frozenset("\f^{}\\[~]|€")


def test_capital_c_cedilla_is_basic_but_lower_case_is_not():
    assert "Ç" in GSM_BASIC
    assert "ç" not in GSM_BASIC


def test_every_printable_ascii_character_outside_the_extension_table_is_gsm_except_backtick():
    missing = {chr(c) for c in range(0x20, 0x7F)} - GSM_BASIC - GSM_EXTENSION
    assert missing == {"`"}


# --- GSM-7 -------------------------------------------------------------------------------


def test_empty_text_is_zero_segments_of_gsm7():
    info = count_segments("")
    assert info.encoding is SmsEncoding.GSM7
    assert (info.units, info.segments, info.characters) == (0, 0, 0)


def test_160_gsm_characters_fit_one_segment():
    info = count_segments("a" * 160)
    assert (info.encoding, info.units, info.segments, info.per_segment) == (
        SmsEncoding.GSM7,
        160,
        1,
        160,
    )


def test_161_gsm_characters_take_two_segments_of_153():
    info = count_segments("a" * 161)
    assert (info.segments, info.per_segment) == (2, 153)


def test_306_gsm_characters_take_two_segments():
    assert count_segments("a" * 306).segments == 2


def test_307_gsm_characters_take_three_segments():
    assert count_segments("a" * 307).segments == 3


def test_euro_sign_counts_two_septets():
    info = count_segments("€")
    assert (info.encoding, info.units, info.characters) == (SmsEncoding.GSM7, 2, 1)


def test_80_euro_signs_fit_one_segment():
    assert count_segments("€" * 80).segments == 1


def test_81_euro_signs_take_two_segments():
    # 162 septets; each part holds 76 euro signs (152 septets) since a pair cannot split
    assert count_segments("€" * 81).segments == 2


def test_escape_pair_straddling_the_153_boundary_moves_to_the_next_part():
    # 306 septets would be two parts of 153, but the € would take septets 153 and 154:
    # part 1 holds 152, part 2 the € and 151 "a", part 3 the last "a".
    text = "a" * 152 + "€" + "a" * 152
    info = count_segments(text)
    assert (info.units, info.segments) == (306, 3)


def test_escape_pair_ending_exactly_on_the_boundary_stays_in_the_part():
    text = "a" * 151 + "€" + "a" * 153  # part 1: 151 + 2 = 153, part 2: 153
    assert count_segments(text).segments == 2


# --- UCS-2 -------------------------------------------------------------------------------


def test_70_ucs2_characters_fit_one_segment():
    info = count_segments("ê" * 70)
    assert (info.encoding, info.units, info.segments, info.per_segment) == (
        SmsEncoding.UCS2,
        70,
        1,
        70,
    )


def test_71_ucs2_characters_take_two_segments_of_67():
    info = count_segments("ê" * 71)
    assert (info.segments, info.per_segment) == (2, 67)


def test_134_ucs2_characters_take_two_segments():
    assert count_segments("ê" * 134).segments == 2


def test_135_ucs2_characters_take_three_segments():
    assert count_segments("ê" * 135).segments == 3


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2():
    info = count_segments("a" * 100 + "ê")
    assert (info.encoding, info.units, info.segments) == (SmsEncoding.UCS2, 101, 2)


def test_euro_sign_counts_one_unit_in_ucs2():
    assert count_segments("€ê").units == 2


def test_emoji_counts_two_utf16_units():
    info = count_segments(EMOJI)
    assert (info.encoding, info.units, info.characters, info.segments) == (
        SmsEncoding.UCS2,
        2,
        1,
        1,
    )


def test_emoji_straddling_the_67_boundary_moves_to_the_next_part():
    # 134 units would be two parts of 67, but the emoji would take units 67 and 68:
    # part 1 holds 66, part 2 the emoji and 65 "x", part 3 the last "x".
    text = "x" * 66 + EMOJI + "x" * 66
    info = count_segments(text)
    assert (info.units, info.segments) == (134, 3)


def test_35_emoji_fit_one_segment():
    assert count_segments(EMOJI * 35).segments == 1


# --- the 1600-character limit ------------------------------------------------------------


def test_longest_gsm_body_takes_11_segments():
    info = count_segments("a" * MAX_BODY_CHARACTERS)
    # 10 parts of 153 hold 1530, the 70 left need an 11th
    assert (info.units, info.segments, info.per_segment) == (1600, 11, 153)


def test_longest_ucs2_body_takes_24_segments():
    info = count_segments("ê" * MAX_BODY_CHARACTERS)
    # 23 parts of 67 hold 1541, the 59 left need a 24th
    assert (info.units, info.segments, info.per_segment) == (1600, 24, 67)


def test_longest_emoji_body_takes_49_segments():
    info = count_segments(EMOJI * MAX_BODY_CHARACTERS)
    # 3200 units; a part holds 33 emoji (66 units): 48 parts hold 1584, 16 left need a 49th
    assert (info.units, info.characters, info.segments) == (3200, 1600, 49)


def test_longest_body_of_euro_signs_takes_22_segments():
    info = count_segments("€" * MAX_BODY_CHARACTERS)
    # 3200 septets; a part holds 76 euro signs: 21 parts hold 1596, 4 left need a 22nd
    assert (info.units, info.segments) == (3200, 22)


# --- French, Dutch and German ------------------------------------------------------------


def test_french_circumflex_switches_to_ucs2_and_reports_the_character():
    info = count_segments("Vous êtes prêt ?")
    assert info.encoding is SmsEncoding.UCS2
    assert info.non_gsm == ("ê",)
    assert info.replacements == {"ê": "e"}
    assert info.fully_replaceable


def test_replacing_look_alikes_brings_french_back_to_gsm7_with_fewer_segments():
    text = (
        "Bonjour Amina, vous êtes prête pour le rendez-vous de mercredi à 14 h ? "
        "Répondez OUI ou NON."
    )
    before = count_segments(text)
    after = count_segments(to_gsm_lookalikes(text))
    assert (before.encoding, before.segments) == (SmsEncoding.UCS2, 2)
    assert (after.encoding, after.segments) == (SmsEncoding.GSM7, 1)


def test_capital_c_cedilla_stays_gsm7():
    assert count_segments("Ça marche").encoding is SmsEncoding.GSM7


def test_lower_case_c_cedilla_switches_to_ucs2_with_c_as_look_alike():
    info = count_segments("ça marche")
    assert info.encoding is SmsEncoding.UCS2
    assert info.replacements == {"ç": "c"}
    assert to_gsm_lookalikes("ça marche") == "ca marche"


def test_dutch_o_diaeresis_stays_gsm7():
    assert count_segments("coöperatie").encoding is SmsEncoding.GSM7


def test_dutch_e_diaeresis_switches_to_ucs2():
    info = count_segments("België")
    assert info.encoding is SmsEncoding.UCS2
    assert info.replacements == {"ë": "e"}


def test_german_umlauts_and_sharp_s_stay_gsm7():
    assert count_segments("Grüße aus Köln, Ärger über Öl").encoding is SmsEncoding.GSM7


def test_non_gsm_characters_are_reported_once_in_order_of_appearance():
    assert count_segments("œuf, être, œil, ça").non_gsm == ("œ", "ê", "ç")


def test_gsm7_text_reports_no_non_gsm_characters():
    gsm = count_segments("Ça coute 5 €")
    assert (gsm.encoding, gsm.non_gsm, gsm.replacements) == (SmsEncoding.GSM7, (), {})


# --- look-alikes -------------------------------------------------------------------------


def test_oe_ligature_is_spelled_out():
    assert to_gsm_lookalikes("Œuvre, cœur") == "OEuvre, coeur"


def test_french_accents_without_gsm_form_lose_the_accent():
    assert to_gsm_lookalikes("âêîôû ëïüÿ ÂÊÎÔÛ ËÏ") == "aeiou eiüy AEIOU EI"


def test_accents_in_the_gsm_alphabet_are_kept():
    text = "éèàùìò É Ç äöüß ÄÖÜ ñ Ñ å Å ø Ø"
    assert to_gsm_lookalikes(text) == text


def test_typographic_punctuation_becomes_ascii():
    text = "«\u202fC’est „ok“ – vraiment…\u202f» • l‘été\u00a0!"
    assert to_gsm_lookalikes(text) == '" C\'est "ok" - vraiment... " - l\'été !'


def test_zero_width_joiner_in_emoji_sequences_is_kept():
    family = "\N{MAN}\u200d\N{WOMAN}\u200d\N{GIRL}"
    assert to_gsm_lookalikes(family) == family


def test_characters_without_look_alike_are_left_as_they_are():
    text = f"Привет مرحبا {EMOJI}"
    assert to_gsm_lookalikes(text) == text


def test_emoji_have_no_replacement_so_the_message_is_not_fully_replaceable():
    info = count_segments(f"Bravo {EMOJI} à bientôt")
    assert info.non_gsm == (EMOJI, "ô")
    assert info.replacements == {"ô": "o"}
    assert not info.fully_replaceable


def test_every_look_alike_replaces_a_non_gsm_character_by_basic_gsm_text():
    for char, replacement in GSM_LOOKALIKES.items():
        assert char not in GSM_BASIC and char not in GSM_EXTENSION, char
        assert set(replacement) <= GSM_BASIC, char


def test_fully_replaceable_text_becomes_gsm7():
    text = "".join(GSM_LOOKALIKES)
    assert count_segments(text).fully_replaceable
    assert count_segments(to_gsm_lookalikes(text)).encoding is SmsEncoding.GSM7


# --- for the UI --------------------------------------------------------------------------


def test_to_dict_is_json_serialisable():
    info = count_segments("Vous êtes prêt ? " + EMOJI)
    data = json.loads(json.dumps(info.to_dict()))
    assert data == {
        "encoding": "ucs2",
        "units": 19,
        "segments": 1,
        "per_segment": 70,
        "characters": 18,
        "non_gsm": ["ê", EMOJI],
        "replacements": {"ê": "e"},
        "fully_replaceable": False,
    }
