"""The students' pages and the class report (:mod:`autograder.pages`): what they show, escaped, self-contained.

Built from a hand-made report (tests/autograder/pages_data.py) whose student text tries to be markup; the
browser's view of the same pages is tests/autograder/test_browser.py."""

from __future__ import annotations

import base64
import re
import struct
from html.parser import HTMLParser

import pytest

from autograder.pages import class_page, code_spans, student_page, summarize, summary_text, write_student_pages
from autograder.pages.naming import page_names
from autograder.pages.summary import ReportError, group_maxima
from tests.autograder.pages_data import HOSTILE, class_report
from tests.course import PYTORCH_VFA

META = {"assignment": "pytorch_vfa", "device": "cpu", "seed": 20251, "grader_version": "0.1.0", "sandbox": "bwrap"}


class Page(HTMLParser):
    """A page's elements, attributes and text, as a browser's parser sees them."""

    def __init__(self, html: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        (self.styles if self._in_style else self.text).append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def external_references(html: str) -> list[str]:
    """Every reference a page makes to anything outside itself: src, href, srcset, poster, CSS url() and @import."""
    page = Page(html)
    found = [value for _, attrs in page.tags for key, value in attrs.items()
             if key in ("src", "href", "srcset", "poster", "data", "action", "formaction") and value is not None
             and not value.startswith(("data:", "#"))]
    css = " ".join(page.styles + [attrs.get("style") or "" for _, attrs in page.tags])
    found += re.findall(r"url\(\s*['\"]?(?!data:)([^)'\"]*)", css) + re.findall(r"@import[^;]*", css)
    found += [f"<{tag}>" for tag, _ in page.tags if tag in ("link", "script", "iframe", "object", "embed", "base")]
    return found


def png_size(uri: str) -> tuple[int, int]:
    png = base64.b64decode(uri.removeprefix("data:image/png;base64,"), validate=True)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


@pytest.fixture(scope="module")
def report() -> dict:
    return class_report()


@pytest.fixture(scope="module")
def pages(report) -> dict[str, str]:
    maxima = group_maxima(report["submissions"])
    return {s["student"]: student_page(s, PYTORCH_VFA, META, maxima) for s in report["submissions"]}


# --- students' pages ----------------------------------------------------------------------------------------

def test_student_text_is_text_never_markup(pages):
    html = pages[HOSTILE]
    page = Page(html)
    assert not [tag for tag, _ in page.tags if tag == "script"]
    assert not [key for _, attrs in page.tags for key in attrs if key.startswith("on")]
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    text = "".join(page.text)
    assert HOSTILE in text  # shown as written: in the name, the feedback's exception and the notes
    assert text.count(HOSTILE) >= 3


def test_no_page_refers_to_anything_outside_itself(pages, report):
    for html in [*pages.values(), class_page(summarize(report, PYTORCH_VFA), PYTORCH_VFA, META)]:
        assert external_references(html) == []


def test_a_student_page_shows_the_score_per_part_and_every_check(pages, report):
    page = Page(pages["alice"])
    text = " ".join(t.strip() for t in page.text if t.strip())
    assert "Feedback for alice : 21 / 100 points" in text
    assert "Part 4: semi-gradient TD(0) prediction 16 / 16" in text and "Part 6: Baird's counterexample 5 / 5" in text
    for c in report["submissions"][0]["checks"]:
        assert c["feedback"] in text


def test_plots_show_what_was_measured_where_a_check_did_not_pass(pages):
    assert Page(pages["alice"]).all("img") == []  # every run matched the expected one: nothing to add
    images = Page(pages[HOSTILE]).all("img")
    assert [img["alt"] for img in images] == ["TD errors along the run on CartPole", "Values", "Weights"]
    for img in images:
        assert img["src"].startswith("data:image/png;base64,")
        assert png_size(img["src"]) == (int(img["width"]), int(img["height"])) and int(img["width"]) > 0


def test_an_ungraded_submission_gets_a_page_that_says_why(pages):
    page = Page(pages["bob"])
    assert "could not be graded" in page.text and "the grader failed: " + HOSTILE in page.text


def test_pages_are_written_one_per_student_under_safe_names(report, tmp_path):
    written = write_student_pages(report, PYTORCH_VFA, tmp_path / "pages")
    assert set(written) == {s["student"] for s in report["submissions"]}
    assert all(path.parent == tmp_path / "pages" and path.is_file() for path in written.values())
    assert written["alice"].name == "alice.html"
    assert re.fullmatch(r"script_alert_x_script_img_src_https_evil_example_x_png_\w+-[0-9a-f]{8}\.html",
                        written[HOSTILE].name)  # its safe characters, cut short, and a hash of the whole id


def test_ids_alike_but_for_case_get_the_hash_of_the_whole_id():
    names = page_names(["alice", "Alice"])
    assert names["alice"] == "alice.html" and re.fullmatch(r"Alice-[0-9a-f]{8}\.html", names["Alice"])


@pytest.mark.parametrize("students", [
    ["../../etc/passwd", "..", ".", "", "a/b", "a\\b", "CON", "nul", "x" * 300, "émile", "a b", "-rf"],
    ["alice", "Alice", "ALICE"],  # one page each on a disk that ignores case
    ["dana", "Dana", "dana-" + "0" * 8],  # an id that spells a name with a hash: numbered
    ["bob", "bob/", "bob-" + "0" * 8],
])
def test_file_names_from_student_ids_are_safe_and_unique(students):
    names = page_names(students)
    assert len({n.lower() for n in names.values()}) == len(set(students))
    for name in names.values():
        assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]*\.html", name) and len(name) <= 100
        assert name.removesuffix(".html").lower() not in ("con", "nul")


# --- the class report -------------------------------------------------------------------------------------

def test_the_class_summary_counts_what_the_report_holds(report):
    summary = summarize(report, PYTORCH_VFA)
    assert (summary.submissions, summary.graded) == (4, 3)
    groups = {g.group: g for g in summary.groups}
    assert (groups["td0"].max_score, groups["td0"].scores, groups["td0"].full) == (16, [16, 3, 6], 1)
    assert (groups["total"].max_score, groups["total"].scores) == (100, [21, 3, 6])
    rates = {c.name: dict(c.counts) for c in summary.checks}
    assert rates == {"td0.update": {"passed": 1, "failed": 2}, "td0.run": {"passed": 2, "partial": 1},
                     "baird.run_td": {"passed": 1, "failed": 2}}  # the timeout counted as failed
    assert [(h.code, h.students, h.checks) for h in summary.codes] == [
        ("double-step", 1, [("td0.update", 1)]), ("no-divergence", 1, [("baird.run_td", 1)]),
        ("tampering", 1, [("td0.update", 1)]), ("timeout", 1, [("baird.run_td", 1)])]
    assert all(h.reteach for h in summary.codes)
    assert summary.ungraded == [("bob", "the grader failed: " + HOSTILE)]
    assert summary.tampering == [("eve", ["read ../solutions <b>bold</b>"])]


def test_diagnoses_are_ranked_by_students_hit_not_by_checks():
    report = class_report()
    for student in ("carol", "dan"):  # two more students with the double step
        report["submissions"].append({**report["submissions"][1], "student": student})
    eve = report["submissions"][2]  # and one with a code in several checks
    eve["checks"] = [{**c, "diagnosis": "wrong-device", "diagnoses": ["wrong-device"]} for c in eve["checks"] * 2]
    codes = [(h.code, h.students, sum(n for _, n in h.checks)) for h in summarize(report, PYTORCH_VFA).codes]
    assert codes[:3] == [("double-step", 3, 3), ("no-divergence", 3, 3), ("wrong-device", 1, 6)]


def test_the_class_page_shows_distributions_rates_diagnoses_and_who_to_look_at(report):
    summary = summarize(report, PYTORCH_VFA)
    html = class_page(summary, PYTORCH_VFA, META)
    page = Page(html)
    text = " ".join(t.strip() for t in page.text if t.strip())
    (histograms,) = page.all("img")
    assert png_size(histograms["src"])[0] > 500
    assert "td0.update 10 33% 0% 67%" in text
    assert "double-step td0.update (1) mse_loss is mean δ², whose gradient is 2δ∇v̂" in text
    assert "bob the grader failed: " + HOSTILE in text and "eve read ../solutions <b>bold</b>" in text
    assert "<b>bold</b>" not in html
    line = PYTORCH_VFA.reteach["copy-not-view"]  # `code` in a re-teach line is set as code, the rest escaped
    assert code_spans(line).startswith("Views against copies: <code>view</code>, <code>torch.from_numpy</code>")
    assert code_spans("a `<b>` and `x") == "a `&lt;b&gt;` and `x"  # an unmatched backtick: all text
    assert code_spans("`<i>`") == "<code>&lt;i&gt;</code>"
    assert code_spans("<b>x</b> `y`") == "&lt;b&gt;x&lt;/b&gt; <code>y</code>"


def test_the_text_summary_shows_control_characters_instead_of_obeying_them(report):
    report = class_report()
    report["submissions"][3]["student"] = "mallory\x1b[2J\r"
    text = summary_text(summarize(report, PYTORCH_VFA))
    assert "\x1b" not in text and "\r" not in text and "mallory\\x1b[2J\\r: the grader failed" in text
    assert "Class summary of pytorch_vfa: 4 submission(s), 3 graded, 1 could not be graded" in text
    assert "Re-teach: " + PYTORCH_VFA.reteach["no-divergence"] in text


@pytest.mark.parametrize("bad, message", [
    ([], "needs \"assignment\""), ({"assignment": "pytorch_vfa"}, "list of \"submissions\""),
    ({"assignment": "pytorch_vfa", "submissions": [{"checks": []}]}, "submission 0"),
    ({"assignment": "policy_gradient", "submissions": []}, "of 'policy_gradient', not of 'pytorch_vfa'"),
])
def test_a_report_of_another_shape_is_refused_with_what_is_wrong(bad, message):
    with pytest.raises(ReportError, match=message):
        summarize(bad, PYTORCH_VFA)
