"""The functional core: pure steps and the values they pass. Bytes and values in, values out: no network,
no disk, no database, no clock, no subprocess (`now` is always a parameter).

mail/    parse a message, charsets, triage (automatic mail), sender authentication, large-file links
files/   what a file is (sniff, documents, file facts) and what containers hold (archives, unpack)
render/  replies, notices, the digest and the workbook from values; the Texts protocol they render with
and beside them: model (the values), settings (what a campaign asks), roster, identify, classify, rules,
pipeline (the steps in order, and the one `decide`), overrides (staff decisions applied), timetable and
reminder_plan, review (what needs a decision).

May import: the standard library and pure libraries (mail-parser, Pillow, python-docx, pypdf, openpyxl,
py7zr, olefile, tnefparse, chinesecalendar). Nothing of adapters, office, worker, cli, bootstrap or storage.
"""
