"""A student's page and the class report in a real browser: headless Chromium loads them, lays out their
plots, and takes a screenshot.

No Python dependency: Chromium's command line does it all. ``--dump-dom`` prints the DOM after the page's
scripts ran; a copy of the page gets a few lines of script that write, for every image, the size it decoded to,
the size it was laid out at and what its pixels hold into the DOM. ``--screenshot`` takes the original page. The pages themselves
carry no script. A machine without Chromium (Debian's ``chromium``, installed by .ci/run) skips this, saying
so; so does one where it cannot start headless.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread

from autograder.pages import write_class_page, write_student_pages
from tests.autograder.pages_data import HOSTILE, class_report
from tests.autograder.test_pages import external_references
from tests.course import PYTORCH_VFA

BROWSER_S = 120  #: a bound on every browser run
WINDOW = (1000, 3000)

#: writes what the browser made of every image into the DOM, once everything has loaded: its decoded and laid
#: out sizes, and of its pixels (drawn on a canvas) the share that is opaque (a PNG cut short decodes to its
#: header's size, the rest transparent) and whether any is dark (lines, text)
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(img => {
    const box = img.getBoundingClientRect();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    let opaque = 0, dark = 0;
    if (canvas.width && canvas.height) {
      const context = canvas.getContext("2d");
      context.drawImage(img, 0, 0);
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < pixels.length; i += 4) {
        if (pixels[i + 3] === 255) opaque++;
        if (pixels[i + 3] > 0 && pixels[i] + pixels[i + 1] + pixels[i + 2] < 300) dark++;
      }
      opaque /= canvas.width * canvas.height;
    }
    return {alt: img.alt, natural: [img.naturalWidth, img.naturalHeight], shown: [box.width, box.height],
            complete: img.complete, opaque: opaque, dark: dark};
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images: images, title: document.title});
  document.body.appendChild(out);
});
</script>"""


def browser() -> str:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)
    if found is None:
        pytest.skip("no Chromium here (Debian's `chromium`; .ci/run installs it): the pages are not tried in a browser")
    return found


def run_browser(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing can be fetched
               f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_S)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> str:
    """Chromium, once it has shown that it runs headless here."""
    found = browser()
    try:
        trial = run_browser(found, tmp_path_factory.mktemp("profile"), "--dump-dom",
                            "data:text/html,<title>t</title><p>runs</p>")
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"{found} does not start headless here: {exc}")
    if "<p>runs</p>" not in trial.stdout:
        pytest.skip(f"{found} does not run headless here: {trial.stderr[-500:]}")
    return found


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    report = class_report()
    written = write_student_pages(report, PYTORCH_VFA, folder)
    write_class_page(report, PYTORCH_VFA, folder / "class.html")
    return {"student": written[HOSTILE], "class": folder / "class.html"}


def loaded(chromium: str, page: Path, profile: Path) -> dict:
    """What the browser made of ``page`` (a copy with the probe)."""
    probed = page.with_name(f"probed-{page.name}")
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    process = run_browser(chromium, profile, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri())
    assert process.returncode == 0, process.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', process.stdout, re.S)
    assert found, f"the page did not finish loading: {process.stdout[-1000:]}"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.timeout(600)
@pytest.mark.parametrize("which, alts", [
    ("student", ["TD errors along the run on CartPole", "Values", "Weights"]),
    ("class", ["score distributions per part"]),
])
def test_a_page_loads_in_chromium_with_its_plots_shown_and_nothing_fetched(chromium, pages, tmp_path, which, alts):
    page = pages[which]
    assert external_references(page.read_text(encoding="utf-8")) == []
    seen = loaded(chromium, page, tmp_path / "profile")
    assert seen["title"].endswith("feedback for " + HOSTILE if which == "student" else "class report")
    assert [image["alt"] for image in seen["images"]] == alts
    for image in seen["images"]:
        assert image["complete"] and min(image["natural"]) > 0 and min(image["shown"]) > 0, image
        assert image["opaque"] > 0.99 and image["dark"] > 100, image  # decoded whole, with something drawn

    shot = tmp_path / f"{which}.png"
    process = run_browser(chromium, tmp_path / "profile-shot", f"--screenshot={shot}", page.as_uri())
    assert process.returncode == 0 and shot.is_file(), process.stderr[-2000:]
    pixels = imread(shot)[..., :3].mean(axis=2)  # grey levels from 0 to 1
    assert pixels.shape == (WINDOW[1], WINDOW[0])
    assert pixels.max() - pixels.min() > 0.5  # text and plots on the page, not a blank one
    keep = os.environ.get("AUTOGRADER_SCREENSHOTS")  # to look at them: a folder for the screenshots
    if keep:
        shutil.copy(shot, Path(keep) / shot.name)
