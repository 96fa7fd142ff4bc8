"""`mindseye dataset`: inspect and maintain rendered datasets (placeholder; being written)."""

import click


@click.group()
def dataset() -> None:
    """Inspect, verify, preview and re-composite a rendered dataset."""
