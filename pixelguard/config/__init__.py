"""YAML config file -> one typed, validated Config -> the Policy for one recipient.

Every error in a file is reported as a ConfigError naming the file, the line and the
dotted key ("users.bob@example.org.deny.hosts[1]"). To get lines, the YAML is composed
into nodes first (yaml_lines); the node marks give a key-path -> line map, and pydantic's
error locations are mapped back through it (error_map).

- model:     the whole file, composed of each part's section (the place to add one)
- sections:  the recipient-policy sections (defaults, users, auth, limits)
- policy:    Config + recipient address -> Policy (the one derivation)
- load:      parse_config / load_config;  exit: load_config_or_exit for commands
- describe:  the effective policies in words (check-config)
The adapters' sections live with them: relay/settings.py, imap/settings.py,
milter/settings.py; the field types they share: pixelguard/config_fields.py.
"""
from __future__ import annotations

from pixelguard.config.describe import describe_policies
from pixelguard.config.errors import ConfigError, ConfigWarning
from pixelguard.config.exit import find_and_load, load_config_or_exit, print_config_warning
from pixelguard.config.load import load_config, parse_config
from pixelguard.config.model import Config
from pixelguard.config.policy import policy_for
from pixelguard.config.sections import (
    AllowConfig,
    ArcConfig,
    AuthConfig,
    DefaultsConfig,
    DenyConfig,
    LimitsConfig,
    NoticeConfig,
    UserConfig,
    UserNoticeConfig,
)
from pixelguard.config_fields import parse_hostport, parse_size
from pixelguard.imap.settings import ImapAccount, ImapConfig
from pixelguard.milter.settings import MilterConfig, parse_milter_socket
from pixelguard.relay.settings import (
    NextHopAuth,
    NextHopTLS,
    NextHopURL,
    RelayAuthUser,
    RelayConfig,
    parse_next_hop,
)

__all__ = [
    "AllowConfig",
    "ArcConfig",
    "AuthConfig",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "DefaultsConfig",
    "DenyConfig",
    "ImapAccount",
    "ImapConfig",
    "LimitsConfig",
    "MilterConfig",
    "NextHopAuth",
    "NextHopTLS",
    "NextHopURL",
    "NoticeConfig",
    "RelayAuthUser",
    "RelayConfig",
    "UserConfig",
    "UserNoticeConfig",
    "describe_policies",
    "find_and_load",
    "load_config",
    "load_config_or_exit",
    "parse_config",
    "parse_hostport",
    "parse_milter_socket",
    "parse_next_hop",
    "parse_size",
    "policy_for",
    "print_config_warning",
]
