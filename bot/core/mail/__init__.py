"""A message as a value: parsing raw bytes (parse, charsets, html_text), whether it is automatic mail
(triage), whether its sender was vouched for (sender_auth), files left behind download links
(large_file_links), and subject prefixes (reply_prefixes). Pure."""
