"""The command-line tools, one module each (``timesformer.cli.<name>.main(argv) -> exit status``)."""
