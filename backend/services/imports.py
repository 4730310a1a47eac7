"""Bulk import of firms, sites and listings from CSV or XLSX (one row per listing).

The import is planned in full before anything is written: every row is parsed and checked, and the
reply lists every problem by row and column. A real run writes only when there is no problem at all,
inside the caller's transaction, so a file is imported whole or not at all. Rows upsert by natural key
(park code + firm name, firm + site name, firm + listing ``ref``): importing the same file twice changes
nothing the second time.
"""

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from backend import policy
from backend.errors import FieldConflict, InvalidInput
from backend.geo import coarse
from backend.kb import check_material_and_unit
from backend.models import Firm, Listing, Park, Site
from backend.policy import Actor
from backend.schemas import FirmCreate, ImportIssue, ImportSummary, ListingCreate, SiteCreate
from backend.services import listings as listings_svc
from backend.services.listings import _check_semantics, data_quality

COLUMNS = ("park", "firm", "industry_code", "contact_name", "contact_phone", "contact_email", "site",
           "site_address", "site_access", "site_industries", "lat", "lon", "ref", "kind", "material", "quantity",
           "unit", "period", "available_from", "available_to", "price", "disposal_cost", "logistics", "visibility",
           "status", "attributes", "hw_code", "description", "version")
REQUIRED = ("firm", "industry_code", "site", "lat", "lon")
LISTING_COLUMNS = ("kind", "material", "quantity", "unit")
PREVIEW_ROWS = 50
UNKNOWN_YET = 1  # a valid id standing in for the firm or site a row will get (rows are checked before writing)
FIRM_FIELDS = ("industry_code", "contact_name", "contact_phone", "contact_email")
SITE_FIELDS = ("address", "lat", "lon", "access", "industry_codes")
SITE_COLUMN = {"name": "site", "address": "site_address", "access": "site_access", "industry_codes": "site_industries"}
LISTING_FIELDS = ("kind", "material", "quantity", "unit", "period", "available_from", "available_to",
                  "attributes", "price", "disposal_cost", "logistics", "visibility", "status", "hw_code",
                  "description")


class ImportRejected(InvalidInput):
    """A real run found problems: nothing was written. Carries the dry-run summary with every problem."""

    def __init__(self, summary: ImportSummary) -> None:
        super().__init__([{"loc": ["file", "row", e.row, e.column] if e.row else ["file", e.column or ""],
                           "msg": e.msg, "type": "import_error"} for e in summary.errors],
                         f"{len(summary.errors)} problem(s) in the file; nothing was imported")
        self.summary = summary


# --- reading files -------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput.at(("body", "file"), "the CSV is neither UTF-8 nor GB18030 text")


def read_table(data: bytes, filename: str, *, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Return (header, [(row number as a spreadsheet shows it, cells)]) from CSV or XLSX bytes.

    Rows are counted as they are read: a file with more than ``max_rows`` data rows is refused (422,
    ``too_many_rows``) at the first row over the limit, so a small compressed workbook that unpacks to
    hundreds of thousands of rows is never parsed whole."""
    if not data.strip():
        raise InvalidInput.at(("body", "file"), "the file is empty")
    if filename.lower().endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return _read_xlsx(data, max_rows)
    if b"\x00" in data[:4096]:
        raise InvalidInput.at(("body", "file"), "the file is binary, not CSV; upload .csv or .xlsx")
    text = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        reader = csv.reader(io.StringIO(text), dialect)
        header = [h.strip().lower() for h in next(reader, [])]
        rows: list[tuple[int, list[str]]] = []
        for i, r in enumerate(reader):
            if any(c.strip() for c in r):
                _count_row(len(rows), max_rows)
                rows.append((i + 2, [c.strip() for c in r]))
    except csv.Error as exc:
        raise InvalidInput.at(("body", "file"), f"malformed CSV: {exc}") from exc
    return header, rows


# An XLSX file is a zip archive: its parts may unpack to at most this much, whatever the compressed size
# (a zip bomb is refused from the archive's directory, before any XML is parsed) ...
XLSX_MAX_UNPACKED_BYTES = 64 * 1024 * 1024
# ... and only this many columns of the first sheet are read (the import's own columns number 28).
XLSX_MAX_COLUMNS = 64


def _count_row(already: int, max_rows: int) -> None:
    if already >= max_rows:
        msg = f"the file has more than {max_rows} rows, the limit per import"
        raise InvalidInput([{"loc": ["body", "file"], "msg": msg, "type": "too_many_rows",
                             "ctx": {"limit": max_rows}}], msg)


def _bad_xlsx(detail: str) -> InvalidInput:
    return InvalidInput.at(("body", "file"), f"not a readable XLSX workbook: {detail}", "bad_xlsx")


def _read_xlsx(data: bytes, max_rows: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise _bad_xlsx(str(exc)) from exc
    if unpacked > XLSX_MAX_UNPACKED_BYTES:
        raise InvalidInput.at(("body", "file"), f"the workbook unpacks to {unpacked} bytes, more than the "
                              f"{XLSX_MAX_UNPACKED_BYTES} byte limit", "xlsx_unpacks_too_large")
    rows: list[list[str]] = []
    data_rows = 0
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise _bad_xlsx("it has no worksheet")
            for values in workbook.worksheets[0].iter_rows(values_only=True, max_col=XLSX_MAX_COLUMNS):
                cells = [_cell(v) for v in values]
                if rows and any(cells):
                    _count_row(data_rows, max_rows)
                    data_rows += 1
                rows.append(cells)
        finally:
            workbook.close()
    except InvalidInput:
        raise
    except Exception as exc:  # openpyxl and the XML parser raise many kinds (ParseError, KeyError, zlib.error, ...)
        raise _bad_xlsx(f"{type(exc).__name__}: {exc}") from exc
    header = [h.lower() for h in rows[0]] if rows else []
    while header and not header[-1]:
        header.pop()
    return header, [(i + 2, r) for i, r in enumerate(rows[1:]) if any(r)]


# --- planning ------------------------------------------------------------------------------------------
@dataclass
class _Plan:
    summary: ImportSummary
    issues: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    firms: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    sites: dict[tuple[int, str, str], dict[str, Any]] = field(default_factory=dict)
    listings: list[tuple[int, str, str, dict[str, Any]]] = field(default_factory=list)
    # matched to what exists (``_plan_writes``): None where the import creates
    firm_rows: dict[tuple[int, str], Firm | None] = field(default_factory=dict)
    site_rows: dict[tuple[int, str, str], Site | None] = field(default_factory=dict)
    rows: list["_ListingRow"] = field(default_factory=list)

    def error(self, row: int | None, column: str | None, msg: str, code: str | None = None,
              values: dict[str, Any] | None = None) -> None:
        self.issues.append(ImportIssue(row=row, column=column, msg=msg, code=code,
                                       values={k: str(v) for k, v in (values or {}).items()}))


def _number(text: str) -> float:
    return float(text.replace(",", "").replace(" ", ""))


def _attributes(text: str) -> dict[str, float]:
    if not text:
        return {}
    if text.lstrip().startswith("{"):
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError("attributes JSON must be an object")
        return {str(k): float(v) for k, v in parsed.items()}
    out: dict[str, float] = {}
    for part in text.replace("；", ";").split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"'{part.strip()}' is not key=value")
        out[key.strip()] = _number(value)
    return out


def _pydantic_issues(plan: _Plan, row: int, exc: ValidationError, columns: dict[str, str]) -> None:
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else None
        plan.error(row, columns.get(name or "", name), err["msg"])


def _rows(header: list[str], rows: list[tuple[int, list[str]]]) -> Iterator[tuple[int, dict[str, str]]]:
    for number, cells in rows:
        yield number, {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header) if name}


def plan_import(*, session: Session, actor: Actor | None, data: bytes, filename: str,
                park_id: int | None = None, dry_run: bool, max_rows: int) -> _Plan:
    plan = _Plan(summary=ImportSummary(dry_run=dry_run, ok=False, rows=0))
    header, rows = read_table(data, filename, max_rows=max_rows)
    plan.summary.rows = len(rows)
    unknown = [h for h in header if h and h not in COLUMNS]
    for name in unknown:
        plan.error(1, name, f"unknown column '{name}'; columns are: {', '.join(COLUMNS)}")
    needed = (*REQUIRED, *(() if park_id is not None else ("park",)))
    for name in needed:
        if name not in header:
            plan.error(1, name, f"missing column '{name}'")
    if len([h for h in header if h]) != len({h for h in header if h}):
        plan.error(1, None, "a column name appears twice")
    if not rows:
        plan.error(None, None, "the file has a header but no data rows")
    if plan.issues:
        return plan

    parks_by_code = {p.code: p for p in session.scalars(select(Park))}
    parks_by_id = {p.id: p for p in parks_by_code.values()}
    if park_id is not None and park_id not in parks_by_id:
        plan.error(None, "park", f"park {park_id} does not exist")
        return plan
    seen_refs: dict[tuple[int, str, str], int] = {}
    for number, raw in _rows(header, rows):
        n_before = len(plan.issues)
        park = parks_by_id.get(park_id) if park_id is not None and not raw.get("park") else \
            parks_by_code.get(raw.get("park", ""))
        if park is None:
            plan.error(number, "park", f"unknown park code '{raw.get('park', '')}'")
            continue
        if actor is not None and not policy.can_create_firm_in(actor, park.id or 0):
            plan.error(number, "park", f"you do not manage park '{park.code}'")
            continue
        firm_fields = {"name": raw.get("firm", ""), "industry_code": raw.get("industry_code", ""),
                       "park_id": park.id, "contact_name": raw.get("contact_name") or None,
                       "contact_phone": raw.get("contact_phone") or None,
                       "contact_email": raw.get("contact_email") or None}
        try:
            firm_in = FirmCreate.model_validate(firm_fields)
        except ValidationError as exc:
            _pydantic_issues(plan, number, exc, {"name": "firm"})
            continue
        try:
            lat, lon = _number(raw.get("lat", "")), _number(raw.get("lon", ""))
        except ValueError:
            plan.error(number, "lat" if not _is_number(raw.get("lat", "")) else "lon", "not a number")
            continue
        try:
            access = sorted(set(_cell_list(raw.get("site_access", ""))))
            site_in = SiteCreate.model_validate({"firm_id": UNKNOWN_YET, "name": raw.get("site", ""), "lat": lat,
                                                 "lon": lon, "address": raw.get("site_address") or None,
                                                 "access": access,
                                                 "industry_codes": _cell_list(raw.get("site_industries", ""))})
        except ValidationError as exc:
            _pydantic_issues(plan, number, exc, SITE_COLUMN)
            continue
        firm_key = (park.id or 0, firm_in.name)
        firm_row = firm_in.model_dump() | {"_row": number}
        earlier = plan.firms.setdefault(firm_key, firm_row)
        for f in FIRM_FIELDS:
            if earlier[f] != firm_row[f] and firm_row[f] is not None:
                plan.error(number, f, f"differs from row {earlier['_row']} for the same firm")
        site_key = (park.id or 0, firm_in.name, site_in.name)
        site_row = {"name": site_in.name, "address": site_in.address, "lat": site_in.lat, "lon": site_in.lon,
                    "access": site_in.access, "industry_codes": site_in.industry_codes, "_row": number}
        earlier_site = plan.sites.setdefault(site_key, site_row)
        for f in SITE_FIELDS:
            if earlier_site[f] != site_row[f] and site_row[f] is not None \
                    and (f not in ("access", "industry_codes") or site_row[f]):
                plan.error(number, SITE_COLUMN.get(f, f), f"differs from row {earlier_site['_row']} for the same site")
        ref = raw.get("ref")
        if ref:
            key = (park.id or 0, firm_in.name, ref)
            if key in seen_refs:
                plan.error(number, "ref", f"ref '{ref}' repeats row {seen_refs[key]} for the same firm")
            seen_refs.setdefault(key, number)
        if any(raw.get(c) for c in (*LISTING_COLUMNS, "ref")):
            listing = _plan_listing(plan, number, raw)
            if listing is not None and len(plan.issues) == n_before:
                plan.listings.append((park.id or 0, firm_in.name, site_in.name, listing | {"_row": number}))
    return plan


def _cell_list(text: str) -> list[str]:
    """A ``;``-separated cell (``；`` too) as its non-empty items."""
    return [a.strip() for a in text.replace("；", ";").split(";") if a.strip()]


def _is_number(text: str) -> bool:
    try:
        _number(text)
        return True
    except ValueError:
        return False


def _plan_listing(plan: _Plan, number: int, raw: dict[str, str]) -> dict[str, Any] | None:
    for name in LISTING_COLUMNS:
        if not raw.get(name):
            plan.error(number, name, f"'{name}' is needed for a listing row")
    if any(not raw.get(n) for n in LISTING_COLUMNS):
        return None
    values: dict[str, Any] = {"site_id": UNKNOWN_YET}
    for name in ("ref", "kind", "material", "unit", "period", "available_from", "available_to", "logistics",
                 "visibility", "status", "hw_code", "description"):
        if raw.get(name):
            values[name] = raw[name]
    for name in ("quantity", "price", "disposal_cost"):
        if raw.get(name):
            try:
                values[name] = _number(raw[name])
            except ValueError:
                plan.error(number, name, f"'{raw[name]}' is not a number")
    version = None
    if raw.get("version"):
        try:
            version = int(raw["version"])
            if not 1 <= version < 2**31:
                raise ValueError
        except ValueError:
            plan.error(number, "version", f"'{raw['version']}' is not a listing version (a whole number from 1)")
    try:
        values["attributes"] = _attributes(raw.get("attributes", ""))
    except (ValueError, json.JSONDecodeError) as exc:
        plan.error(number, "attributes", f"cannot read attributes: {exc}")
    if any(i.row == number for i in plan.issues):
        return None
    values.setdefault("status", "active")
    try:
        listing_in = ListingCreate.model_validate(values)
    except ValidationError as exc:
        _pydantic_issues(plan, number, exc, {})
        return None
    fields = listing_in.model_dump()
    try:
        check_material_and_unit(fields["material"], fields["unit"])
        warning = _check_semantics(fields)
    except InvalidInput as exc:
        for err in exc.errors:
            plan.error(number, str(err["loc"][-1]), err["msg"], str(err.get("type") or ""), err.get("ctx"))
        return None
    if warning is not None:
        plan.warnings.append(ImportIssue(
            row=number, column="quantity", code=warning.code,
            values={"value": f"{warning.value:,.0f}", "typical_max": f"{warning.typical_max:,.0f}",
                    "unit": warning.unit},
            msg=(f"{warning.value:,.0f} {warning.unit}/yr is above what a typical large plant states "
                 f"({warning.typical_max:,.0f} {warning.unit}/yr): accepted, please check")))
    fields.pop("site_id")
    return fields | {"_version": version}


# --- applying ------------------------------------------------------------------------------------------
def _differs(obj: Any, values: dict[str, Any], names: tuple[str, ...]) -> bool:
    return any(getattr(obj, n) != values[n] for n in names)


def require_importer(actor: Actor) -> None:
    """Who may import firms, sites and listings: park managers and admins (checked before a file is read)."""
    policy.require(actor.is_admin or actor.role == "park_manager", "only park managers and admins import")


def run_import(*, session: Session, actor: Actor | None, data: bytes, filename: str, park_id: int | None = None,
               dry_run: bool = True, max_rows: int = 20_000) -> ImportSummary:
    """Plan the import; on a real run with no problems, write it. See the module docstring.

    A row's ``ref`` matches an existing listing of its firm only if the caller may edit that listing
    (``policy.can_edit_listing``; the CLI, without an actor, edits all): any other ref reads as unknown, so
    a dry run answers for it exactly as for a ref nobody uses. Changes of existing listings go through
    ``services.listings`` (``check_change``, ``write_change``) with the rows locked on a real run, under the
    rules of ``PATCH /listings``: a row that would cut a listing below what its deals commit, change what they
    hold or overwrite a newer version (the optional ``version`` column) is a problem of that row."""
    if actor is not None:
        require_importer(actor)
    plan = plan_import(session=session, actor=actor, data=data, filename=filename, park_id=park_id,
                       dry_run=dry_run, max_rows=max_rows)
    summary = plan.summary
    if not plan.issues:
        _plan_writes(session, actor, plan, dry_run=dry_run)
    summary.errors = sorted(plan.issues, key=lambda i: (i.row or 0, i.column or ""))
    summary.warnings = plan.warnings
    summary.ok = not plan.issues
    if not summary.ok:
        if dry_run:
            summary.preview = []
            return summary
        raise ImportRejected(summary)
    if not dry_run:
        _write(session, plan)
    return summary


@dataclass
class _ListingRow:
    row: int
    park: int
    firm_name: str
    site_name: str
    values: dict[str, Any]
    existing: Listing | None = None
    change: listings_svc.ListingChange | None = None


def _plan_writes(session: Session, actor: Actor | None, plan: _Plan, *, dry_run: bool) -> None:
    """Match the plan to what exists, count creates and updates, and check every change of an existing
    listing (locked first on a real run); problems go to ``plan.issues``. Writes nothing."""
    summary = plan.summary
    firms: dict[tuple[int, str], Firm | None] = {}
    for (park, name), values in plan.firms.items():
        firm = session.scalar(select(Firm).where(Firm.park_id == park, Firm.name == name))
        firms[(park, name)] = firm
        if firm is None:
            summary.firms_created += 1
        elif _differs(firm, values, FIRM_FIELDS):
            summary.firms_updated += 1
    sites: dict[tuple[int, str, str], Site | None] = {}
    for (park, firm_name, site_name), values in plan.sites.items():
        firm = firms[(park, firm_name)]
        site = None if firm is None else \
            session.scalar(select(Site).where(Site.firm_id == firm.id, Site.name == site_name))
        sites[(park, firm_name, site_name)] = site
        if site is None:
            summary.sites_created += 1
        elif _differs(site, values, SITE_FIELDS):
            summary.sites_updated += 1

    rows: list[_ListingRow] = []
    hidden: list[_ListingRow] = []
    for park, firm_name, site_name, values in plan.listings:
        item = _ListingRow(values["_row"], park, firm_name, site_name, values)
        firm, ref = firms[(park, firm_name)], values.get("ref")
        if firm is not None and ref:
            found = session.scalar(select(Listing).where(Listing.firm_id == firm.id, Listing.ref == ref))
            if found is not None and (actor is None or policy.can_edit_listing(actor, found, firm)):
                item.existing = found
            elif found is not None:
                hidden.append(item)  # unknown to this caller: a dry run answers as for a free ref
        rows.append(item)
    if not dry_run:
        for item in hidden:  # the one thing a real run cannot do: give a second listing the same ref
            plan.error(item.row, "ref", f"ref '{item.values['ref']}' cannot be used for firm "
                                        f"'{item.firm_name}'; choose another", "ref_unavailable")
        locked = listings_svc.lock_listings(session, [i.existing.id or 0 for i in rows if i.existing])
        for item in rows:
            if item.existing is not None:
                item.existing = locked[item.existing.id or 0]  # read again under the lock
    for item in rows:
        values, existing = item.values, item.existing
        site = sites[(item.park, item.firm_name, item.site_name)]
        if existing is None:
            action = "create"
            summary.listings_created += 1
        elif _differs(existing, values, LISTING_FIELDS) or site is None or existing.site_id != site.id:
            action = "update"
            summary.listings_updated += 1
            changes = {f: values[f] for f in LISTING_FIELDS if getattr(existing, f) != values[f]}
            try:
                item.change = listings_svc.check_change(session, existing, changes,
                                                        expected_version=values.get("_version"))
            except (InvalidInput, FieldConflict) as exc:
                _row_problem(plan, item.row, exc)
        else:
            action = "unchanged"  # nothing to write, so nothing to lose whatever version the row read
            summary.unchanged += 1
        if len(summary.preview) < PREVIEW_ROWS:
            summary.preview.append({"row": item.row, "action": action, "firm": item.firm_name,
                                    "site": item.site_name, "ref": values.get("ref"), "kind": values["kind"],
                                    "material": values["material"], "quantity": values["quantity"],
                                    "unit": values["unit"]})
    plan.rows = rows
    plan.firm_rows, plan.site_rows = firms, sites


def _row_problem(plan: _Plan, row: int, exc: InvalidInput | FieldConflict) -> None:
    if isinstance(exc, FieldConflict):
        plan.error(row, exc.field, exc.message, exc.code, exc.values)
        return
    for err in exc.errors:
        plan.error(row, str(err["loc"][-1]), err["msg"], str(err.get("type") or ""), err.get("ctx"))


def _write(session: Session, plan: _Plan) -> None:
    """Write a checked plan (a real run without problems), inside the caller's transaction."""
    firms: dict[tuple[int, str], Firm] = {}
    for key, values in plan.firms.items():
        firm = plan.firm_rows[key]
        if firm is None:
            firm = Firm.model_validate({k: v for k, v in values.items() if not k.startswith("_")})
        else:
            firm.sqlmodel_update({f: values[f] for f in FIRM_FIELDS})
        firms[key] = firm
    session.add_all(firms.values())
    session.flush()
    sites: dict[tuple[int, str, str], Site] = {}
    for (park, firm_name, site_name), values in plan.sites.items():
        site = plan.site_rows[(park, firm_name, site_name)]
        place = {"coarse_lat": coarse(values["lat"]), "coarse_lon": coarse(values["lon"])}
        if site is None:
            site = Site(firm_id=firms[(park, firm_name)].id or 0, name=site_name, address=values["address"],
                        lat=values["lat"], lon=values["lon"], access=values["access"],
                        industry_codes=values["industry_codes"], **place)
        elif _differs(site, values, SITE_FIELDS):
            site.sqlmodel_update({f: values[f] for f in SITE_FIELDS} | place)
        sites[(park, firm_name, site_name)] = site
    session.add_all(sites.values())
    session.flush()
    for item in plan.rows:
        firm, site = firms[(item.park, item.firm_name)], sites[(item.park, item.firm_name, item.site_name)]
        fields = {k: v for k, v in item.values.items() if not k.startswith("_")}
        if item.existing is None:
            listing = Listing.model_validate(fields | {"firm_id": firm.id, "site_id": site.id})
            listing.data_quality = data_quality(listing)
            session.add(listing)
        elif item.change is not None:
            listings_svc.write_change(session, listings_svc.ListingChange(
                item.existing, item.change.fields | {"site_id": site.id}))
    session.flush()
