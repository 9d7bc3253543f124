"""stressmodel: stress tests for China's listed rare-earth magnet producers."""

__version__ = "0.1.0"
