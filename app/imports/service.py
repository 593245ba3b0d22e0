"""Uploads: who may upload which kind, the size limit, templates and the batch history."""

import inspect
import io
from decimal import Decimal
from typing import Any, BinaryIO

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import BaseModel
from sqlmodel import Session, col, or_, select

from app.core.errors import Forbidden, PayloadTooLarge
from app.core.export import ExportColumn
from app.core.i18n import N_, _, translate
from app.core.labels import label
from app.core.listing import Listing, each
from app.core.roles import READ_ALL, Principal
from app.imports.engine import EXAMPLE_MARK, Column, ImportKind, run_import
from app.imports.models import ImportBatch, ImportBatchFilters, ImportBatchPublic, ImportReport
from app.imports.readers import MAX_UPLOAD_BYTES


def read_limited(stream: BinaryIO, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The upload's bytes, or 413 as soon as it passes ``limit`` (never more in memory)."""
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(
            _(
                "The file is larger than {mb} MB; split it into smaller files",
                mb=limit // (1024 * 1024),
            ),
            max_bytes=limit,
        )
    return content


def upload(
    session: Session,
    principal: Principal,
    kind: ImportKind,
    file_name: str,
    content: bytes,
    *,
    dry_run: bool,
    options: BaseModel | None = None,
) -> ImportReport:
    if principal.role not in kind.writers:
        allowed = ", ".join(sorted(label(r) for r in kind.writers))
        raise Forbidden(
            _(
                "Role {role} may not upload {kind}; allowed roles: {allowed}",
                role=label(principal.role),
                kind=kind.name,
                allowed=allowed,
            ),
            allowed_roles=sorted(r.value for r in kind.writers),
        )
    return run_import(
        session, principal, kind, file_name, content, dry_run=dry_run, options=options
    )


INSTRUCTIONS_SHEET = N_("Instructions")
LISTS_SHEET = "lists"
"""The hidden sheet holding a drop-down's choices when they do not fit in the validation."""
INLINE_LIST_CHARS = 250
"""An Excel list validation holds at most 255 characters written inline."""
TEMPLATE_ROWS = 1000
"""Rows under the example that carry the drop-downs."""
MAX_CHOICES = 2000
"""A reference column with more names than this gets no drop-down (a list too long to pick
from); the import still matches what is typed."""
GREY = PatternFill("solid", fgColor="F2F2F2")

FORMATS = {
    "text": N_("Text, at most {max_length} characters"),
    "code": N_("Code: letters, digits, '.', '_' or '-', at most {max_length} characters"),
    "integer": N_("Whole number from {low} to {high}"),
    "decimal": N_("Number from {low} to {high}, at most {places} decimal place(s)"),
    "money": N_("Amount in yuan with at most two decimals, e.g. 1234.50"),
    "date_cell": N_("Date, e.g. 2022-03-01 or 2022年3月1日"),
    "yes_no": N_("是 or 否"),
    "choice": N_("One of the allowed values"),
}
"""How a column's cells are written, by the cell parser that reads them."""


def _format(parse: Any) -> str:
    """The column's format in the request's language, read off its cell parser."""
    name = getattr(parse, "__qualname__", "").split(".")[0]
    multiple = name == "multi"
    if multiple:
        parse = inspect.getclosurevars(parse).nonlocals.get("item", parse)
        name = getattr(parse, "__qualname__", "").split(".")[0]
    msgid = FORMATS.get(name)
    if msgid is None:
        text = _("Text")
    else:
        try:
            params = inspect.getclosurevars(parse).nonlocals
        except TypeError:
            params = {}
        text = _(msgid, **{k: v for k, v in params.items() if isinstance(v, int | Decimal | str)})
    return _("{format}; several separated by 、", format=text) if multiple else text


def _choices(session: Session, column: Column) -> list[str]:
    if column.choices:
        return list(column.choices)
    if column.choices_from is not None:
        names = [name for name in column.choices_from(session) if name]
        return names if len(names) <= MAX_CHOICES else []
    return []


def _instructions(sheet: Any, kind: ImportKind, choices: dict[str, list[str]]) -> None:
    """The 填写说明 sheet: a line on the example row, then one row per column."""
    bold = Font(bold=True)
    sheet.append([_("How to fill in the {title} template", title=kind.title)])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(
        [
            _(
                "Fill in one row per record under the header of the first sheet. The grey "
                "row starting with 示例 is an example: the upload skips it. Columns with a "
                "drop-down take one of its values."
            )
        ]
    )
    sheet.append([])
    heads = [
        _("Column"),
        _("English header"),
        _("Required"),
        _("Format"),
        _("Allowed values"),
        _("Example"),
        _("Notes"),
    ]
    sheet.append(heads)
    for cell in sheet[4]:
        cell.font = bold
    for column in kind.columns:
        allowed = choices.get(column.key, [])
        shown = "、".join(allowed[:20]) + ("…" if len(allowed) > 20 else "")
        if column.choices_from is not None and allowed:
            shown = _("Names as stored now (drop-down): {names}", names=shown)
        sheet.append(
            [
                column.zh,
                column.en,
                _("Yes") if column.required else _("No"),
                _format(column.parse),
                shown,
                column.example,
                translate(column.help) if column.help else "",
            ]
        )
    for letter, width in zip("ABCDEFG", (18, 18, 10, 40, 40, 24, 50), strict=True):
        sheet.column_dimensions[letter].width = width


def _validation(column: Column, values: list[str], lists: list[list[str]]) -> DataValidation:
    """A list drop-down of ``values``: written inline when short, else on the hidden list
    sheet. Strict for an enum column; a warning only for a reference or multi-valued one."""
    inline = ",".join(values)
    if len(inline) <= INLINE_LIST_CHARS and not any("," in v or '"' in v for v in values):
        formula = f'"{inline}"'
    else:
        lists.append(values)
        letter = get_column_letter(len(lists))
        formula = f"'{LISTS_SHEET}'!${letter}$1:${letter}${len(values)}"
    strict = bool(column.choices) and not column.multiple
    return DataValidation(
        type="list",
        formula1=formula,
        allow_blank=True,
        showErrorMessage=True,
        errorStyle="stop" if strict else "warning",
        errorTitle=column.zh,
        error=_("Choose a value from the list")
        if strict
        else _("Not in the list: check the name, or keep it if you mean it"),
    )


def template(session: Session, kind: ImportKind) -> bytes:
    """The .xlsx to fill in for ``kind``: the data sheet first (Chinese headers, the English
    name and rules in a comment on each, one grey example row marked 示例 that the upload
    skips, drop-downs on enum columns and on reference columns as the database holds them
    now), then the 填写说明 sheet (each column: required, format, allowed values, example)
    and, when a drop-down's list is long, a hidden sheet of lists."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = kind.title[:31]
    bold = Font(bold=True)
    example_font = Font(italic=True, color="808080")
    choices = {column.key: _choices(session, column) for column in kind.columns}
    lists: list[list[str]] = []
    for index, column in enumerate(kind.columns, start=1):
        header = sheet.cell(row=1, column=index, value=column.zh)
        header.font = bold
        note = f"{column.en}" + (_(" (required)") if column.required else _(" (optional)"))
        if column.help:
            note += f": {translate(column.help)}"
        header.comment = Comment(note, "onex")
        value = column.example
        if index == 1:
            value = f"{EXAMPLE_MARK}：{value}" if value else EXAMPLE_MARK
        example = sheet.cell(row=2, column=index, value=value)
        example.data_type = "s"
        example.number_format = "@"
        example.font = example_font
        example.fill = GREY
        letter = header.column_letter
        sheet.column_dimensions[letter].width = max(14, len(column.zh) * 3, len(value) * 2)
        if choices[column.key]:
            validation = _validation(column, choices[column.key], lists)
            validation.add(f"{letter}3:{letter}{TEMPLATE_ROWS + 2}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    _instructions(workbook.create_sheet(translate(INSTRUCTIONS_SHEET)), kind, choices)
    if lists:
        hidden = workbook.create_sheet(LISTS_SHEET)
        hidden.sheet_state = "hidden"
        for number, values in enumerate(lists, start=1):
            for row, value in enumerate(values, start=1):
                hidden.cell(row=row, column=number, value=value).data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def batch_statement(_session: Session, principal: Principal, filters: ImportBatchFilters) -> Any:
    """Every batch for the office, auditors and admins; their own for everyone else."""
    statement = select(ImportBatch)
    if principal.role not in READ_ALL:
        mine = []
        if principal.user_id is not None:
            mine.append(col(ImportBatch.actor_user_id) == principal.user_id)
        if principal.api_key_id is not None:
            mine.append(col(ImportBatch.actor_api_key_id) == principal.api_key_id)
        statement = (
            statement.where(or_(*mine)) if mine else statement.where(col(ImportBatch.id) < 0)
        )
    if filters.kind:
        statement = statement.where(ImportBatch.kind == filters.kind)
    return statement


BATCHES = Listing(
    noun=N_("import batch"),
    statement=batch_statement,
    order=[col(ImportBatch.id).desc()],
    to_items=each(ImportBatchPublic.model_validate),
    filters=ImportBatchFilters,
    key=ImportBatch.id,
    columns=[
        ExportColumn("id", N_("Batch ID")),
        ExportColumn("created_at", N_("Imported at")),
        ExportColumn("kind", N_("Type")),
        ExportColumn("file_name", N_("File name")),
        ExportColumn("sha256", N_("SHA-256")),
        ExportColumn("rows", N_("Rows")),
        ExportColumn("created", N_("Created")),
        ExportColumn("updated", N_("Updated")),
        ExportColumn("unchanged", N_("Unchanged")),
        ExportColumn("actor", N_("Actor")),
    ],
    filename="import-batches",
    sheet=N_("Import history"),
)
