"""SimDPS Studio: repair long gaps in music recordings with similarity-guided diffusion."""

__version__ = "0.1.0"
