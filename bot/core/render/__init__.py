"""Everything a unit or staff member reads, rendered from values: a reply (reply), a reminder or overdue
notice (notice), the staff digest (digest), the unit table as XLSX (workbook), `intake remind --dry-run`
(reminder_dry_run); the headers every outgoing mail carries (outgoing); how sizes and moments are written
(formats). Templates arrive through the `Texts` protocol (texts); the loader is bot/adapters/templates.py."""
