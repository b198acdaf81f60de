"""Secrets come only from the environment: no tracked file holds one, and nothing but
crm/config.py reads the environment in the application's packages."""

from __future__ import annotations

import ast
import re
import secrets
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What real credentials look like.
PATTERNS = {
    "Twilio account SID": re.compile(r"\bAC[0-9a-f]{32}\b"),
    "Twilio API key SID": re.compile(r"\bSK[0-9a-f]{32}\b"),
    "Twilio auth token": re.compile(r"(?i)auth_?token\W{1,6}[0-9a-f]{32}\b"),
    "Telegram bot token": re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{35}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "Passerelle token or key": re.compile(r"\b(?:pst|ppk)_[A-Za-z0-9_-]{43}\b"),
}
# Settings whose value is a secret: in .env.example they stay empty (or an obvious
# placeholder), commented out or not.
SECRET_SETTINGS = (
    "SECRET_KEY",
    "TWILIO_AUTH_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "POSTGRES_PASSWORD",
)
_PLACEHOLDER = re.compile(r"^(?:|your-[A-Za-z-]+|\d+:your-[A-Za-z-]+)$")


def looks_fake(value: str) -> bool:
    """A test's stand-in credential: made of very few distinct characters (AC000…, aaaa…) or
    saying what it is."""
    body = re.findall(r"[A-Za-z0-9_-]+", value)[-1]  # the credential itself
    body = body[2:] if body[:2] in ("AC", "SK") else body
    words = ("test", "fake", "example", "dummy", "standin", "bench", "placeholder")
    return len(set(body.lower())) <= 4 or any(w in value.lower() for w in words)


def findings(text: str) -> list[tuple[str, str]]:
    return [
        (kind, match.group(0))
        for kind, pattern in PATTERNS.items()
        for match in pattern.finditer(text)
        if kind == "private key" or not looks_fake(match.group(0))
    ]


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_the_detector_finds_real_looking_secrets_and_lets_obvious_fakes_pass():
    real = [
        "AC" + secrets.token_hex(16),
        "TWILIO_AUTH_TOKEN=" + secrets.token_hex(16),
        "7123456789:" + secrets.token_urlsafe(26)[:35],
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "pst_" + secrets.token_urlsafe(32),
    ]
    for value in real:
        assert findings(f"x = '{value}'"), value
    fake = ["AC" + "0" * 32, "123456:" + "A" * 35, "auth_token = '" + "f" * 32 + "'"]
    for value in fake:
        assert not findings(f"x = '{value}'"), value


def test_no_tracked_file_holds_a_secret():
    found = []
    for path in tracked_files():
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # images and the like
        found += [(path.relative_to(ROOT).as_posix(), *hit) for hit in findings(text)]
    assert not found, found


def test_no_env_file_or_key_file_is_tracked():
    names = [p.relative_to(ROOT).as_posix() for p in tracked_files()]
    assert not [n for n in names if Path(n).name == ".env" or n.endswith((".pem", ".key"))]


def test_env_example_leaves_every_secret_empty():
    text = (ROOT / ".env.example").read_text()
    for name in SECRET_SETTINGS:
        values = re.findall(rf"^#?\s*{name}=(.*)$", text, re.M)
        assert values, f"{name} is not in .env.example"
        for value in values:
            assert _PLACEHOLDER.match(value.strip()), f"{name}={value}"


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "environb", "getenv"):
            if isinstance(node.value, ast.Name) and node.value.id in ("os", "posix"):
                lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
            if any(alias.name in ("environ", "environb", "getenv") for alias in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "getenv":
                lines.append(node.lineno)
    return lines


def test_only_the_settings_read_the_environment():
    readers = {}
    for package in ("crm", "channels", "campaigns"):
        for path in (ROOT / package).rglob("*.py"):
            lines = _reads_environment(ast.parse(path.read_text(), filename=str(path)))
            if lines:
                readers[path.relative_to(ROOT).as_posix()] = lines
    assert set(readers) <= {"crm/config.py"}, readers
    assert "crm/config.py" in readers  # the check does see a reader
