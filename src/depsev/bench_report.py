"""``depsev bench report``: the HTML report as a researcher sees it, in a real headless browser.

Opens ``results/report.html`` (``snakemake --report``) in headless Chromium (driven by Playwright, the
browser binary found on this machine: nothing is downloaded), at a laptop-sized viewport, and checks
that the FIRST SCREEN -- without scrolling or clicking -- shows, each entirely inside the viewport:

- which data (the SYNTHETIC demo cohort or the corpus),
- the headline table (model, mean predictor, on dev and test),
- the QC counts (in / ok / flagged),
- the integrity status (PASSED or FAILED),
- the test scatter (an image that loaded);

that each of them links to its detail, that every link of the front page works (clicking it raises no
page error and changes the view), and that docutils left no error message in the page. It writes a
screenshot of the first screen and a JSON + Markdown record; it fails (exit 1) when any check fails,
and refuses to run (exit 2, never a silent pass) without Playwright or a Chromium binary.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from depsev.errors import InputError

#: the flags the browser is started with: headless, and nothing that reaches the network
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: what must be on the first screen: name -> (CSS selector inside the summary, regular expression its
#: text must match, whether it must link to its detail)
ELEMENTS = {
    "dataset": (".depsev-summary p", r"^Data: (SYNTHETIC|.*(E-DAIC|DAIC-WOZ))", True),
    "headline_table": (".depsev-summary table", r"Headline[\s\S]*dev[\s\S]*test[\s\S]*mean predictor", True),
    "qc_counts": (".depsev-summary p", r"^QC, participants in / ok / flagged: .*\d+ / \d+ / \d+", True),
    "integrity": (".depsev-summary p", r"^Integrity: (PASSED|FAILED)", True),
    "test_scatter": (".depsev-summary img.depsev-test-scatter", r"", True),
}

# runs in the page: every element matching the selector and the pattern, with its box and links
_FIND = """([selector, pattern]) => {
  const re = new RegExp(pattern);
  return Array.from(document.querySelectorAll(selector))
    .filter(el => re.test(el.innerText || ''))
    .map(el => {
      const r = el.getBoundingClientRect();
      const within = el.closest('a') ? [el.closest('a')] : [];
      const links = within.concat(Array.from(el.querySelectorAll('a')))
        .map(a => a.getAttribute('href') || '');
      return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
              text: (el.innerText || el.getAttribute('alt') || '').slice(0, 300), links: links,
              loaded: el.tagName === 'IMG' ? (el.complete && el.naturalWidth > 0) : null};
    });
}"""


def find_browser(path: str | None = None) -> str:
    """The Chromium binary: ``path``, else the first of :data:`BROWSER_NAMES` on PATH."""
    if path:
        if not Path(path).is_file():
            raise InputError(path, "browser binary not found (--browser)")
        return path
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise InputError(None, "no Chromium binary on PATH (tried " + ", ".join(BROWSER_NAMES) + "); install "
                           "one (Debian: apt-get install chromium) or pass --browser PATH")


def _sync_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise InputError(None, "bench report needs the playwright Python package (pip install playwright); "
                               "it drives the Chromium found on this machine, no browser download") from exc
    return sync_playwright


def check_boxes(found: dict[str, list[dict]], width: int, height: int) -> dict[str, dict]:
    """Per element: present, entirely inside the ``width`` x ``height`` first screen, linking to its
    detail (and, for an image, loaded). Pure: tested without a browser."""
    checks = {}
    for name, (_, _, needs_link) in ELEMENTS.items():
        hits = found.get(name) or []
        if not hits:
            checks[name] = {"ok": False, "why": "not on the page"}
            continue
        box = hits[0]
        inside = box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= height and box["right"] <= width
        linked = any(h.startswith("javascript:app.show") for h in box["links"])
        problems = [] if inside else [f"not entirely on the first screen (top {box['top']:.0f}, bottom "
                                      f"{box['bottom']:.0f}, viewport {width}x{height})"]
        if needs_link and not linked:
            problems.append("no link to its detail")
        if box.get("loaded") is False:
            problems.append("image did not load")
        checks[name] = {"ok": not problems, "why": "; ".join(problems), "box": box}
    return checks


def bench_report(report: str | Path, out: str | Path, *, browser: str | None = None, width: int = 1280,
                 height: int = 800, timeout_s: float = 60.0) -> dict:
    """Render ``report``, check its first screen (module docstring); write ``first_screen.png``,
    ``report_check.json`` and ``report_check.md`` into ``out``. Returns the record (``ok``)."""
    report = Path(report)
    if not report.is_file():
        raise InputError(report, "report not found (snakemake --report results/report.html writes it)")
    exe = find_browser(browser)
    sync_playwright = _sync_playwright()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shot = out / "first_screen.png"
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="depsev-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=exe, headless=True, args=list(CHROMIUM_ARGS[1:]),
            viewport={"width": width, "height": height}, offline=True)
        try:
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(report.resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
            _wait_rendered(page, timeout_s)
            page.screenshot(path=str(shot))
            found = {name: page.evaluate(_FIND, [sel, pattern])
                     for name, (sel, pattern, _) in ELEMENTS.items()}
            system_messages = page.evaluate(
                "() => Array.from(document.querySelectorAll('.system-message')).map(e => e.innerText)")
            links = _click_links(page, errors)
        finally:
            context.close()
    checks = check_boxes(found, width, height)
    checks["no_docutils_messages"] = {"ok": not system_messages, "why": "; ".join(system_messages)[:2000]}
    broken = [k for k, v in links.items() if not v]
    checks["links_work"] = {"ok": bool(links) and not broken and not errors,
                            "why": "; ".join([f"{k} changed nothing" for k in broken] + errors)[:2000]
                            or ("" if links else "no links on the front page"),
                            "links": links}
    record = {"report": str(report), "browser": exe, "viewport": [width, height], "screenshot": str(shot),
              "ok": all(c["ok"] for c in checks.values()), "checks": checks}
    (out / "report_check.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "report_check.md").write_text(record_markdown(record))
    return record


def _wait_rendered(page, timeout_s: float) -> None:
    """Until the report's app has drawn its first view (the summary may be missing: checked after)."""
    page.wait_for_function("() => { const a = document.querySelector('#app'); "
                           "return a && a.innerText.length > 0; }", timeout=timeout_s * 1000)
    page.wait_for_load_state("networkidle", timeout=timeout_s * 1000)


def _click_links(page, errors: list[str]) -> dict[str, bool]:
    """Click every link of the front page once, from a fresh front page each time; True where the view
    changed (the navigation panel or the content)."""
    from playwright.sync_api import Error as PlaywrightError

    hrefs = page.evaluate("() => Array.from(new Set(Array.from(document.querySelectorAll("
                          "'.depsev-summary a')).map(a => a.getAttribute('href'))))")
    result = {}
    state = "() => document.querySelector('#app').innerText"
    for href in hrefs:
        if not href.startswith("javascript:app.show"):
            result[href] = False
            continue
        page.reload(wait_until="load")
        _wait_rendered(page, 60.0)
        before = page.evaluate(state)
        n_errors = len(errors)
        try:
            page.locator(f'.depsev-summary a[href="{href}"]').first.click(timeout=5000)
        except PlaywrightError as exc:  # e.g. a link pushed out of reach by the layout
            errors.append(f"{href}: cannot be clicked: {str(exc).splitlines()[0]}")
            result[href] = False
            continue
        page.wait_for_timeout(200)
        result[href] = page.evaluate(state) != before and len(errors) == n_errors
    return result


def record_markdown(record: dict) -> str:
    lines = [f"# Report first screen: {'PASSED' if record['ok'] else 'FAILED'}", "",
             f"`{record['report']}` in {record['browser']} (headless), viewport "
             f"{record['viewport'][0]}x{record['viewport'][1]}; screenshot `{record['screenshot']}`.", "",
             "| check | ok | detail |", "|---|---|---|"]
    for name, c in record["checks"].items():
        detail = c["why"] or (c.get("box", {}).get("text", "").replace("\n", " ")[:120])
        lines.append(f"| {name} | {'yes' if c['ok'] else '**no**'} | {detail.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
