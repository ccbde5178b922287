"""The IMAP post-processor (`pixelguard imap`): clean existing IMAP folders, once, on a
schedule or live (IDLE).

Modules: command (the command line), settings (the config's `imap:` section), connection
(login, secrets, exit codes), work (what needs a look), replace (the safe APPEND → confirm →
retire sequence), run (one pass over an account), schedule (once / every / idle, sharding),
progress (bar, logs, summary), restore (`pixelguard restore`). See docs/imap.md.
"""
