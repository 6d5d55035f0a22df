"""A Word file's title and text are read from its parts directly (`_docx_by_parts`); python-docx, which loads
the whole package, reads the same from every file it can open. The one difference is listed: without core
properties python-docx makes up the title "Word Document", where the parts give none (and the first line is
taken)."""

from __future__ import annotations

import io
import re
import zipfile

import pytest
from docx import Document
from docx.enum.text import WD_BREAK
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.files.documents import _docx, _docx_by_parts, _docx_by_python_docx
from tests.fixtures.files import make_docx, make_wps_docx

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

# What Word, WPS and other writers put in a paragraph beside plain runs
CRAFTED = [
    '<w:p><w:r><w:t>链接前</w:t></w:r><w:hyperlink r:id="x"><w:r><w:t>链接文字</w:t></w:r></w:hyperlink></w:p>',
    '<w:p><w:r><w:t>第</w:t><w:noBreakHyphen/><w:t>1</w:t><w:ptab w:relativeTo="margin" w:alignment="right" '
    'w:leader="none"/><w:t>页</w:t><w:cr/><w:t>下</w:t></w:r></w:p>',
    '<w:p><w:r><w:t xml:space="preserve">  </w:t></w:r><w:r><w:t> </w:t></w:r><w:r><w:t>空白</w:t></w:r></w:p>',
    '<w:p><w:r><w:t>分栏</w:t><w:br w:type="column"/><w:t>分页</w:t><w:br w:type="page"/><w:br/>'
    '<w:t>换行</w:t></w:r></w:p>',
    '<w:p><w:ins w:id="1" w:author="a"><w:r><w:t>修订插入</w:t></w:r></w:ins><w:r><w:t>正文</w:t></w:r></w:p>',
    '<w:p><w:fldSimple w:instr="PAGE"><w:r><w:t>3</w:t></w:r></w:fldSimple><w:r><w:t>域后</w:t></w:r></w:p>',
    '<w:sdt><w:sdtContent><w:p><w:r><w:t>内容控件</w:t></w:r></w:p></w:sdtContent></w:sdt>',
    '<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>加粗</w:t><w:tab/><w:t>制表</w:t></w:r></w:p>',
]


def with_body(payload: bytes, xml: str) -> bytes:
    """`payload` with `xml` put first in its body."""
    source = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(b"<w:body>", b"<w:body>" + xml.encode("utf-8"), 1)
            target.writestr(info, data)
    return out.getvalue()


def without(payload: bytes, member: str) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(payload))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != member:
                data = source.read(info)
                if info.filename == "_rels/.rels":  # and the relationship to it
                    data = re.sub(rb"<Relationship [^>]*" + re.escape(member.encode()) + rb'"/>', b"", data)
                target.writestr(info, data)
    return out.getvalue()


def both(payload: bytes) -> tuple[object, object]:
    return _docx_by_parts(zipfile.ZipFile(io.BytesIO(payload))), _docx_by_python_docx(payload)


@pytest.mark.parametrize("xml", CRAFTED)
def test_each_kind_of_paragraph_content_reads_as_python_docx_reads_it(xml: str) -> None:
    payload = with_body(make_docx("活动简报", ["第一段", "第二段"]), xml)
    mine, theirs = both(payload)
    assert mine == theirs


def test_all_of_them_together() -> None:
    payload = with_body(make_docx("", ["结尾"]), "".join(CRAFTED))
    mine, theirs = both(payload)
    assert mine == theirs
    assert mine == (None, "链接前链接文字\n第-1\t页\n下\n空白\n分栏分页\n换行\n正文\n域后\n加粗\t制表\n结尾")


def test_without_core_properties_there_is_no_made_up_title() -> None:
    payload = without(make_docx("", ["第3街道志愿服务简报", "正文"]), "docProps/core.xml")
    mine, theirs = both(payload)
    assert theirs == ("Word Document", "第3街道志愿服务简报\n正文")
    assert mine == (None, "第3街道志愿服务简报\n正文")
    assert _docx(payload).title == "第3街道志愿服务简报"


def test_a_wps_main_part_is_refused_as_python_docx_refuses_it() -> None:
    payload = make_wps_docx("经验总结", ["社区志愿服务的做法"])
    with pytest.raises(ValueError):
        _docx_by_parts(zipfile.ZipFile(io.BytesIO(payload)))
    with pytest.raises(ValueError):
        _docx_by_python_docx(payload)
    assert _docx(payload).title == "经验总结"


texts = st.text(st.characters(min_codepoint=0x9, max_codepoint=0x9FFF, blacklist_categories=("Cs", "Cc"))
                | st.sampled_from("\t\n  "), max_size=60)


@settings(max_examples=60, deadline=None)
@given(title=st.none() | texts, paragraphs=st.lists(st.tuples(texts, st.booleans(), st.booleans()), max_size=25))
def test_any_document_python_docx_writes_reads_the_same(title: str | None,
                                                        paragraphs: list[tuple[str, bool, bool]]) -> None:
    document = Document()
    if title is not None:
        document.core_properties.title = title.replace("\n", " ")
    for text, page_break, table in paragraphs:
        paragraph = document.add_paragraph(text)
        if page_break:
            paragraph.add_run().add_break(WD_BREAK.PAGE)
            paragraph.add_run(text[::-1])
        if table:
            document.add_table(rows=1, cols=1).cell(0, 0).text = text
    out = io.BytesIO()
    document.save(out)
    mine, theirs = both(out.getvalue())
    assert mine == theirs
