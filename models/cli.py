"""`mindseye train` (placeholder; being written)."""

import click


@click.command()
def train() -> None:
    """Train the networks."""
