"""pixelguard: remove tracking pixels and remote tracking CSS from HTML mail.

Public API::

    from pixelguard import clean_message, Policy
    result = clean_message(raw_bytes, Policy(recipients=("bob@example.org",)))
    result.raw, result.findings, result.error
"""
from pixelguard.model import Finding, Policy, Result
from pixelguard.core import clean_message

__all__ = ["clean_message", "Finding", "Policy", "Result"]
__version__ = "0.1.0"
