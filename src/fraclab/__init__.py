"""fraclab: a reproducible pipeline for bone-fracture classification and localisation."""

__version__ = "0.1.0"
