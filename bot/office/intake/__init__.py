"""One message's path, in the crash-safe order: the shell that runs it (shell.py, `Intake`), the ledger and the
folder's cursor (ledger.py), its files and their rows (filing.py), the reply and its limits (replies.py,
reply_policy.py), and a bounce of our own reply (bounces.py). Nothing is imported here: the staff commands
import reply_policy without the mail pipeline."""
