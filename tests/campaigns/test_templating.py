from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaigns.templating import (
    VARIABLE_HELP,
    VARIABLES,
    check_message,
    check_messages,
    compile_messages,
    event_variables,
    person_context,
    render,
    sample_context,
    story_variables,
    used_variables,
)
from crm.errors import InvalidInput

INVITATION = {
    "fr": "Bonjour {{ first_name }} ! {{ agent.first_name }} vous invite à {{ event.title }} "
    "le {{ event.starts_at }}.\n{{ opt_out }}",
    "nl": "Hallo {{ first_name }}! {{ agent.first_name }} nodigt u uit voor {{ event.title }} "
    "op {{ event.starts_at }}.\n{{ opt_out }}",
    "de": "Hallo {{ first_name }}! {{ agent.first_name }} lädt Sie zur {{ event.title }} "
    "am {{ event.starts_at }} ein.\n{{ opt_out }}",
}
# 1 December 2026 is a Tuesday; 13:00 UTC is 14:00 in Brussels (winter time).
STARTS_AT = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)


def refusal(source: str, language: str = "fr") -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_messages({language: source})
    assert caught.value.field == f"messages.{language}"
    return caught.value


def someone(language: str, **overrides) -> dict:
    values = {
        "first_name": "Yousra",
        "last_name": "El Idrissi",
        "agent_first_name": "Karim",
        "event": event_variables(
            title="Infosessie", starts_at=STARTS_AT, place="Gent", language=language
        ),
        "story": None,
        "opt_out": "STOP",
    }
    return person_context(**(values | overrides))


# --- rendering -----------------------------------------------------------------------------


def test_renders_each_language_with_the_persons_values():
    templates = compile_messages(INVITATION)

    assert render(templates["fr"], someone("fr")) == (
        "Bonjour Yousra ! Karim vous invite à Infosessie le mardi 1 décembre à 14:00.\nSTOP"
    )
    assert render(templates["nl"], someone("nl")) == (
        "Hallo Yousra! Karim nodigt u uit voor Infosessie op dinsdag 1 december om 14:00.\nSTOP"
    )
    assert render(templates["de"], someone("de")) == (
        "Hallo Yousra! Karim lädt Sie zur Infosessie am Dienstag, 1. Dezember um 14:00 ein.\nSTOP"
    )


def test_missing_event_renders_empty_and_if_event_is_false():
    source = "Bonjour {{ first_name }} {{ event.title }}!\n{% if event %}Rendez-vous{% endif %}"
    template = compile_messages({"fr": source})["fr"]

    without = someone("fr", event=None, agent_first_name=None)

    assert render(template, without) == "Bonjour Yousra !"
    assert render(template, someone("fr")) == "Bonjour Yousra Infosessie!\nRendez-vous"


def test_render_strips_trailing_spaces_and_collapses_blank_lines():
    source = "  Bonjour {{ first_name }}   \n\n\n\n{% if story %}x{% endif %}\n\n\nFin  \n"
    template = compile_messages({"fr": source})["fr"]

    assert render(template, someone("fr")) == "Bonjour Yousra\n\nFin"


def test_string_methods_on_plain_values_are_allowed():
    source = "{{ first_name.upper() }} {{ event.title|lower }} {{ story.town|default('?') }}"

    assert check_message("fr", source) == []
    assert render(compile_messages({"fr": source})["fr"], someone("fr")) == "YOUSRA infosessie ?"


def test_sample_context_is_realistic_per_language():
    for language, first_name, town in (("fr", "Amina", "Bruxelles"), ("nl", "Sofie", "Gent")):
        sample = sample_context(language)
        assert sample["first_name"] == first_name
        assert sample["agent"] == {"first_name": "Karim"}
        assert town in sample["event"]["place"]
        assert sample["story"]["entrepreneur"]
    assert sample_context("de")["opt_out"] == "STOP zum Abmelden"


def test_every_documented_variable_has_help():
    documented = {
        name if attrs is None else f"{name}.{attr}"
        for name, attrs in VARIABLES.items()
        for attr in (attrs or [None])
    }
    assert documented == {name for name, _ in VARIABLE_HELP}


# --- refusals ------------------------------------------------------------------------------


def test_syntax_error_names_its_line():
    error = refusal("Bonjour\n{{ first_name }}\n{{ first_name }")

    assert error.message == "line 3: unexpected '}'"


def test_unknown_variable_is_refused_with_its_name():
    error = refusal("Bonjour {{ prenom }}")

    assert error.message.startswith("line 1: unknown variable 'prenom'; known: first_name,")


def test_unknown_attribute_of_a_known_object_is_refused():
    error = refusal("Hi\n{{ agent.last_name }}", language="nl")

    assert error.message.startswith("line 2: unknown variable 'agent.last_name'")


def test_unknown_filter_is_refused_with_its_line():
    error = refusal("Hi\n\n{{ first_name|shout }}")

    assert error.message == "line 3: No filter named 'shout'."


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ first_name.__class__ }}",
        "{{ first_name['__class__'] }}",
        "{{ first_name|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_escape_is_refused(source):
    error = refusal(source, language="de")

    assert "is not allowed" in error.message


def test_include_is_refused():
    error = refusal("Hallo\n{% include 'x' %}", language="de")

    assert error.message == "line 2: {% include %} is not allowed in a message"


def test_range_and_other_globals_are_unknown():
    error = refusal("{% for i in range(1000000000) %}x{% endfor %}")

    assert "unknown variable 'range'" in error.message


def test_huge_multiplication_is_refused():
    error = refusal("Bonjour\n{{ 'x' * 100000000 }}")

    assert error.message.startswith("line 2: not allowed: a text or list longer than")


def test_power_operator_is_refused():
    assert "'**'" in refusal("{{ 10 ** 100000 }}").message


def test_text_doubled_with_tilde_is_refused():
    source = "{% set a = 'x' * 5000 %}" + "{% set a = a ~ a %}" * 30 + "{{ a }}"

    assert "a text or list longer than" in refusal(source).message


def test_formatting_and_padding_methods_are_refused():
    assert "calling 'format'" in refusal("{{ '{:>999999999}'.format(first_name) }}").message
    assert "calling 'ljust'" in refusal("{{ first_name.ljust(999999999) }}").message


def test_nested_loops_are_refused():
    error = refusal("{% for a in first_name %}{% for b in first_name %}x{% endfor %}{% endfor %}")

    assert error.message == "line 1: loops inside loops are not allowed in a message"


def test_slow_template_is_refused():
    # About 10,000 x 20 replacements of 10,000 characters: seconds without the time guard.
    busy = "{% set t = s.replace('x', 'y') %}" * 20
    source = "{% set s = 'x' * 10000 %}{% for c in s %}" + busy + "{% endfor %}Bonjour"

    assert "taking more than" in refusal(source).message


def test_runtime_error_is_refused_with_its_line():
    error = refusal("Bonjour\n{{ first_name }}\n{{ 1/0 }}")

    assert error.message == "line 3: division by zero"


def test_template_that_needs_an_event_is_refused_for_a_person_without_one():
    error = refusal("Bonjour\n{{ event.starts_at.split(' ')[0] }}")

    assert error.message.startswith("line 2: for a person without agent, event or story:")


def test_empty_message_is_refused():
    assert refusal(" \n ").message == "the message is empty"


def test_message_that_renders_empty_is_refused():
    assert refusal("{% if false %}x{% endif %}").message == "the message renders empty"


def test_message_over_4000_characters_is_refused():
    assert "longer than 4000" in refusal("x" * 4001).message


def test_unknown_language_key_is_refused():
    with pytest.raises(InvalidInput) as caught:
        check_messages({"fr": "Bonjour", "en": "Hello"})

    assert caught.value.field == "messages"
    assert "'en'" in caught.value.message


def test_no_message_is_refused():
    with pytest.raises(InvalidInput) as caught:
        check_messages({})

    assert caught.value.field == "messages"


def test_check_message_lists_problems_with_language_and_line():
    [problem] = check_message("nl", "Hallo\n{{ voornaam }}")

    assert (problem.language, problem.line) == ("nl", 2)
    assert problem.detail().startswith("line 2: unknown variable 'voornaam'")


# --- variables -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "starts_at", "date"),
    [
        ("fr", "mardi 1 décembre à 14:00", "mardi 1 décembre"),
        ("nl", "dinsdag 1 december om 14:00", "dinsdag 1 december"),
        ("de", "Dienstag, 1. Dezember um 14:00", "Dienstag, 1. Dezember"),
    ],
)
def test_event_variables_use_the_business_time_zone(language, starts_at, date):
    values = event_variables(title="Info", starts_at=STARTS_AT, place=None, language=language)

    assert values == {
        "title": "Info",
        "starts_at": starts_at,
        "date": date,
        "time": "14:00",
        "place": "",
    }


def test_story_variables_turn_missing_values_into_empty_text():
    values = story_variables(title="T", text="X", entrepreneur="Ali", sector=None, town=None)

    assert values == {"title": "T", "text": "X", "entrepreneur": "Ali", "sector": "", "town": ""}


def test_used_variables_lists_top_level_names():
    messages = {
        "fr": "Bonjour {{ first_name }}, {{ story.title }}",
        "nl": "{% set x = 1 %}{% if event %}{{ event.place }}{{ x }}{% endif %}{{ opt_out }}",
    }

    assert used_variables(messages) == {"first_name", "story", "event", "opt_out"}
