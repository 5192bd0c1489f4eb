"""A spend report to look at: one self-contained HTML file with inline SVG charts.

:class:`ReportData` holds the figures (each with the range it summed), filled from a ``sync``
database by :func:`from_store` or from the API by ``usage-async report``; :func:`render` draws
it as one HTML document that loads nothing from anywhere.
"""

from .html import render
from .model import Budget, BudgetUse, Range, ReportData, previous_range
from .store import TOKEN_ENDPOINTS, from_store

__all__ = [
    "TOKEN_ENDPOINTS",
    "Budget",
    "BudgetUse",
    "Range",
    "ReportData",
    "from_store",
    "previous_range",
    "render",
]
