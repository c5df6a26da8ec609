"""The settings model, read from one TOML file and the environment."""
