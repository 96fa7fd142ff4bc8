"""`mindseye pipeline` (placeholder; being written)."""

import click


@click.command()
def pipeline() -> None:
    """Run everything end to end."""
