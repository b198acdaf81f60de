"""Campaign messages: one Jinja2 text per language (fr, nl, de), checked before it is stored.

Marketing staff write these texts, so they run in a sandbox that knows only the documented
variables, and every mistake is refused when the campaign is saved (422 naming the language and
the line) rather than discovered in the middle of a run that sends to 100,000 people."""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import jinja2
from babel.dates import format_date, format_time
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError, TemplateSyntaxError
from jinja2.filters import FILTERS
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from channels.texts import language_or_default
from channels.texts import text as channel_text
from crm.config import settings
from crm.errors import InvalidInput

LANGUAGES = ("fr", "nl", "de")
MAX_SOURCE_CHARS = 4000
MAX_RENDERED_CHARS = 4096  # Telegram's limit for one message; no SMS should come near it
MAX_VALUE_CHARS = 10_000  # any text or list a template builds: * + ~ join replace
MAX_NUMBER = 10**12  # repeated `n * n` would otherwise grow numbers without bound
CHECK_SECONDS = 0.5  # a trial render takes well under a millisecond; a loop trick takes longer

VARIABLES: dict[str, frozenset[str] | None] = {
    "first_name": None,
    "last_name": None,
    "agent": frozenset({"first_name"}),
    "event": frozenset({"title", "starts_at", "date", "time", "place"}),
    "story": frozenset({"title", "text", "entrepreneur", "sector", "town"}),
    "opt_out": None,
}

VARIABLE_HELP: list[tuple[str, str]] = [
    ("first_name", "The person's first name"),
    ("last_name", "The person's last name (may be empty)"),
    ("agent.first_name", "First name of the community agent who met the person"),
    ("event.title", "Title of the person's info session or event"),
    ("event.starts_at", "Date and time of the event, e.g. 'mardi 1 décembre à 14:00'"),
    ("event.date", "Date of the event alone, e.g. 'mardi 1 décembre'"),
    ("event.time", "Time of the event alone, e.g. '14:00'"),
    ("event.place", "Where the event takes place"),
    ("story.title", "Title of the success story"),
    ("story.text", "Text of the success story"),
    ("story.entrepreneur", "Name of the entrepreneur in the story"),
    ("story.sector", "Business sector of the story (may be empty)"),
    ("story.town", "Town of the story (may be empty)"),
    ("opt_out", "How to stop receiving messages, in the person's language"),
]
_KNOWN = ", ".join(name for name, _ in VARIABLE_HELP)


@dataclass(frozen=True)
class TemplateProblem:
    """One thing wrong with the message of one language; `line` is None when not tied to one."""

    language: str
    line: int | None
    message: str

    def detail(self) -> str:
        """The problem as staff read it: "line 3: unexpected '}'"."""
        return f"line {self.line}: {self.message}" if self.line else self.message


def _cap(size: int) -> None:
    if size > MAX_VALUE_CHARS:
        raise SecurityError(f"a text or list longer than {MAX_VALUE_CHARS} characters")


def _replace(value: Any, old: Any, new: Any, count: int | None = None) -> str:
    # The size is computed before replacing: `text|replace('', long_text)` would otherwise
    # allocate len(text) * len(long_text) characters before any check could run.
    value, old, new = str(value), str(old), str(new)
    times = value.count(old) if old else len(value) + 1
    if count is not None and count >= 0:
        times = min(times, count)
    _cap(len(value) + times * (len(new) - len(old)))
    return value.replace(old, new, -1 if count is None else count)


def _join(value: Iterable[Any], separator: str = "") -> str:
    items = [str(item) for item in value]
    _cap(sum(map(len, items)) + len(str(separator)) * max(len(items) - 1, 0))
    return str(separator).join(items)


# Text filters only: the rest (format, center, indent, wordwrap, batch, map, attr, tojson…)
# either are useless in an SMS or can build huge texts from a short template.
_FILTERS = (
    "abs capitalize count d default first float int last length list lower max min reverse "
    "round sort string title trim truncate unique upper wordcount"
).split()
_STR_METHODS = "capitalize count endswith find lower lstrip replace rstrip split splitlines"
_SAFE_METHODS: tuple[tuple[type, frozenset[str]], ...] = (
    (str, frozenset(f"{_STR_METHODS} startswith strip title upper".split())),
    (dict, frozenset({"get", "items", "keys", "values"})),
    (LoopContext, frozenset({"cycle", "changed"})),
)


class _MessageCodeGenerator(CodeGenerator):
    """Routes `~` through the environment so that joined text is capped like `+` and `*`:
    `{% set a = a ~ a %}` thirty times would otherwise need gigabytes."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_capped((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _MessageEnvironment(ImmutableSandboxedEnvironment):
    code_generator_class = _MessageCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("the power operator '**'")
        if operator == "%" and isinstance(left, str):
            raise SecurityError("formatting text with '%'; join text with ~")
        sequences = (str, list, tuple)
        if operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
            _cap(len(left) + len(right))
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, sequences) and isinstance(times, int):
                    _cap(len(seq) * times)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, int | float) and abs(result) > MAX_NUMBER:
            raise SecurityError(f"a number larger than {MAX_NUMBER}")
        return result

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Only a few harmless methods: str.format, str.ljust(10**9) and the like are not.
        owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
        if not any(isinstance(owner, kind) and name in names for kind, names in _SAFE_METHODS):
            raise SecurityError(f"calling {name or type(obj).__name__!r}")
        if isinstance(owner, str) and name == "replace":
            # Jinja adds its own bookkeeping keywords for Context.call; drop them here.
            for bookkeeping in ("_loop_vars", "_block_vars"):
                kwargs.pop(bookkeeping, None)
            return _replace(owner, *args, **kwargs)
        return super().call(context, obj, *args, **kwargs)

    def concat_capped(self, values: Iterable[Any]) -> str:
        parts = [str(value) for value in values]
        _cap(sum(map(len, parts)))
        return "".join(parts)


# Autoescape stays off: these are SMS and Telegram texts, not HTML. Plain Undefined lets
# `{{ event.title }}` render empty for a person without an event. trim/lstrip_blocks make a
# `{% if %}` on its own line leave no blank line behind.
_ENV = _MessageEnvironment(
    autoescape=False, undefined=jinja2.Undefined, trim_blocks=True, lstrip_blocks=True
)
_ENV.globals.clear()  # range, dict, lipsum, cycler, joiner, namespace: none is needed in a text
_ENV.filters = {name: FILTERS[name] for name in _FILTERS} | {"join": _join, "replace": _replace}

# Statements that would reach other templates or build code; `{% set x = … %}` stays allowed,
# the block form is refused because its body can double a text at every step.
_REFUSED: dict[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.AssignBlock: "{% set %}…{% endset %} (use {% set name = value %})",
}


def _static_problems(language: str, ast: nodes.Template) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []
    bound = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    if next(ast.find_all(nodes.For), None) is not None:
        bound.add("loop")

    def refuse(node: nodes.Node, message: str) -> None:
        problems.append(TemplateProblem(language, node.lineno, message))

    def member(node: nodes.Node, owner: nodes.Node, key: str) -> None:
        if key.startswith("_"):
            refuse(node, f"access to '{key}' is not allowed")
        elif isinstance(owner, nodes.Name) and owner.name not in bound:
            allowed = VARIABLES.get(owner.name)
            if allowed is not None and key not in allowed:
                refuse(node, f"unknown variable '{owner.name}.{key}'; known: {_KNOWN}")

    for node in ast.find_all(nodes.Node):
        if type(node) in _REFUSED:
            refuse(node, f"{_REFUSED[type(node)]} is not allowed in a message")
        elif isinstance(node, nodes.For):
            if node.recursive:
                refuse(node, "recursive loops are not allowed in a message")
            if next(node.find_all(nodes.For), None) is not None:
                refuse(node, "loops inside loops are not allowed in a message")
        elif isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name not in VARIABLES and node.name not in bound:
                refuse(node, f"unknown variable '{node.name}'; known: {_KNOWN}")
        elif isinstance(node, nodes.Getattr):
            member(node, node.node, node.attr)
        elif isinstance(node, nodes.Getitem):
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                member(node, node.node, node.arg.value)
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            key = node.args[0]
            if isinstance(key, nodes.Const) and str(key.value).startswith("_"):
                refuse(node, f"access to '{key.value}' is not allowed")
    return sorted(problems, key=lambda p: p.line or 0)


def _template_line(exc: BaseException) -> int | None:
    # Jinja rewrites the traceback so that template frames carry the template's own lines.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>"]
    return frames[-1].lineno if frames else None


def _trial_render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """Renders like `render`, but stops a text that grows too long or takes too long."""
    deadline = time.monotonic() + CHECK_SECONDS

    def on_line(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise SecurityError(f"a render taking more than {CHECK_SECONDS} s")
        return on_line

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        return on_line if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        parts, size = [], 0
        for part in template.generate(context):
            parts.append(part)
            size += len(part)
            if size > MAX_VALUE_CHARS:
                raise SecurityError(f"a message longer than {MAX_VALUE_CHARS} characters")
    finally:
        sys.settrace(previous)
    return _tidy("".join(parts))


def _check(language: str, source: str) -> tuple[list[TemplateProblem], jinja2.Template | None]:
    def problem(line: int | None, message: str) -> list[TemplateProblem]:
        return [TemplateProblem(language, line, message)]

    if not source or not source.strip():
        return problem(None, "the message is empty"), None
    if len(source) > MAX_SOURCE_CHARS:
        return problem(None, f"the message is longer than {MAX_SOURCE_CHARS} characters"), None
    try:
        ast = _ENV.parse(source)
        problems = _static_problems(language, ast)
        if problems:
            return problems, None
        template = _ENV.from_string(ast)  # unknown filters and tests fail here
    except TemplateSyntaxError as exc:
        return problem(exc.lineno, exc.message or str(exc)), None
    # A person without an agent, event or story must not break the message either.
    for context, prefix in (
        (sample_context(language), ""),
        (_bare_context(language), "for a person without agent, event or story: "),
    ):
        try:
            rendered = _trial_render(template, context)
        except SecurityError as exc:
            return problem(_template_line(exc), f"{prefix}not allowed: {exc}"), None
        except Exception as exc:  # ZeroDivisionError, UndefinedError, TypeError…
            reason = str(exc) or type(exc).__name__
            return problem(_template_line(exc), prefix + reason), None
        if not rendered and not prefix:
            return problem(None, "the message renders empty"), None
        if len(rendered) > MAX_RENDERED_CHARS:
            return problem(
                None, f"{prefix}the message is over {MAX_RENDERED_CHARS} characters"
            ), None
    return [], template


def check_message(language: str, source: str) -> list[TemplateProblem]:
    """Every problem found in one language's message, earliest line first ([] when fine)."""
    return _check(language, source)[0]


def compile_messages(messages: dict[str, str]) -> dict[str, jinja2.Template]:
    """Checks the messages (like `check_messages`) and returns one template per language.

    A run calls this once and renders each person with the same compiled templates; checking
    again here costs milliseconds and refuses a stored message that predates a rule."""
    if not messages:
        raise InvalidInput("at least one message is needed (fr, nl or de)", field="messages")
    for language in messages:
        if language not in LANGUAGES:
            raise InvalidInput(f"unknown language '{language}'; use fr, nl or de", field="messages")
    compiled: dict[str, jinja2.Template] = {}
    for language, source in messages.items():
        problems, template = _check(language, source)
        if problems or template is None:
            raise InvalidInput(problems[0].detail(), field=f"messages.{language}")
        compiled[language] = template
    return compiled


def check_messages(messages: dict[str, str]) -> None:
    """Raises InvalidInput (422, field `messages.<language>`) for the first problem found."""
    compile_messages(messages)


def _tidy(rendered: str) -> str:
    # Cheap membership tests first: most messages need none of these passes.
    if "\r" in rendered:
        rendered = rendered.replace("\r\n", "\n")
    if " \n" in rendered or "\t\n" in rendered:
        rendered = "\n".join(line.rstrip(" \t") for line in rendered.split("\n"))
    while "\n\n\n" in rendered:
        rendered = rendered.replace("\n\n\n", "\n\n")
    return rendered.strip()


def render(template: jinja2.Template, context: dict[str, Any]) -> str:
    """One person's text: stripped, trailing spaces removed, at most one blank line in a row."""
    return _tidy(template.render(context))


def used_variables(messages: dict[str, str]) -> set[str]:
    """Top-level variables the messages use, e.g. {"first_name", "story"}, so that a run loads
    events and stories only when a message needs them. Unparsable messages are skipped."""
    used: set[str] = set()
    for source in messages.values():
        try:
            ast = _ENV.parse(source)
        except TemplateSyntaxError:
            continue
        used |= {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"} & VARIABLES.keys()
    return used


_DATE_PATTERNS = {"fr": "EEEE d MMMM", "nl": "EEEE d MMMM", "de": "EEEE, d. MMMM"}
_AT = {"fr": "à", "nl": "om", "de": "um"}


def event_variables(
    *, title: str, starts_at: datetime, place: str | None, language: str
) -> dict[str, str]:
    """`event.*` values; the start in the business time zone, e.g. "mardi 1 décembre à 14:00"."""
    lang = language_or_default(language)
    if starts_at.tzinfo is None:  # the database stores UTC
        starts_at = starts_at.replace(tzinfo=UTC)
    local = starts_at.astimezone(settings.tz)
    # No year: an invitation is for the coming weeks, and the year only lengthens the SMS.
    day = format_date(local.date(), _DATE_PATTERNS[lang], locale=lang)
    hour = format_time(local.time(), "short", locale=lang)
    return {
        "title": title,
        "starts_at": f"{day} {_AT[lang]} {hour}",
        "date": day,
        "time": hour,
        "place": place or "",
    }


def story_variables(
    *, title: str, text: str, entrepreneur: str, sector: str | None, town: str | None
) -> dict[str, str]:
    """`story.*` values, missing ones as ""."""
    return {
        "title": title,
        "text": text,
        "entrepreneur": entrepreneur,
        "sector": sector or "",
        "town": town or "",
    }


def person_context(
    *,
    first_name: str,
    last_name: str | None,
    agent_first_name: str | None,
    event: dict[str, str] | None,
    story: dict[str, str] | None,
    opt_out: str,
) -> dict[str, Any]:
    """What one person's message is rendered with. Missing objects are {} so that
    `{{ event.title }}` renders empty and `{% if event %}` is false."""
    return {
        "first_name": first_name,
        "last_name": last_name or "",
        "agent": {"first_name": agent_first_name} if agent_first_name else {},
        "event": event or {},
        "story": story or {},
        "opt_out": opt_out,
    }


_SAMPLE_START = datetime(2025, 12, 2, 13, 0, tzinfo=UTC)  # a Tuesday, 14:00 in Brussels
# first name|last name|event title|place|story title|text|entrepreneur|sector|town
_SAMPLES: dict[str, list[str]] = {
    "fr": "Amina|Benali|Séance d'info|Maison de l'entreprise, rue de Laeken 76, Bruxelles|"
    "Le food truck de Yasmine|Avec un microcrédit de 8 000 € et un coach, Yasmine a ouvert son "
    "food truck.|Yasmine|Restauration|Molenbeek-Saint-Jean".split("|"),
    "nl": "Sofie|Peeters|Infosessie|Ondernemershuis, Sint-Pietersnieuwstraat 12, Gent|"
    "De fietsenwinkel van Jonas|Met een microkrediet van 6 000 € en gratis begeleiding opende "
    "Jonas zijn winkel.|Jonas|Fietsherstelling|Gent".split("|"),
    "de": "Lena|Schmitz|Infoveranstaltung|Haus der Unternehmer, Gospertstraße 5, Eupen|"
    "Die Schneiderei von Maria|Mit einem Mikrokredit von 5 000 € und Begleitung eröffnete Maria "
    "ihre Schneiderei.|Maria|Schneiderei|Eupen".split("|"),
}


def sample_context(language: str) -> dict[str, Any]:
    """Realistic values in one language, for the editor's preview and the trial render."""
    lang = language_or_default(language)
    first, last, event, place, story, story_text, entrepreneur, sector, town = _SAMPLES[lang]
    return person_context(
        first_name=first,
        last_name=last,
        agent_first_name="Karim",
        event=event_variables(title=event, starts_at=_SAMPLE_START, place=place, language=lang),
        story=story_variables(
            title=story, text=story_text, entrepreneur=entrepreneur, sector=sector, town=town
        ),
        opt_out=channel_text("opt_out_hint_sms", lang),
    )


def _bare_context(language: str) -> dict[str, Any]:
    return sample_context(language) | {"last_name": "", "agent": {}, "event": {}, "story": {}}
