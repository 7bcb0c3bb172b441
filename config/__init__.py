"""Default configuration files (TOML), installed as acregnet_cli.config."""
