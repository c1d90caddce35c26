"""motionmill: text-to-motion generation and motion corpus building.

Importing the package is cheap and has no side effects; subpackages load on first use.
"""

__version__ = "0.1.0"
