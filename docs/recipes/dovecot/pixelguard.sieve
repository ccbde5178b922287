# Clean tracking pixels before the message is stored (docs/pipe.md).
# `filter` as a test: when pixelguard fails (exit status not 0, or killed, e.g. by the
# program's `timeout`) the test is false, the message stays as it came and delivery goes
# on as usual.
require "vnd.dovecot.filter";

if filter "pixelguard-filter" {
  # cleaned (or found clean: then byte-identical); nothing else to do
}
