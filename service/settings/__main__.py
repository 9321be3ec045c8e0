"""``python -m service.settings --markdown|--toml``: print the README's settings table or the
defaults block of config/yaynay.example.toml, generated from the table."""

import sys

from service.settings import markdown_table, toml_defaults

DOCUMENTS = {"--markdown": markdown_table, "--toml": toml_defaults}

if len(sys.argv) != 2 or sys.argv[1] not in DOCUMENTS:
    sys.exit("usage: python -m service.settings --markdown|--toml")
sys.stdout.write(DOCUMENTS[sys.argv[1]]())
