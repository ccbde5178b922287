"""Click tracking, opt-in (`links:` in the config, Policy.links): unwrap redirect links whose
destination is in the link itself, strip parameters that only identify campaign or recipient,
and mark links that still report a click with a title. See docs/links.md.

Its modules are imported only when a policy turns one of these on (`settings` alone when a
config file is read): `edit.edit_links` is what the core calls.
"""
