"""Runs the command line as ``python -m policywatch``."""

from policywatch.cli import main

main()
