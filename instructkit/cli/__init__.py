"""The command line: a thin typer shell. One module per subcommand; ``app.py`` wires them."""
