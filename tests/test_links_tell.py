"""What the reader and the admin are told about link edits: titles, the notice in every
language, the X-PixelGuard header, and `pixelguard report`'s counts."""
from __future__ import annotations

import json

import pytest
from links_mail import ALL, clean_doc, link, message

from pixelguard import clean_message
from pixelguard.model import Policy
from pixelguard.notice import header_value, link_title, summary
from pixelguard.report import Report, main, parse_stamp, render, seen_from_headers

MAILCHIMP = "https://shop.us5.list-manage.com/track/click?u=1a2b&id=3c4d&e=5e6f"
SENDGRID = "https://u777.ct.sendgrid.net/ls/click?upn=AbCd-3D"
GOOGLE = "https://www.google.com/url?q=https%3A%2F%2Fshop.example%2Fa%3Futm_source%3Dg&sa=D"
PLAIN = "https://shop.example/b?fbclid=9&id=2"

TITLES = {
    "en": "Clicking tells Mailchimp you clicked",
    "de": "Ein Klick verrät Mailchimp, dass Sie geklickt haben",
    "fr": "Un clic indique à Mailchimp que vous avez cliqué",
    "es": "Al hacer clic, Mailchimp sabe que usted ha hecho clic",
    "it": "Un clic comunica a Mailchimp che hai cliccato",
    "nl": "Een klik laat Mailchimp weten dat u hebt geklikt",
    "pt": "Clicar informa a Mailchimp que você clicou",
}
# (14 links to one vendor, 1 unwrapped, 2 stripped) in each language
SENTENCES = {
    "en": ("14 links report clicks to Mailchimp.", "1 link now goes straight to its destination.",
           "Tracking parameters were removed from 2 links."),
    "de": ("14 Links melden Klicks an Mailchimp.", "1 Link führt jetzt direkt zu seinem Ziel.",
           "Aus 2 Links wurden Tracking-Parameter entfernt."),
    "fr": ("14 liens signalent les clics à Mailchimp.",
           "1 lien mène désormais directement à sa destination.",
           "Des paramètres de suivi ont été retirés de 2 liens."),
    "es": ("14 enlaces informan de los clics a Mailchimp.",
           "1 enlace lleva ahora directamente a su destino.",
           "Se quitaron parámetros de seguimiento de 2 enlaces."),
    "it": ("14 link segnalano i clic a Mailchimp.",
           "1 link ora porta direttamente alla sua destinazione.",
           "Sono stati rimossi parametri di tracciamento da 2 link."),
    "nl": ("14 links melden klikken aan Mailchimp.", "1 link gaat nu rechtstreeks naar de bestemming.",
           "Uit 2 links zijn trackingparameters verwijderd."),
    "pt": ("14 links informam os cliques a Mailchimp.", "1 link agora leva diretamente ao seu destino.",
           "Foram removidos parâmetros de rastreamento de 2 links."),
}


@pytest.mark.parametrize("lang", sorted(TITLES))
def test_title_in_each_language(lang):
    assert link_title("Mailchimp", lang) == TITLES[lang]
    out, _ = clean_doc(link(MAILCHIMP), lang=lang)
    assert 'title="' in out
    import html

    title = out.split('title="')[1].split('"')[0]
    assert html.unescape(title) == TITLES[lang]
    assert title.isascii()  # any charset carries it


def _body() -> str:
    return ("<p>News</p>" + "".join(f"<p>{link(MAILCHIMP, f'Story {i}')}</p>" for i in range(14))
            + f"<p>{link(GOOGLE, 'Shop')}</p><p>{link(PLAIN, 'More')}</p>")


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_notice_counts_link_edits_in_each_language(lang):
    out, result = clean_doc(_body(), notice=True, lang=lang)
    import html

    text = html.unescape(out.split('data-pixelguard="notice"')[1])
    for sentence in SENTENCES[lang]:
        assert sentence in text, (lang, sentence, text)
    assert summary([], lang, None, result.links).count(".") >= 4


def test_notice_names_each_vendor_and_counts_other_vendors_together():
    from pixelguard.model import LinkChange
    from pixelguard.notice import MAX_VENDORS

    links = [LinkChange("marked", f"https://v{i}.example/", None, f"Vendor{i}", "1", "a[href]")
             for i in range(MAX_VENDORS + 2) for _ in range(MAX_VENDORS + 2 - i)]
    text = summary([], "en", None, links)
    assert "10 links report clicks to Vendor0." in text
    assert "Vendor9" not in text and "3 links report clicks to other vendors." in text


def test_header_summarises_link_edits_and_keeps_the_existing_fields():
    pixel = '<img src="https://shop.us5.list-manage.com/track/open.php?u=1&id=2" width="1" height="1">'
    raw = message(f"<html><body><p>Hi</p>{pixel}{_body()}{link(SENDGRID)}</body></html>")
    result = clean_message(raw, Policy(links=ALL))
    header = raw_header(result.raw)
    assert header.startswith("removed=1; vendors=\"Mailchimp\"; rules=known-tracker; ")
    assert header.endswith('links=unwrapped:1,stripped:2,marked:15; '
                           'link_vendors="Mailchimp:14, Google:1, SendGrid:1"')
    assert result.changed and len(result.findings) == 1 and len(result.links) == 18


def test_a_message_whose_only_change_is_its_links_is_changed_and_stamped():
    raw = message(f"<html><body><p>Hi</p>{link(PLAIN)}</body></html>")
    result = clean_message(raw, Policy(links=ALL))
    assert result.changed and result.findings == []
    assert raw_header(result.raw) == "removed=0; links=stripped:1"
    assert b"pixelguard checked the links of this message." in result.raw
    assert header_value([], links=result.links) == "removed=0; links=stripped:1"


def test_links_options_off_change_nothing():
    raw = message(f"<html><body><p>Hi</p>{_body()}</body></html>")
    result = clean_message(raw, Policy())
    assert result.raw == raw and not result.changed and result.links == []


def raw_header(raw: bytes) -> str:
    head = raw.split(b"\r\n\r\n")[0].decode()
    value = head.split("X-PixelGuard:")[1].split("\r\nFrom:")[0]
    return " ".join(value.split())


def test_report_parses_link_counts_from_the_header():
    stamp = parse_stamp('removed=2; vendors="SendGrid"; rules=size; links=unwrapped:1,marked:14;'
                        ' link_vendors="Mailchimp:14, Google:1"')
    assert stamp.removed == 2 and stamp.vendors == ("SendGrid",)
    assert stamp.links == (("unwrapped", 1), ("marked", 14))
    assert stamp.link_vendors == (("Mailchimp", 14), ("Google", 1))
    assert parse_stamp("removed=1; rules=size").links == ()


def _mailbox(tmp_path):
    cur = tmp_path / "Maildir" / "cur"
    cur.mkdir(parents=True)
    (tmp_path / "Maildir" / "new").mkdir()
    heads = [
        ('X-PixelGuard: removed=1; vendors="Mailchimp"; rules=known-tracker; links=marked:14;\r\n'
        ' link_vendors="Mailchimp:14"\r\nFrom: a@shop.example\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n'),
        ('X-PixelGuard: removed=0; links=unwrapped:2,stripped:3; link_vendors="Google:2"\r\n'
        'From: b@paper.example\r\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n'),
        ('X-PixelGuard: removed=2; vendors="SendGrid"; rules=size\r\n'
        'From: c@bank.example\r\nDate: Wed, 4 Mar 2026 10:00:00 +0000\r\n'),
    ]
    for i, head in enumerate(heads):
        (cur / f"{i}.host:2,S").write_bytes(head.encode() + b"\r\nbody\r\n")
    return tmp_path / "Maildir"


def test_report_counts_tracked_links_per_vendor_beside_pixels(tmp_path, capsys):
    path = _mailbox(tmp_path)
    report = Report()
    for head in (p.read_bytes().split(b"\r\n\r\n")[0] for p in sorted((path / "cur").iterdir())):
        report.add(seen_from_headers(head))
    assert report.with_links == 2
    assert dict(report.link_vendors) == {"Mailchimp": 14, "Google": 2}
    text = render(report)
    assert "Vendors (messages with their trackers; tracked links)" in text
    rows = {line.split()[0]: line.split()[1:3] for line in text.splitlines()
            if line.startswith("  ") and line.split()[0] in ("Mailchimp", "SendGrid", "Google")}
    assert rows == {"Mailchimp": ["1", "14"], "SendGrid": ["1", "0"], "Google": ["0", "2"]}
    assert "links changed in 2 messages (2 unwrapped, 3 stripped, 14 marked)" in text
    assert main([str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["links_by_vendor"] == {"Mailchimp": 14, "Google": 2}
    assert data["links"] == {"unwrapped": 2, "stripped": 3, "marked": 14}
    assert data["messages_with_links_changed"] == 2
    assert data["by_vendor"] == {"Mailchimp": 1, "SendGrid": 1}  # pixels as before


def test_report_html_shows_tracked_links(tmp_path):
    from pixelguard.report_html import page

    path = _mailbox(tmp_path)
    report = Report()
    for p in sorted((path / "cur").iterdir()):
        report.add(seen_from_headers(p.read_bytes().split(b"\r\n\r\n")[0]))
    assert "14 tracked links" in page(report, str(path))


def test_clean_and_scan_commands_with_a_links_config(tmp_path):
    from cli_run import run_cli

    config = tmp_path / "pg.yaml"
    config.write_text("defaults:\n  links: {strip_params: true, mark: true}\n")
    mail = tmp_path / "m.eml"
    mail.write_bytes(message(f"<html><body><p>Hi</p>{link(PLAIN)}{link(MAILCHIMP)}</body></html>"))
    env = {"XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def run(*args: str) -> str:
        proc = run_cli(*args, env=env)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.decode()

    out = run("clean", "--config", str(config), str(mail))
    assert 'href="https://shop.example/b?id=2"' in out
    assert "links=stripped:1,marked:1" in out
    (line,) = run("scan", "--json", "--config", str(config), str(mail)).splitlines()
    data = json.loads(line)
    assert data["trackers"] == []
    assert [(c["action"], c["vendor"]) for c in data["links"]] == [("stripped", None),
                                                                  ("marked", "Mailchimp")]
    table = run("scan", "--config", str(config), str(mail))
    assert "link stripped" in table and "link marked     Mailchimp" in table


def test_stamp_writes_and_reads_back_link_fields():
    from pixelguard import stamp

    value = stamp.removed(0, [], [], ["part 2 too big"], [("unwrapped", 2), ("marked", 3)],
                          [('Odd "Vendor": Inc, Ltd', 3), ("Google", 2)])
    assert value == ('removed=0; links=unwrapped:2,marked:3; '
                     'link_vendors="Odd Vendor Inc Ltd:3, Google:2"; skipped=part 2 too big')
    read = stamp.parse(value)
    assert read.links == (("unwrapped", 2), ("marked", 3))
    assert read.link_vendors == (("Odd Vendor Inc Ltd", 3), ("Google", 2))
    assert stamp.removed(1, ["X"], ["size"]) == 'removed=1; vendors="X"; rules=size'
