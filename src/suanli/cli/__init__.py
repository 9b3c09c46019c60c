"""The Typer CLI. Thin: parse, call one service (or the API), render."""
