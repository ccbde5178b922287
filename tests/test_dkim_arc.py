"""pixelguard's own DKIM check, the trust it earns an allowed sender, and the ARC seal.

Keys are generated here (cryptography) and served by a dnsfunc: no network.
"""
from __future__ import annotations

import email
import email.policy
import logging
import textwrap
from pathlib import Path

import authres
import dkim
import pytest
from dkim_keys import rsa_key, zone_dnsfunc

from pixelguard import clean_message, dkim_verify, trust
from pixelguard.arc_seal import seal
from pixelguard.auth import parse_authentication_results, sender_allowed
from pixelguard.config import Config, parse_config
from pixelguard.dkim_verify import authentication_results_header, verify
from pixelguard.model import Policy

OUR_ID = "pg.example.net"
UPSTREAM_ID = "mx.example.org"
TRACKER = b"https://t.mailer.example/o/Zk3x9.gif"


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, bytes]]:
    return {
        "shop": rsa_key(),
        "esp": rsa_key(),
        "other": rsa_key(),
        "arc": rsa_key(),
        "upstream-arc": rsa_key(),
    }


@pytest.fixture(scope="module")
def dns(keys):
    """A dnsfunc serving each test key at its selector; records every name asked for."""
    return zone_dnsfunc(
        {
            b"s1._domainkey.shop.example.": keys["shop"][1],
            b"s1._domainkey.esp.example.": keys["esp"][1],
            b"seal._domainkey.pg.example.net.": keys["arc"][1],
            b"arc._domainkey.relay.example.": keys["upstream-arc"][1],
        }
    )


def message(from_addr: str = "news@shop.example", *, eol: bytes = b"\r\n", extra: str = "") -> bytes:
    text = extra.replace("\r\n", "\n") + textwrap.dedent(
        f"""\
        From: Shop News <{from_addr}>
        To: Bob <bob@example.org>
        Subject: Our news
        Date: Mon, 23 Nov 2026 10:00:00 +0000
        Message-ID: <n1@shop.example>
        MIME-Version: 1.0
        Content-Type: text/html; charset=utf-8
        Content-Transfer-Encoding: 8bit

        <html><body><p>Hello Bob, here is our news.</p>
        <img src="https://cdn.shop.example/hero.jpg" width="600" height="300" alt="Hero">
        <img src="{TRACKER.decode()}" width="1" height="1" alt="">
        </body></html>
        """
    )
    return text.replace("\n", "\r\n").encode() if eol == b"\r\n" else text.encode()


def signed(raw: bytes, key: bytes, domain: bytes = b"shop.example", **kw) -> bytes:
    return dkim.sign(raw, b"s1", domain, key, **kw) + raw


def config(text: str = "", tmp_path: Path | None = None) -> Config:
    base = f"auth:\n  authserv_id: {OUR_ID}\n" + text
    name = str(tmp_path / "pixelguard.yaml") if tmp_path else "<test>"
    return parse_config(base, name)


ALLOW_SHOP = Policy(recipients=("bob@example.org",), allow_senders=("shop.example",))


def clean_via_trust(raw: bytes, dns, cfg: Config | None = None, policy: Policy = ALLOW_SHOP):
    cfg = cfg or config()
    prepared = trust.prepare(raw, cfg.auth, dns)
    result = clean_message(prepared.raw, prepared.policy(policy))
    return prepared, result


# --- verify: the outcome of each kind of signature ------------------------------------------


def test_correct_signature_passes(keys, dns):
    outcome = verify(signed(message(), keys["shop"][0]), dns)
    (sig,) = outcome.signatures
    assert (sig.domain, sig.selector, sig.result) == ("shop.example", "s1", "pass")
    assert outcome.result == "pass" and outcome.passing_domains == {"shop.example"}
    assert b"s1._domainkey.shop.example." in dns.asked


def test_lf_only_message_verifies_too(keys, dns):
    assert verify(signed(message(eol=b"\n"), keys["shop"][0]), dns).result == "pass"


def test_unsigned_message_is_none_without_dns(keys):
    def no_dns(name, timeout=5):
        raise AssertionError("no lookup expected")

    outcome = verify(message(), no_dns)
    assert outcome.signatures == () and outcome.result == "none" and outcome.arc == "none"


def test_edited_body_fails(keys, dns):
    raw = signed(message(), keys["shop"][0]).replace(b"Hello Bob", b"Hello Eve")
    (sig,) = verify(raw, dns).signatures
    assert sig.result == "fail" and "body" in sig.reason


def test_edited_signed_header_fails(keys, dns):
    raw = signed(message(), keys["shop"][0]).replace(b"Subject: Our news", b"Subject: Pay now")
    (sig,) = verify(raw, dns).signatures
    assert sig.result == "fail" and sig.reason == "the signature does not match the message"


def test_signature_made_with_another_key_fails(keys, dns):
    # d=shop.example s=s1, but signed with a key that is not the one published
    (sig,) = verify(signed(message(), keys["other"][0]), dns).signatures
    assert (sig.domain, sig.result) == ("shop.example", "fail")


def test_no_published_key_is_permerror(keys, dns):
    raw = dkim.sign(message(), b"gone", b"shop.example", keys["shop"][0]) + message()
    (sig,) = verify(raw, dns).signatures
    assert sig.result == "permerror" and "no key" in sig.reason


def test_unusable_published_key_is_permerror(keys):
    raw = signed(message(), keys["shop"][0])
    (sig,) = verify(raw, lambda name, timeout=5: b"v=DKIM1; k=rsa; p=bm90IGEga2V5").signatures
    assert sig.result == "permerror"


def test_dns_failure_is_temperror(keys):
    def broken(name, timeout=5):
        raise TimeoutError("no answer")

    (sig,) = verify(signed(message(), keys["shop"][0]), broken).signatures
    assert (sig.domain, sig.result) == ("shop.example", "temperror")


def test_spent_dns_budget_is_temperror_without_asking(keys, dns, monkeypatch):
    monkeypatch.setattr(dkim_verify, "DNS_BUDGET", 0.0)
    dns.asked.clear()
    (sig,) = verify(signed(message(), keys["shop"][0]), dns).signatures
    assert sig.result == "temperror" and dns.asked == []


def test_rsa_sha1_is_not_accepted(keys, dns):
    raw = signed(message(), keys["shop"][0], signature_algorithm=b"rsa-sha1")
    assert dkim.verify(raw, dnsfunc=dns)  # dkimpy itself would accept it
    (sig,) = verify(raw, dns).signatures
    assert sig.result == "permerror" and "RFC 8301" in sig.reason


def test_length_tag_with_appended_content_is_not_a_pass(keys, dns):
    raw = signed(message(), keys["shop"][0], length=True)
    assert verify(raw, dns).result == "pass"  # l= covering the whole body is fine
    appended = raw + b'<img src="https://evil.example/o/1.gif" width="1" height="1">\r\n'
    assert dkim.verify(appended, dnsfunc=dns)  # still "valid" for dkimpy...
    (sig,) = verify(appended, dns).signatures
    assert sig.result == "policy"  # ...but the appended part is unsigned: no trust from it


def test_each_signature_gets_its_own_verdict(keys, dns):
    raw = signed(signed(message(), keys["shop"][0]), keys["esp"][0], domain=b"esp.example")
    outcome = verify(raw, dns)
    assert [(s.domain, s.result) for s in outcome.signatures] == [
        ("esp.example", "pass"),
        ("shop.example", "pass"),
    ]
    assert outcome.passing_domains == {"shop.example", "esp.example"}


def test_number_of_signatures_checked_is_capped(keys, dns):
    raw = message()
    for _ in range(dkim_verify.MAX_SIGNATURES + 3):
        raw = signed(raw, keys["shop"][0])
    dns.asked.clear()
    assert len(verify(raw, dns).signatures) == dkim_verify.MAX_SIGNATURES
    assert len(dns.asked) == dkim_verify.MAX_SIGNATURES


@pytest.mark.parametrize(
    "field",
    [
        b"DKIM-Signature: garbage\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; b=; bh=\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; h=from; bh=x; b=!!!\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; h=from; bh=AA==; b=AA==; x=1\r\n",
        b"DKIM-Signature: v=1; a=rsa-md5; d=shop.example; s=s1; h=from; bh=AA==; b=AA==\r\n",
        b'DKIM-Signature: v=1; a=rsa-sha256; d="x; dkim=pass"; s=s1; h=from; bh=AA==; b=AA==\r\n',
        b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=s1; c=bogus; h=from; bh=AA==; b=AA==\r\n",
        b"DKIM-Signature: \xff\xfe\x00\r\n",
    ],
)
def test_malformed_signatures_are_permerror_or_fail_never_an_exception(field, dns):
    outcome = verify(field + message(), dns)
    assert [s.result for s in outcome.signatures] in (["permerror"], ["fail"])
    value = authentication_results_header(outcome, OUR_ID)
    assert "dkim=p" in value or "dkim=fail" in value
    assert "\n" not in value and "x; dkim=pass" not in value


@pytest.mark.parametrize("raw", [b"", b"\r\n", b"not a message", b"DKIM-Signature:\r\n\r\n", b"\x00" * 100])
def test_verify_never_raises_on_garbage(raw, dns):
    outcome = verify(raw, dns)
    assert outcome.result in ("none", "permerror")


# --- the Authentication-Results header we write ---------------------------------------------


def test_results_header_parses_with_ours_and_authres(keys, dns):
    raw = signed(message(), keys["shop"][0])
    value = authentication_results_header(verify(raw, dns), OUR_ID)
    ours = parse_authentication_results(value)
    assert ours is not None and ours.authserv_id == OUR_ID
    dkim_info, arc_info = ours.results
    assert (dkim_info.method, dkim_info.result) == ("dkim", "pass")
    assert dkim_info.props["header.d"] == "shop.example" and dkim_info.props["header.s"] == "s1"
    assert (arc_info.method, arc_info.result) == ("arc", "none")
    # dkimpy's ARC signer reads it with authres: it must parse there too
    parsed = authres.AuthenticationResultsHeader.parse("Authentication-Results: " + value)
    assert parsed.authserv_id == OUR_ID and [r.method for r in parsed.results] == ["dkim", "arc"]


def test_results_header_without_signature_says_none():
    assert authentication_results_header(dkim_verify.DkimOutcome(), OUR_ID) == (
        f"{OUR_ID}; dkim=none; arc=none"
    )


# --- prepare: our header on top, forged ones of our id gone ----------------------------------


def test_prepare_prepends_our_result_and_keeps_every_original_byte(keys, dns):
    raw = signed(message(), keys["shop"][0])
    prepared = trust.prepare(raw, config().auth, dns)
    assert prepared.raw.startswith(f"Authentication-Results: {OUR_ID}; dkim=pass".encode())
    assert prepared.raw.endswith(raw)
    assert prepared.verified_dkim_domains == {"shop.example"}
    # adding a header does not break the sender's signature
    assert dkim.verify(prepared.raw, dnsfunc=dns)


def test_prepare_removes_forged_results_claiming_our_id(keys, dns):
    forged = f"Authentication-Results: {OUR_ID.upper()}; dkim=pass\r\n header.d=shop.example\r\n"
    upstream = f"Authentication-Results: {UPSTREAM_ID}; spf=pass smtp.mailfrom=shop.example\r\n"
    raw = message(extra=forged + upstream)
    prepared = trust.prepare(raw, config().auth, dns)
    ours, rest = prepared.raw.split(b"\r\n", 1)
    assert ours == f"Authentication-Results: {OUR_ID}; dkim=none; arc=none".encode()
    assert rest == raw.replace(forged.encode(), b"")  # the forged field gone, nothing else


def test_drop_own_results_leaves_a_message_without_them_identical():
    raw = message(extra=f"Authentication-Results: {UPSTREAM_ID}; dkim=pass header.d=shop.example\r\n")
    assert trust.drop_own_results(raw, OUR_ID) is raw


def test_prepare_without_verification_adds_nothing_and_trusts_nothing_new(keys, dns):
    cfg = config("  verify_dkim: false\n")
    raw = signed(message(), keys["shop"][0])
    dns.asked.clear()
    prepared = trust.prepare(raw, cfg.auth, dns)
    assert prepared.raw == raw and prepared.outcome is None and dns.asked == []
    assert prepared.policy(ALLOW_SHOP) == ALLOW_SHOP


# --- the trust decision: allowed sender honoured only with a valid aligned signature ---------


def tracker_removed(result) -> bool:
    return result.changed and TRACKER not in result.raw


def test_signed_allowed_sender_is_honoured(keys, dns):
    prepared, result = clean_via_trust(signed(message(), keys["shop"][0]), dns)
    assert not result.findings and result.raw == prepared.raw  # left as the sender wrote it


def test_own_dkim_domains_hook_gives_the_same_answer(keys, dns):
    # the alternative wiring: the verified domains go straight to auth.sender_allowed
    raw = signed(message(), keys["shop"][0])
    prepared = trust.prepare(raw, config().auth, dns)
    headers = email.message_from_bytes(raw, policy=email.policy.compat32)
    ok, reason = sender_allowed(headers, ALLOW_SHOP, own_dkim_domains=prepared.verified_dkim_domains)
    assert ok and "own DKIM check" in reason
    assert not sender_allowed(headers, ALLOW_SHOP)[0]  # nothing else vouches for it


def test_spoofed_allowed_sender_without_signature_is_cleaned(dns):
    _, result = clean_via_trust(message(), dns)
    assert tracker_removed(result)


def test_spoofed_allowed_sender_with_bad_signature_is_cleaned(keys, dns):
    # signed for d=shop.example with a key that is not shop.example's
    _, result = clean_via_trust(signed(message(), keys["other"][0]), dns)
    assert tracker_removed(result)


def test_spoofed_allowed_sender_signed_by_another_domain_is_cleaned(keys, dns):
    # a perfectly valid signature, but of esp.example: it says nothing about From
    prepared, result = clean_via_trust(signed(message(), keys["esp"][0], domain=b"esp.example"), dns)
    assert prepared.verified_dkim_domains == {"esp.example"}
    assert tracker_removed(result)


def test_signed_then_altered_allowed_sender_is_cleaned(keys, dns):
    raw = signed(message(), keys["shop"][0]).replace(b"here is our news", b"here is news")
    _, result = clean_via_trust(raw, dns)
    assert tracker_removed(result)


def test_forged_upstream_results_from_untrusted_id_are_ignored(dns):
    raw = message(extra="Authentication-Results: evil.example; dkim=pass header.d=shop.example\r\n")
    policy = Policy(
        recipients=("bob@example.org",), allow_senders=("shop.example",),
        trusted_authserv_ids=(UPSTREAM_ID,),
    )
    _, result = clean_via_trust(raw, dns, policy=policy)
    assert tracker_removed(result)


def test_forged_results_claiming_our_id_are_ignored_even_if_listed_as_trusted(dns):
    raw = message(extra=f"Authentication-Results: {OUR_ID}; dkim=pass header.d=shop.example\r\n")
    policy = Policy(
        recipients=("bob@example.org",), allow_senders=("shop.example",),
        trusted_authserv_ids=(OUR_ID,),
    )
    _, result = clean_via_trust(raw, dns, policy=policy)
    assert tracker_removed(result)


def test_our_dkim_fail_voids_an_upstream_pass(keys, dns):
    # the upstream said pass, but the body changed since: our own check sees the forgery
    raw = signed(message(), keys["shop"][0]).replace(b"Hello Bob", b"Hello Eve")
    raw = f"Authentication-Results: {UPSTREAM_ID}; dkim=pass header.d=shop.example\r\n".encode() + raw
    policy = Policy(
        recipients=("bob@example.org",), allow_senders=("shop.example",),
        trusted_authserv_ids=(UPSTREAM_ID,),
    )
    _, result = clean_via_trust(raw, dns, policy=policy)
    assert tracker_removed(result)


# --- ARC: the seal over the cleaned message --------------------------------------------------


@pytest.fixture()
def arc_cfg(keys, tmp_path) -> Config:
    (tmp_path / "seal.key").write_bytes(keys["arc"][0])
    return config(
        "  arc: {domain: pg.example.net, selector: seal, key_file: seal.key}\n", tmp_path
    )


def test_cleaning_breaks_the_senders_dkim_and_the_arc_seal_vouches_for_it(keys, dns, arc_cfg):
    raw = signed(message(), keys["shop"][0])
    assert dkim.verify(raw, dnsfunc=dns)
    policy = Policy(recipients=("bob@example.org",))  # shop.example is not allowed here
    prepared = trust.prepare(raw, arc_cfg.auth, dns)
    result = clean_message(prepared.raw, prepared.policy(policy))
    assert tracker_removed(result)
    out = trust.finish(prepared, result.raw, arc_cfg.auth)
    # the body changed: the sender's signature no longer verifies downstream...
    assert not dkim.verify(out, dnsfunc=dns)
    # ...but our ARC set does, and carries the DKIM pass we saw before the change
    cv, results, reason = dkim.arc_verify(out, dnsfunc=dns)
    assert cv == dkim.CV_Pass, reason
    (instance,) = results
    assert instance["as-domain"] == b"pg.example.net" and instance["ams-valid"]
    assert b"dkim=pass" in instance["aar-value"] and b"header.d=shop.example" in instance["aar-value"]
    assert out.startswith(b"ARC-Seal: i=1; cv=none;")


def test_tampering_after_the_seal_breaks_it(keys, dns, arc_cfg):
    prepared, result = clean_via_trust(message(), dns, arc_cfg, Policy())
    out = trust.finish(prepared, result.raw, arc_cfg.auth)
    assert dkim.arc_verify(out, dnsfunc=dns)[0] == dkim.CV_Pass
    assert dkim.arc_verify(out.replace(b"Hello Bob", b"Hello Eve"), dnsfunc=dns)[0] == dkim.CV_Fail


def test_lf_message_seal_verifies(dns, arc_cfg):
    prepared, result = clean_via_trust(message(eol=b"\n"), dns, arc_cfg, Policy())
    out = trust.finish(prepared, result.raw, arc_cfg.auth)
    assert b"\r\n" not in out
    assert dkim.arc_verify(out, dnsfunc=dns)[0] == dkim.CV_Pass


def test_seal_extends_an_incoming_chain(keys, dns, arc_cfg):
    # an upstream relay sealed i=1; we verify it (arc=pass) and add i=2 with cv=pass
    raw = signed(message(), keys["shop"][0])
    raw = b"Authentication-Results: relay.example; dkim=pass header.d=shop.example\r\n" + raw
    upstream = dkim.arc_sign(raw, b"arc", b"relay.example", keys["upstream-arc"][0], b"relay.example")
    raw = b"".join(upstream) + raw
    prepared, result = clean_via_trust(raw, dns, arc_cfg, Policy())
    assert prepared.outcome.arc == "pass"
    out = trust.finish(prepared, result.raw, arc_cfg.auth)
    cv, results, reason = dkim.arc_verify(out, dnsfunc=dns)
    assert cv == dkim.CV_Pass, reason
    assert [r["instance"] for r in results] == [2, 1] and results[0]["cv"] == b"pass"


def test_unchanged_message_is_delivered_as_received_without_seal(keys, dns, arc_cfg):
    raw = signed(message(), keys["shop"][0])
    prepared, result = clean_via_trust(raw, dns, arc_cfg)
    assert not result.changed
    assert trust.finish(prepared, result.raw, arc_cfg.auth) is raw  # the original, byte for byte


def test_seal_without_our_results_header_adds_nothing(keys, caplog):
    raw = message()
    with caplog.at_level(logging.WARNING, logger="pixelguard.arc"):
        out = seal(raw, domain="pg.example.net", selector="seal", private_key=keys["arc"][0],
                   authserv_id=OUR_ID)
    assert out is raw and "no Authentication-Results" in caplog.text


def test_seal_with_an_unusable_key_returns_the_input(caplog):
    raw = f"Authentication-Results: {OUR_ID}; dkim=none; arc=none\r\n".encode() + message()
    with caplog.at_level(logging.ERROR, logger="pixelguard.arc"):
        out = seal(raw, domain="pg.example.net", selector="seal", private_key=b"not a key",
                   authserv_id=OUR_ID)
    assert out is raw and "PEM" in caplog.text


def test_seal_accepts_a_key_file_with_crlf_lines(keys, dns):
    raw = f"Authentication-Results: {OUR_ID}; dkim=none; arc=none\r\n".encode() + message()
    out = seal(raw, domain="pg.example.net", selector="seal",
               private_key=keys["arc"][0].replace(b"\n", b"\r\n"), authserv_id=OUR_ID)
    assert dkim.arc_verify(out, dnsfunc=dns)[0] == dkim.CV_Pass


def test_finish_with_a_vanished_key_file_returns_the_message(dns, arc_cfg, caplog):
    Path(arc_cfg.auth.arc.key_file).unlink()
    prepared, result = clean_via_trust(message(), dns, arc_cfg, Policy())
    assert result.changed
    with caplog.at_level(logging.ERROR, logger="pixelguard.trust"):
        assert trust.finish(prepared, result.raw, arc_cfg.auth) == result.raw
    assert "cannot read" in caplog.text


def test_changed_message_without_arc_keeps_our_results_header(dns):
    prepared, result = clean_via_trust(message(), dns)
    out = trust.finish(prepared, result.raw, config().auth)
    assert out == result.raw and f"\r\nAuthentication-Results: {OUR_ID}; dkim=none".encode() in out
    assert tracker_removed(result)


def test_message_the_core_cannot_parse_comes_back_as_received(dns):
    raw = b"From: a@shop.example\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"
    prepared, result = clean_via_trust(raw, dns)
    assert trust.finish(prepared, result.raw, config().auth) is raw


def test_bare_html_document_is_not_given_a_header(dns):
    raw = b'<html><body><img src="https://t.mailer.example/o/1.gif" width="1" height="1"></body></html>'
    prepared = trust.prepare(raw, config().auth, dns)
    assert prepared.raw is raw and prepared.outcome is None
    result = clean_message(prepared.raw, prepared.policy(Policy()))
    assert result.findings and trust.finish(prepared, result.raw, config().auth) == result.raw


def test_default_lookup_maps_dns_answers(monkeypatch):
    import dns.exception
    import dns.resolver

    def fake(outcome):
        def resolve(qname, rdtype, **kw):
            assert qname == "s1._domainkey.shop.example." and kw["lifetime"] <= 5
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        return resolve

    monkeypatch.setattr(dns.resolver, "resolve", fake(dns.resolver.NXDOMAIN()))
    assert dkim_verify.dns_txt(b"s1._domainkey.shop.example.") is None  # no key: permerror
    for failure in (dns.exception.Timeout(), dns.resolver.NoNameservers()):
        monkeypatch.setattr(dns.resolver, "resolve", fake(failure))
        with pytest.raises(dns.exception.DNSException):  # raised: temperror
            dkim_verify.dns_txt(b"s1._domainkey.shop.example.")


def test_default_lookup_failure_is_temperror_through_verify(keys, monkeypatch):
    import dns.resolver

    def servfail(qname, rdtype, **kw):
        raise dns.resolver.NoNameservers()

    monkeypatch.setattr(dns.resolver, "resolve", servfail)
    (sig,) = verify(signed(message(), keys["shop"][0])).signatures
    assert sig.result == "temperror"


def test_auth_config_and_prepared_message_cross_to_a_worker_process(keys, dns):
    # the relay cleans in a spawn process pool: what it ships there must pickle
    import pickle

    cfg = config()
    prepared = trust.prepare(signed(message(), keys["shop"][0]), cfg.auth, dns)
    again = pickle.loads(pickle.dumps((cfg.auth, prepared)))
    assert again == (cfg.auth, prepared)
