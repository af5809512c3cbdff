"""Built-in prompting strategies.

``single-shot``, ``six-class``, ``two-stage``, ``free-description`` and ``calibrated``.
"""
