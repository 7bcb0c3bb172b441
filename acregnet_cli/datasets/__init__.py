"""Datasets: their TOML configuration, the authors' folder layout, converters from the
public datasets' own layouts (``preprocess``) and procedural phantoms."""
