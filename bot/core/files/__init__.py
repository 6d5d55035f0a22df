"""A file as a value: its real type from its bytes (sniff), what documents and images say of themselves
(documents, file_facts), and the files inside containers (archives for ZIP, 7z and RAR headers; unpack for
archives, forwarded mails and winmail.dat, within limits). Pure: the RAR reader is passed in from
bot/adapters/bsdtar.py."""
