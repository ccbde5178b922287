"""Click tracking, opt-in (`links:` in the config, Policy.links): unwrap redirect links whose
destination is in the link itself, strip parameters that only identify campaign or recipient,
and mark links that still report a click with a title. See docs/links.md.

The package is imported only when a policy turns one of these on (or a config file is read,
for `settings`): `edit.edit_links` is what the core calls.
"""
