"""`passerelle export …` and `passerelle user grant-export|revoke-export EMAIL`.

The command line acts as an admin of the whole organisation (whoever runs it can read the
database anyway), so it sees everyone and every column."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

DATASETS = ("leads", "interactions", "referrals", "campaign-results", "campaign-recipients")


def add_export_commands(commands: Any) -> None:
    from crm.cli import _positive_int

    export = commands.add_parser(
        "export",
        help="export people, interactions, referrals or campaign results to CSV or XLSX",
        description=(
            "Writes FILE as CSV (UTF-8 with BOM, ';' by default) or XLSX, by its extension. "
            "Cells that start with =, +, - or @ are escaped with a leading apostrophe. "
            "Values of one filter combine with OR (repeat it or separate with commas), "
            "filters with AND."
        ),
    )
    export.add_argument("dataset", choices=DATASETS, metavar="DATASET", help=" | ".join(DATASETS))
    export.add_argument("file", metavar="FILE", help="path ending in .csv or .xlsx")
    for name, metavar in (
        ("stage", "STAGE"),
        ("language", "LANG"),
        ("segment", "CODE"),
        ("postcode", "NNNN"),
        ("region", "REGION"),
        ("status", "STATUS"),
    ):
        export.add_argument(f"--{name}", action="append", metavar=metavar)
    for name in ("event-id", "partner-id", "agent-id", "campaign-id"):
        export.add_argument(f"--{name}", type=_positive_int, metavar="N")
    export.add_argument("--created-since", metavar="YYYY-MM-DD", help="first day included")
    export.add_argument("--created-until", metavar="YYYY-MM-DD", help="last day included")
    export.add_argument("--search", metavar="TEXT", help="name, e-mail or phone (leads)")
    export.add_argument(
        "--delimiter",
        choices=[";", ","],
        default=";",
        help="CSV separator: ';' (default: Excel in Belgium opens it by double-click) or ','",
    )
    export.set_defaults(handler=_cmd_export)

    user = commands.add_parser("user", help="manage a user's permissions")
    actions = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    grant = actions.add_parser("grant-export", help="allow a staff user to export data")
    grant.add_argument("email", metavar="EMAIL")
    grant.set_defaults(handler=_cmd_export_permission, allowed=True)
    revoke = actions.add_parser("revoke-export", help="take the export permission away")
    revoke.add_argument("email", metavar="EMAIL")
    revoke.set_defaults(handler=_cmd_export_permission, allowed=False)


def _filters_from(args: argparse.Namespace) -> dict[str, Any]:
    from crm.transfer.export_filters import DATE_FILTERS, ID_FILTERS, LIST_FILTERS

    values: dict[str, Any] = {name: getattr(args, name) for name in LIST_FILTERS + DATE_FILTERS}
    for name in ID_FILTERS:
        value = getattr(args, name)
        values[name] = str(value) if value is not None else None
    values["q"] = args.search
    return values


def _cmd_export(args: argparse.Namespace) -> int:
    from crm.cli import CliError, _cli_actor, _run, _with_db

    path = Path(args.file)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        raise CliError(f"{args.file}: the file name must end in .csv or .xlsx")
    if not path.parent.is_dir():
        raise CliError(f"{args.file}: the folder {str(path.parent)!r} does not exist")

    async def work() -> None:
        import campaigns.export  # noqa: F401 - registers the campaign exports
        from crm.errors import DomainError
        from crm.transfer import exports
        from crm.transfer.export_filters import parse_filters

        try:
            request = exports.ExportRequest(
                args.dataset, fmt, parse_filters(_filters_from(args)), args.delimiter
            )
            rows = await exports.export_to_file(_cli_actor(), request, path)
        except DomainError as exc:
            # Name the option as it was typed (`--created-since`), not the API's field.
            if exc.field:
                option = "search" if exc.field == "q" else exc.field.replace("_", "-")
                raise CliError(f"--{option}: {exc.message}") from None
            raise
        unit = exports.get_dataset(args.dataset).unit
        print(f"exported {rows} {unit} to {path}", flush=True)

    return _run(_with_db(work))


def _cmd_export_permission(args: argparse.Namespace) -> int:
    from crm.cli import _cli_actor, _run, _with_db

    async def work() -> None:
        from crm.enums import Role
        from crm.transfer.export_permission import set_export_permission

        user = await set_export_permission(args.email, args.allowed, actor=_cli_actor())
        state = "may now export" if args.allowed else "may no longer export"
        note = " (admins always may)" if user.role == Role.ADMIN and not args.allowed else ""
        print(f"{user.email} {state}{note}", flush=True)

    return _run(_with_db(work))
