"""`mindseye eval` (placeholder; being written)."""

import click


@click.command("eval")
def eval_command() -> None:
    """Write the report."""
