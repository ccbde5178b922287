"""auth.sender_allowed: an allowed sender counts only with trusted, aligned DKIM/DMARC."""
from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixelguard.auth import parse_authentication_results, sender_allowed
from pixelguard.model import Policy

TRUSTED = "mx.example.org"
POLICY = Policy(allow_senders=("shop.example", "friend@mail.example"), trusted_authserv_ids=(TRUSTED,))


def msg(*headers: str, policy=email.policy.compat32) -> email.message.Message:
    return email.message_from_string("\n".join(headers) + "\n\nbody\n", policy=policy)


def allowed(*headers: str, policy: Policy = POLICY, **kw) -> bool:
    ok, reason = sender_allowed(msg(*headers), policy, **kw)
    assert reason and "\n" not in reason
    return ok


FROM_SHOP = "From: Shop <news@shop.example>"


# --- passes ---------------------------------------------------------------------------------


def test_dkim_pass_from_trusted_id_allows():
    assert allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example")


def test_dmarc_pass_from_trusted_id_allows():
    assert allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=shop.example")


def test_reason_names_sender_and_evidence():
    ok, reason = sender_allowed(
        msg(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example"), POLICY
    )
    assert ok and "news@shop.example" in reason and "dkim=pass" in reason


def test_subdomain_of_allowed_domain_with_parent_dkim_aligns():
    # From a subdomain of the allowed domain, signed by the parent: relaxed alignment.
    assert allowed(
        "From: a@news.shop.example",
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example",
    )


def test_dkim_for_a_child_or_other_domain_does_not_align():
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=esp.example")
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=x.shop.example")
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example")
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=evilshop.example")


def test_dmarc_pass_for_another_domain_does_not_count():
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dmarc=pass header.from=evil.example")


def test_header_i_used_when_header_d_absent():
    assert allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.i=@shop.example")


def test_allowed_address_entry_needs_exact_address():
    auth = f"Authentication-Results: {TRUSTED}; dkim=pass header.d=mail.example"
    assert allowed("From: Friend <Friend@Mail.Example>", auth)
    assert not allowed("From: other@mail.example", auth)


def test_authserv_id_and_values_are_case_insensitive():
    assert allowed(FROM_SHOP, "Authentication-Results: MX.Example.ORG; DKIM=Pass Header.D=SHOP.example")


def test_no_auth_required():
    p = Policy(allow_senders=("shop.example",), require_auth_for_allow=False)
    assert allowed(FROM_SHOP, policy=p)


# --- not allowed --------------------------------------------------------------------------


def test_sender_not_on_list():
    assert not allowed("From: x@other.example", f"Authentication-Results: {TRUSTED}; dkim=pass header.d=other.example")


def test_no_allow_list_at_all():
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example",
                       policy=Policy(trusted_authserv_ids=(TRUSTED,)))


def test_no_authentication_results():
    ok, reason = sender_allowed(msg(FROM_SHOP), POLICY)
    assert not ok and "no trusted" in reason


def test_untrusted_authserv_id_is_ignored():
    assert not allowed(FROM_SHOP, "Authentication-Results: mx.attacker.example; dkim=pass header.d=shop.example")


def test_forged_pass_from_untrusted_id_next_to_trusted_none():
    assert not allowed(
        FROM_SHOP,
        "Authentication-Results: mx.example.org.attacker.example; dkim=pass header.d=shop.example",
        f"Authentication-Results: {TRUSTED}; dkim=none",
    )


def test_untrusted_fail_does_not_void_trusted_pass():
    assert allowed(
        FROM_SHOP,
        "Authentication-Results: other.example; dkim=fail header.d=shop.example",
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example",
    )


def test_explicit_dkim_fail_voids_a_pass():
    ok, reason = sender_allowed(
        msg(
            FROM_SHOP,
            f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example;"
            " dkim=fail header.d=shop.example",
        ),
        POLICY,
    )
    assert not ok and "fail" in reason


def test_explicit_dmarc_fail_voids_a_dkim_pass():
    assert not allowed(
        FROM_SHOP,
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example",
        f"Authentication-Results: {TRUSTED}; dmarc=fail header.from=shop.example",
    )


def test_fail_for_another_domain_does_not_void():
    assert allowed(
        FROM_SHOP,
        f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example; dkim=fail header.d=esp.example",
    )


def test_no_trusted_ids_configured():
    ok, reason = sender_allowed(
        msg(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example"),
        Policy(allow_senders=("shop.example",)),
    )
    assert not ok and "no trusted authserv-id" in reason


@pytest.mark.parametrize(
    "from_headers",
    [(), ("From: a@shop.example, b@shop.example",), ("From: a@shop.example", "From: b@shop.example"),
     ("From: undisclosed",), ("From: <>",), ("From: @shop.example",)],
)
def test_missing_or_multiple_from_is_not_allowed(from_headers):
    assert not allowed(*from_headers, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example")


def test_own_dkim_hook_counts_as_pass():
    assert allowed(FROM_SHOP, own_dkim_domains=frozenset({"shop.example"}))
    assert not allowed(FROM_SHOP, own_dkim_domains=frozenset({"esp.example"}))


def test_modern_email_policy_headers_work_too():
    m = msg(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass header.d=shop.example",
            policy=email.policy.default)
    assert sender_allowed(m, POLICY)[0]


# --- the RFC 8601 parser ----------------------------------------------------------------------


def test_parser_comments_quotes_folding_versions():
    value = (
        'mx.example.org 1 (the MX; with "quotes" (nested)) ;\r\n'
        "\tdkim/1=pass (good \\) signature) header.d=\"shop.example\" header.b=ab/c+d==\r\n"
        " header.s=sel;\r\n dmarc=pass (p=none) header.from=shop.example; spf=none"
    )
    ar = parse_authentication_results(value)
    assert ar.authserv_id == "mx.example.org"
    assert [(r.method, r.result) for r in ar.results] == [("dkim", "pass"), ("dmarc", "pass"), ("spf", "none")]
    dkim = ar.results[0]
    assert dkim.props["header.d"] == "shop.example"
    assert dkim.props["header.b"] == "ab/c+d=="
    assert dkim.props["header.s"] == "sel"


def test_parser_spaces_around_equals_and_reason():
    ar = parse_authentication_results('mx.example.org; dkim = pass reason="ok; fine" header.d = shop.example')
    assert ar.results[0].result == "pass" and ar.results[0].props["header.d"] == "shop.example"


def test_folded_header_in_a_real_message():
    assert allowed(
        FROM_SHOP,
        f"Authentication-Results: {TRUSTED};\n  dkim=pass (1024-bit key)\n    header.d=shop.example\n  header.i=@shop.example",
    )


def test_semicolon_inside_a_comment_does_not_split():
    ar = parse_authentication_results("mx.example.org; dkim=pass (a; b=c) header.d=shop.example")
    assert len(ar.results) == 1 and ar.results[0].props == {"header.d": "shop.example"}


def test_none_result_form():
    ar = parse_authentication_results("mx.example.org; none")
    assert ar.authserv_id == "mx.example.org" and ar.results == ()


@pytest.mark.parametrize(
    "value",
    ["", ";", "(", "(((((", '"', '"unterminated', "; dkim=pass", "mx.example.org; =pass",
     "mx.example.org; dkim=", "mx.example.org; dkim=pass header.d=", "\\", "\x00\xff",
     "mx.example.org; dkim=pass header.d=(comment only)", ")" * 50],
)
def test_malformed_values_never_raise(value):
    parse_authentication_results(value)
    assert not allowed(FROM_SHOP, f"Authentication-Results: {value}") or "header.d=shop" in value


def test_malformed_trusted_header_gives_no_pass():
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dkim=pass (header.d=shop.example")


def test_long_hostile_header_is_linear():
    value = TRUSTED + "; " + "(" * 50_000 + "dkim=pass header.d=shop.example"
    assert not allowed(FROM_SHOP, f"Authentication-Results: {value}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises(value):
    parse_authentication_results(value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_sender_allowed_never_raises_on_odd_from(value):
    m = email.message.Message()
    m["From"] = value.replace("\n", " ").replace("\r", " ")
    m["Authentication-Results"] = f"{TRUSTED}; dkim=pass header.d=shop.example"
    ok, reason = sender_allowed(m, POLICY)
    assert isinstance(ok, bool) and reason


def test_trusted_fail_voids_even_when_auth_not_required():
    p = Policy(allow_senders=("shop.example",), trusted_authserv_ids=(TRUSTED,), require_auth_for_allow=False)
    assert not allowed(FROM_SHOP, f"Authentication-Results: {TRUSTED}; dmarc=fail header.from=shop.example", policy=p)
    assert allowed(FROM_SHOP, "Authentication-Results: other.example; dmarc=fail header.from=shop.example", policy=p)


def test_hand_built_policy_entries_compare_case_insensitively():
    p = Policy(allow_senders=("@Shop.Example", "Friend@Mail.example"), require_auth_for_allow=False)
    assert allowed(FROM_SHOP, policy=p)
    assert allowed("From: friend@mail.example", policy=p)
    assert not allowed("From: x@mail.example", policy=p)
