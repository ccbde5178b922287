"""The SMTP/LMTP relay (`pixelguard relay`, pixelguard/relay/command.py): cleans mail in
flight and answers 250 only once the next hop has it. See docs/relay.md.

Modules: command (the command line), settings (the config's `relay:` section), setup (the
relay built from it), server (the SMTP/LMTP listener, idle timeout and shutdown), admission
(who is served), session (a client session's state), handler (the aiosmtpd hooks and the
delivery of a message), units (what one transaction may carry), nexthop, lmtp_client and
maildir (where mail goes), cleaning and workers (the core in worker processes), reload
(SIGHUP), metrics, logline, reply.
"""
