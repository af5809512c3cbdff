"""Built-in datasets: ``caer``, ``caer-s``, ``folder`` and ``manifest``."""
