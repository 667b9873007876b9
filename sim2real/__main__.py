"""`python -m sim2real`: the `sim2real` command."""

from sim2real.cli import app

app(prog_name="sim2real")
