"""Uploads under attack: the size limit holds while the body streams in (413 before it is all read, with or
without Content-Length), the role is checked before a byte of the file is read, the row limit is counted while
rows are read (a small zip bomb is refused at the limit, not parsed whole), and broken workbooks are a 422.

The streaming tests drive the application as an ASGI server does, with a ``receive`` that hands the body over
in chunks and counts how much the application asked for."""

import asyncio
import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from openpyxl import Workbook

from tests.backend.conftest import World
from tests.backend.test_import import GOOD_ROWS, HEADER, _csv, _post

CHUNK = 64 * 1024
BOUNDARY = "isx-test-boundary"


class StreamedCall:
    """One request through the ASGI app: ``body_bytes`` of body in ``CHUNK``-sized messages, made on demand."""

    def __init__(self, app: Any, path: str, *, token: str, body_bytes: int, declare_length: bool,
                 body: bytes | None = None) -> None:
        self.app, self.path, self.token = app, path, token
        self.body_bytes, self.declare_length = (len(body) if body is not None else body_bytes), declare_length
        self.given = body
        self.pulled = 0  # body bytes the application asked for
        self.status: int | None = None
        self.body = b""

    def _multipart_head(self) -> bytes:
        return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
                "Content-Type: text/csv\r\n\r\n").encode() + (HEADER + "\n").encode()

    def run(self) -> "StreamedCall":
        head = self._multipart_head()
        headers = [(b"authorization", f"Bearer {self.token}".encode()),
                   (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
                   (b"host", b"testserver")]
        if self.declare_length:
            headers.append((b"content-length", str(self.body_bytes).encode()))
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": self.path, "raw_path": self.path.encode(), "root_path": "",
                 "query_string": b"dry_run=true", "headers": headers, "client": ("127.0.0.1", 1),
                 "server": ("testserver", 80)}
        row = (GOOD_ROWS[0] + "\n").encode()
        filler = head + row * ((CHUNK - len(head)) // len(row) + 1)
        line = row * (CHUNK // len(row) + 1)

        async def receive() -> dict[str, Any]:
            if self.pulled >= self.body_bytes:
                await asyncio.sleep(3600)  # a client that sent everything waits for the answer
            if self.given is not None:
                chunk = self.given[self.pulled:self.pulled + CHUNK]
            else:
                chunk = (filler if self.pulled == 0 else line)[:CHUNK]
                chunk = chunk[:self.body_bytes - self.pulled]
            self.pulled += len(chunk)
            return {"type": "http.request", "body": chunk, "more_body": self.pulled < self.body_bytes}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
            elif message["type"] == "http.response.body":
                self.body += message.get("body", b"")

        asyncio.run(asyncio.wait_for(self.app(scope, receive, send), timeout=120))
        return self


HUNDRED_MB = 100 * 1024 * 1024


@pytest.mark.parametrize("path", ["/api/v1/imports", "/api/v1/baseline/imports"])
def test_a_declared_oversize_body_is_refused_before_it_is_read(app: Any, world: World, path: str) -> None:
    call = StreamedCall(app, path, token=world.tokens["pm_own"], body_bytes=HUNDRED_MB, declare_length=True).run()
    assert call.status == 413, call.body
    assert call.pulled == 0
    assert b"limit" in call.body


@pytest.mark.parametrize("path", ["/api/v1/imports", "/api/v1/baseline/imports"])
def test_a_chunked_oversize_body_is_refused_while_it_streams(app: Any, world: World, path: str) -> None:
    from backend.api.uploads import body_limit

    call = StreamedCall(app, path, token=world.tokens["pm_own"], body_bytes=HUNDRED_MB, declare_length=False).run()
    assert call.status == 413, call.body
    assert call.pulled <= body_limit() + CHUNK  # stopped at the limit, not after 100 MB


@pytest.mark.parametrize(("path", "role"), [("/api/v1/imports", "fu_own"), ("/api/v1/imports", "planner"),
                                            ("/api/v1/baseline/imports", "planner"),
                                            ("/api/v1/baseline/imports", "verifier")])
def test_a_role_that_may_not_import_is_refused_before_the_body_is_read(app: Any, world: World, path: str,
                                                                       role: str) -> None:
    call = StreamedCall(app, path, token=world.tokens[role], body_bytes=4 * 1024 * 1024, declare_length=True).run()
    assert call.status == 403, call.body
    assert call.pulled == 0


def test_an_upload_within_the_limit_streams_in_whole_without_a_length(app: Any, world: World) -> None:
    rows = "".join(f"{GOOD_ROWS[4].replace('新水泥', f'新水泥{i}')}\n" for i in range(3000))
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ok.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\n{HEADER}\n{rows}\r\n--{BOUNDARY}--\r\n").encode()
    assert len(body) > 2 * CHUNK  # several messages
    call = StreamedCall(app, "/api/v1/imports", token=world.tokens["pm_own"], body_bytes=0, declare_length=False,
                        body=body).run()
    assert call.status == 200, call.body[:500]
    assert call.pulled == len(body) and b'"rows":3000' in call.body


# --- workbooks -----------------------------------------------------------------------------------------
def _workbook_bytes(*rows: list[Any]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _with_sheet(xlsx: bytes, sheet_xml: Callable[[zipfile.ZipFile], None]) -> bytes:
    """A copy of a real workbook whose first sheet's XML is written by ``sheet_xml``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(xlsx)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                sheet_xml(dst)
            else:
                dst.writestr(info, src.read(info.filename))
    return out.getvalue()


def _bomb(rows: int, columns: int) -> bytes:
    """A real XLSX zip bomb: a workbook made by openpyxl whose sheet holds ``rows`` repetitive rows."""
    header = HEADER.split(",")[:columns]
    cells = GOOD_ROWS[0].split(",")[:columns]

    def row(values: list[str]) -> bytes:  # cells without a reference: each follows the one before
        return ("<row>" + "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values) + "</row>").encode()

    def write(dst: zipfile.ZipFile) -> None:
        with dst.open("xl/worksheets/sheet1.xml", "w") as out:
            out.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                      b'spreadsheetml/2006/main"><sheetData>')
            out.write(row(header))
            block = row(cells) * 1000
            for _ in range(rows // 1000):
                out.write(block)
            out.write(b"</sheetData></worksheet>")

    return _with_sheet(_workbook_bytes(["x"]), write)


def test_a_zip_bomb_of_200000_rows_is_refused_at_the_row_limit(client_as: Any, world: World) -> None:
    bomb = _bomb(200_000, 2)
    assert len(bomb) < 1024 * 1024  # small on the wire ...
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        assert archive.getinfo("xl/worksheets/sheet1.xml").file_size > 10 * len(bomb)  # ... large unpacked
    answer = _post(client_as("pm_own"), bomb, "bomb.xlsx")
    assert answer.status_code == 422, answer.text[:500]
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["body", "file"] and detail["type"] == "too_many_rows"
    assert "more than 20000 rows" in detail["msg"]


def test_a_zip_bomb_that_unpacks_beyond_the_limit_is_refused_from_its_directory(client_as: Any,
                                                                                 world: World) -> None:
    bomb = _bomb(200_000, 14)
    answer = _post(client_as("pm_own"), bomb, "bomb.xlsx")
    assert answer.status_code == 422, answer.text[:500]
    assert answer.json()["detail"][0]["type"] == "xlsx_unpacks_too_large"


def test_a_csv_over_the_row_limit_is_refused(client_as: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.config import get_settings

    monkeypatch.setattr(get_settings(), "max_import_rows", 3)
    answer = _post(client_as("pm_own"), _csv(*GOOD_ROWS[:4]))
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["type"] == "too_many_rows"
    assert _post(client_as("pm_own"), _csv(*GOOD_ROWS[:3])).status_code == 200


def _truncated(dst: zipfile.ZipFile) -> None:
    dst.writestr("xl/worksheets/sheet1.xml", '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://'
                 'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr">'
                 "<is><t>park</t></is></c></row><row r=")


def _docx_like() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")
    return out.getvalue()


@pytest.mark.parametrize(("make", "name"), [
    (lambda: _with_sheet(_workbook_bytes(HEADER.split(",")), _truncated), "truncated.xlsx"),
    (lambda: b"this is not a zip archive at all", "not-a-zip.xlsx"),
    (_docx_like, "report.xlsx"),
    (lambda: _workbook_bytes(HEADER.split(","))[:3000], "cut-short.xlsx"),
])
@pytest.mark.parametrize("path", ["/api/v1/imports", "/api/v1/baseline/imports"])
def test_broken_workbooks_are_a_422_naming_the_file(client_as: Any, world: World, make: Callable[[], bytes],
                                                    name: str, path: str) -> None:
    answer = client_as("pm_own").post(path, files={"file": (name, make(), "application/octet-stream")},
                                      params={"dry_run": "false"})
    assert answer.status_code == 422, answer.text[:500]
    detail = answer.json()["detail"][0]
    assert detail["loc"] == ["body", "file"] and "XLSX" in detail["msg"]


def test_a_body_without_the_file_field_is_a_422(client_as: Any, world: World) -> None:
    answer = client_as("pm_own").post("/api/v1/imports", data={"other": "x"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["body", "file"]
