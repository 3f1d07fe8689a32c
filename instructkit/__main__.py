from instructkit.cli.app import cli

cli()
