"""bot.core.mail.charsets: charset labels as senders write them, RFC 2047 words, lenient base64."""

import base64
import binascii

import pybase64
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.mail.charsets import _decode_base64_blocks, decode_base64, decode_bytes, decode_header, normalize_charset

RARE = "朱镕基 张喆"  # 镕 and 喆 exist in GBK but not in GB2312


def b64_word(charset: str, data: bytes) -> str:
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("gb2312", "gb18030"), ("GB2312", "gb18030"), ("gbk", "gb18030"), ("cp936", "gb18030"),
        ("x-gbk", "gb18030"), ("euc-cn", "gb18030"), ("gb_2312-80", "gb18030"), ('"gb2312"', "gb18030"),
        ("big5", "big5hkscs"), ("big5-hkscs", "big5hkscs"), ("windows-874", "cp874"), ("uft-8", "utf-8"),
        ("unicode-1-1-utf-7", "utf-7"), ("utf-8*en", "utf-8"), ("koi8-r", "koi8-r"),
        ("none", ""), ("unknown-8bit", ""), ("x-unknown", ""), ("us-ascii", ""), ("", ""), (None, ""),
        ("base64", ""), ("rot13", ""), ("no-such-charset", ""),
    ],
)
def test_normalize_charset_maps_mail_labels_to_codecs(label: str | None, codec: str) -> None:
    assert normalize_charset(label) == codec


def test_gb2312_label_on_gbk_bytes_keeps_rare_characters() -> None:
    assert decode_bytes(RARE.encode("gbk"), "gb2312") == RARE


def test_big5_label_decodes_traditional_chinese() -> None:
    assert decode_bytes("圖形碼".encode("big5"), "big5") == "圖形碼"


def test_big5_label_on_microsoft_cp950_bytes_keeps_the_euro_sign() -> None:
    assert decode_bytes(b"\xa3\xe1 100", "big5") == "€ 100"


def test_utf8_label_on_gbk_bytes_falls_back_to_gb18030() -> None:
    assert decode_bytes("工作简报".encode("gbk"), "utf-8") == "工作简报"


def test_legacy_single_byte_label_on_utf8_bytes_is_read_as_utf8() -> None:
    assert decode_bytes("отдел Æ".encode(), "windows-1251") == "отдел Æ"


def test_latin1_label_keeps_bytes_windows_1252_leaves_undefined() -> None:
    assert decode_bytes(b"caf\xe9 \x81", "iso-8859-1") == "café \x81"


@pytest.mark.parametrize("label", ["none", "unknown-8bit", "x-unknown", "no-such-charset", None])
def test_unknown_labels_try_utf8_then_gb18030(label: str | None) -> None:
    assert decode_bytes("简报".encode(), label) == "简报"
    assert decode_bytes("简报".encode("gbk"), label) == "简报"


def test_windows_874_and_utf7_labels_decode() -> None:
    assert decode_bytes("สวัสดี".encode("cp874"), "windows-874") == "สวัสดี"
    assert decode_bytes(b"+T2BZfQ-", "unicode-1-1-utf-7") == "你好"


def test_undecodable_bytes_end_in_replacement_not_an_exception() -> None:
    assert decode_bytes(b"ok \xff\xff", "utf-8") == "ok \ufffd\ufffd"


def test_utf8_byte_order_mark_is_dropped() -> None:
    assert decode_bytes(b"\xef\xbb\xbfhello", "utf-8") == "hello"


def test_encoded_words_glued_inside_text_are_decoded() -> None:
    assert decode_header("报送=?utf-8?B?566A5oql?=材料") == "报送简报材料"
    assert decode_header("abc=?UTF-8?Q?=E7=85=A7_=E7=89=87?=.jpg") == "abc照 片.jpg"


def test_adjacent_words_splitting_a_character_are_joined_before_decoding() -> None:
    data = "典型事例.doc".encode("gbk")
    value = f"{b64_word('gb2312', data[:3])}\r\n\t{b64_word('GB2312', data[3:])}"
    assert decode_header(value) == "典型事例.doc"


def test_whitespace_between_words_of_different_charsets_is_dropped_but_text_kept() -> None:
    value = f"{b64_word('gbk', '单位'.encode('gbk'))} {b64_word('utf-8', '简报'.encode())} 2024"
    assert decode_header(value) == "单位简报 2024"


def test_gbk_label_word_keeps_rare_characters() -> None:
    assert decode_header(b64_word("gb2312", RARE.encode("gbk"))) == RARE


def test_raw_undeclared_header_bytes_try_utf8_then_gb18030() -> None:
    assert decode_header("报告 v2".encode()) == "报告 v2"
    assert decode_header("报告 v2".encode("gbk")) == "报告 v2"
    escaped = "报告".encode("gbk").decode("ascii", "surrogateescape")  # how the stdlib hands them over
    assert decode_header(escaped) == "报告"


def test_broken_encoded_word_does_not_raise() -> None:
    assert decode_header("=?utf-8?B?*?= x") == "x"
    assert decode_header("=?no-such?Q?abc?=") == "abc"


def test_decode_base64_tolerates_missing_padding_garbage_and_concatenation() -> None:
    assert decode_base64(b"aGVsbG8") == b"hello"
    assert decode_base64(b"aGVs\n!!bG8=\r\n") == b"hello"
    assert decode_base64(b"aGk=aGk=") == b"hihi"
    assert decode_base64(b"aGVsbG8gdw") == b"hello w"
    assert decode_base64(b"aGVsbG8gd") == b"hello "  # a dangling character carries no byte


@given(st.binary(max_size=64), st.lists(st.sampled_from([b"\r\n", b"=", b"==", b" ", b"!", b"\n="]), max_size=4),
       st.integers(min_value=0, max_value=64))
def test_decode_base64_fast_path_agrees_with_the_careful_decoder(data: bytes, noise: list[bytes], at: int) -> None:
    encoded = base64.encodebytes(data)
    for piece in noise:
        encoded = encoded[:at] + piece + encoded[at:]
    assert decode_base64(encoded) == _decode_base64_blocks(encoded)
    assert decode_base64(encoded.rstrip(b"=\n")) == _decode_base64_blocks(encoded.rstrip(b"=\n"))


NOISE = [b"\r\n", b"\n", b"=", b"==", b" ", b"!", b"*", b"\x00", b"\xff", b"-", b"_", b"A"]


@given(st.binary(max_size=200), st.lists(st.tuples(st.integers(min_value=0, max_value=300), st.sampled_from(NOISE)),
                                         max_size=6), st.booleans())
def test_pybase64_decodes_what_binascii_decodes_and_fails_where_it_fails(
        data: bytes, noise: list[tuple[int, bytes]], strip: bool) -> None:
    """Where decode_base64 hands data to pybase64 (padding only at the end), it gets binascii's answer."""
    encoded = base64.encodebytes(data)
    for at, piece in noise:
        encoded = encoded[:at] + piece + encoded[at:]
    if strip:
        encoded = encoded.rstrip(b"=\n")
    first_pad = encoded.find(b"=")
    assume(first_pad < 0 or not encoded[first_pad:].strip(b"= \t\r\n"))
    try:
        expected: bytes | type[Exception] = binascii.a2b_base64(encoded)
    except binascii.Error:
        expected = binascii.Error
    try:
        got: bytes | type[Exception] = pybase64.b64decode(encoded, validate=False)
    except binascii.Error:
        got = binascii.Error
    assert got == expected


def test_decode_base64_of_a_long_body_with_line_breaks_is_exact() -> None:
    data = bytes(range(256)) * 4000
    assert decode_base64(base64.encodebytes(data).replace(b"\n", b"\r\n")) == data
