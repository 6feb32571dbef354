"""`python -m healer` runs the command line."""

from healer.cli import main

main()
