"""`mindseye attack` (placeholder; being written)."""

import click


@click.command()
def attack() -> None:
    """Attack trained networks."""
