"""`passerelle import leads FILE [--dry-run]` (CONTRACT §2), run in this process with a
progress bar on stderr. Running it again on the same file resumes an unfinished import."""

from __future__ import annotations

import argparse
import hashlib
import os
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from crm.people.models import ConsentPurpose, LeadSource


def add_import_commands(commands: Any) -> None:
    imp = commands.add_parser(
        "import",
        help="import people from a CSV or XLSX file",
        description=(
            "Reads FILE (CSV with ',' ';' or tab, UTF-8 with or without BOM, or Windows-1252; "
            "or XLSX) and adds its people: new people are created, people already known (same "
            "phone or e-mail) get the new facts without anything being overwritten. Prints a "
            "summary and one line per refused row. Run it again on the same file to resume an "
            "interrupted import."
        ),
    )
    kinds = imp.add_subparsers(dest="import_kind", metavar="WHAT", required=True)
    leads = kinds.add_parser("leads", help="people (leads)")
    leads.add_argument("file", metavar="FILE", help="a .csv or .xlsx file")
    leads.add_argument(
        "--dry-run", action="store_true", help="check and report only: nothing is written"
    )
    leads.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help='map a column to a field ("GSM=phone", "Naam=last_name", "Remarks=ignore")',
    )
    leads.add_argument("--preset", metavar="NAME", help="use a saved mapping")
    leads.add_argument("--save-preset", metavar="NAME", help="save this mapping under NAME")
    leads.add_argument("--sheet", metavar="NAME", help="XLSX: the sheet to read (the first)")
    leads.add_argument(
        "--default-language",
        choices=["fr", "nl", "de"],
        help="for people whose row and postcode give no language",
    )
    leads.add_argument(
        "--source",
        choices=[s.value for s in LeadSource],
        help="how these people came to us when the file does not say (import)",
    )
    leads.add_argument(
        "--segment", action="append", default=[], metavar="CODE", help="add to every person"
    )
    leads.add_argument(
        "--consent",
        action="append",
        default=[],
        choices=[p.value for p in ConsentPurpose],
        metavar="PURPOSE",
        help="the file records this consent for every person (sms, telegram, email, "
        "share_with_partners); never assumed otherwise",
    )
    leads.add_argument("--consent-method", default="written", metavar="METHOD")
    leads.add_argument("--consent-text-version", metavar="VERSION")
    leads.add_argument(
        "--restart", action="store_true", help="start over instead of resuming this file"
    )
    leads.set_defaults(handler=_cmd_import_leads)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.default_language:
        options["default_language"] = args.default_language
    if args.source:
        options["source"] = args.source
    if args.segment:
        options["segments"] = args.segment
    if args.sheet:
        options["sheet"] = args.sheet
    if args.consent:
        options["consent"] = {"purposes": args.consent, "method": args.consent_method}
        if args.consent_text_version:
            options["consent"]["text_version"] = args.consent_text_version
    return options


def _cli_worker_id() -> str:
    return f"cli-{socket.gethostname()}-{os.getpid()}"


def _owner_is_dead(leased_by: str | None) -> bool:
    """The lease belongs to an import command on this machine that is no longer running."""
    prefix = f"cli-{socket.gethostname()}-"
    if not leased_by or not leased_by.startswith(prefix):
        return False
    pid = leased_by.removeprefix(prefix)
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def _read(path: Path) -> bytes:
    from crm.cli import CliError
    from crm.transfer.reader import check_size

    if not path.is_file():
        raise CliError(f"{path}: no such file")
    try:
        check_size(path.stat().st_size)  # before reading it all
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def _cmd_import_leads(args: argparse.Namespace) -> int:
    from crm.cli import CliError, _cli_actor, _note, _run, _with_db

    path = Path(args.file)
    content = _read(path)
    overrides: dict[str, str] = {}

    async def work() -> None:
        from crm.transfer import import_jobs, imports
        from crm.transfer.mapping import parse_map_option, resolve_mapping
        from crm.transfer.reader import detect_format, open_sheet

        for item in args.map:
            column, target = parse_map_option(item)
            overrides[column] = target
        actor = _cli_actor()
        options = _options(args)
        worker_id = _cli_worker_id()
        sha = hashlib.sha256(content).hexdigest()
        job = None
        if not args.dry_run:
            unfinished = await imports.find_unfinished(sha)
            if unfinished is not None and args.restart:
                await imports.cancel_job(unfinished, actor=actor)
                _note(f"job {unfinished.id} for this file cancelled; starting over")
            elif unfinished is not None:
                # Resume only what this command would do anew: same mapping and options.
                preset = await imports.get_preset(args.preset) if args.preset else None
                opts = {**(preset.options if preset else {}), **options}
                parsed = imports.parse_options(opts)
                sheet = open_sheet(content, detect_format(path.name, content), sheet=parsed.sheet)
                mapping = resolve_mapping(
                    sheet.header, preset=preset.mapping if preset else None, overrides=overrides
                )
                if mapping != unfinished.mapping or parsed.model_dump(mode="json") != (
                    unfinished.options
                ):
                    raise CliError(
                        f"import job {unfinished.id} of this file is unfinished with another "
                        "mapping or options: run the same command again to resume it, or add "
                        "--restart to start over"
                    )
                now = None
                if unfinished.lease_until is not None and _owner_is_dead(unfinished.leased_by):
                    # The command that ran it was killed: no need to wait for its lease.
                    now = unfinished.lease_until + timedelta(seconds=1)
                job = await import_jobs.claim_job(worker_id, job_id=unfinished.id, now=now)
                if job is None:
                    raise CliError(
                        f"import job {unfinished.id} of this file is being run by another "
                        f"process (lease until {unfinished.lease_until:%H:%M:%S} UTC); "
                        "try again then"
                    )
                _note(f"resuming job {job.id} at row {job.processed_rows + 1}")
        if job is None:
            job = await imports.create_job(
                filename=path.name,
                content=content,
                actor=actor,
                mapping=overrides,
                preset=args.preset,
                options=options,
                dry_run=args.dry_run,
            )
            job = await import_jobs.claim_job(worker_id, job_id=job.id)
            assert job is not None
        if job.error:
            _note(f"notice: {job.error}")
        if args.save_preset:
            await imports.save_preset(args.save_preset, job.mapping, job.options, actor=actor)
            _note(f"mapping saved as preset {args.save_preset!r}")
        await _run_with_bar(job, worker_id)
        await _print_report(job)

    return _run(_with_db(work))


async def _run_with_bar(job: Any, worker_id: str) -> None:
    from tqdm import tqdm

    from crm.transfer import import_jobs

    bar = tqdm(
        total=job.total_rows or 0,
        unit=" rows",
        file=sys.stderr,
        mininterval=0.5,
        dynamic_ncols=True,
        desc="dry run" if job.dry_run else "import",
    )
    seen = [0]

    def progress(done: int) -> None:
        if seen[0] == 0 and done:
            bar.n = done
            bar.last_print_n = done
            bar.refresh()
        else:
            bar.update(done - seen[0])
        seen[0] = done

    try:
        await import_jobs.run_job(job, worker_id, progress=progress)
    except BaseException:
        # Interrupted (Ctrl-C) or failed: the lease is given back so a new run resumes at once.
        await import_jobs.release(job, worker_id)
        raise
    finally:
        bar.close()


async def _print_report(job: Any) -> None:
    from crm.cli import CliError
    from crm.transfer.imports import refused_reports
    from crm.transfer.models import ImportStatus

    if job.status == ImportStatus.FAILED:
        raise CliError(f"{job.filename}: {job.error}")
    if job.dry_run:
        print(
            f"dry run of {job.filename} (job {job.id}, {job.total_rows} rows): "
            f"would create {job.created_count}, would update {job.updated_count}, "
            f"unchanged {job.unchanged_count}, refused {job.refused_count}; nothing was written"
        )
    else:
        print(
            f"import of {job.filename} (job {job.id}, {job.total_rows} rows): "
            f"{job.created_count} created, {job.updated_count} updated, "
            f"{job.unchanged_count} unchanged, {job.refused_count} refused"
        )
    async for report in refused_reports(job):
        print(f"row {report.row_number}: refused: {report.field}: {report.message}")
