"""pixelguard: remove tracking pixels and remote tracking CSS from HTML mail.

Public API::

    from pixelguard import clean_message, Policy
    result = clean_message(raw_bytes, Policy(recipients=("bob@example.org",)))
    result.raw, result.findings, result.error

Link edits are opt-in (`Policy(links=LinkOptions(unwrap=True, strip_params=True, mark=True))`)
and reported apart from trackers, in `result.links` (docs/links.md).
"""
from pixelguard.core import clean_message
from pixelguard.model import Finding, LinkChange, LinkOptions, Policy, Result

__all__ = ["Finding", "LinkChange", "LinkOptions", "Policy", "Result", "clean_message"]
__version__ = "0.1.0"
