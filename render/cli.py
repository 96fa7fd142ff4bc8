"""`mindseye render` (placeholder; being written)."""

import click


@click.command()
def render() -> None:
    """Render a dataset."""
