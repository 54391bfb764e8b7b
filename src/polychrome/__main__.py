"""``python -m polychrome``: the same CLI as the ``polychrome`` command."""

from polychrome.cli import main

main()
