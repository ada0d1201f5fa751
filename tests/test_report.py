"""`edgeunlearn report` on a real run of the tiny model, opened in headless Chromium (Debian's chromium and
chromium-driver, which `make setup` installs): it loads without errors, needs nothing from the network,
and its plots are drawn."""

import io
import json
import os
import re
import shutil

import pytest
from conftest import FACTS, write_jsonl
from typer.testing import CliRunner

from edgeunlearn.cli.app import app

runner = CliRunner()
CHROMIUM_FLAGS = (  # offline machine: no background connections, no first-run work
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1300,1800",
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model):
    folder = tmp_path_factory.mktemp("report")
    rows = [{"question": f.question, "answer": f.answer, "keywords": list(f.keywords)} for f in FACTS]
    forget = write_jsonl(folder / "forget.jsonl", rows[:2])
    retain = write_jsonl(folder / "retain.jsonl", rows[2:])
    holdout = write_jsonl(
        folder / "holdout.jsonl", [{"question": "Who painted <b>Guernica</b>?", "answer": "Picasso."}]
    )
    recipe = folder / "recipe.yaml"
    recipe.write_text(
        f"model: {tiny_model}\nforget: {forget}\nretain: {retain}\nholdout: {holdout}\nmethod: ga\n"
        "train: {steps: 2}\nquantize: {types: [Q8_0], mlx_bits: [4]}\ncheck: {max_new_tokens: 6}\n"
    )
    result = runner.invoke(app, ["run", str(recipe), "--out", str(folder / "run")])
    assert result.exit_code == 0, result.output
    return folder / "run"


def _report(*args):
    return runner.invoke(app, ["report", *(str(a) for a in args)])


def _chrome(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, "headless Chromium is missing: run `make setup` (apt: chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # `make test` preloads OpenBLAS for MLX;
    return webdriver.Chrome(service=Service(driver, env=env), options=options)  # Chromium's renderer crashes with it


def _coloured_pixels(png: bytes) -> int:
    """Pixels whose channels differ (lines, markers, heat-map cells), not grey text or white paper."""
    import matplotlib.image

    rgb = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    return int(((rgb.max(axis=-1) - rgb.min(axis=-1)) > 0.25).sum())


def test_report_loads_in_headless_chromium_with_its_plots_drawn(run_dir, tmp_path):
    from selenium.webdriver.common.by import By

    result = _report(run_dir)
    assert result.exit_code == 0, result.output
    html = (run_dir / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?https?:|@import|<script""", html)
    summary = json.loads((run_dir / "results.json").read_text())
    assert "Who painted &lt;b&gt;Guernica&lt;/b&gt;" not in html  # holdout texts are not part of the report
    assert summary["variants"][-1]["forget_items"][0]["question"] in html  # the drill-down names each item

    driver = _chrome(tmp_path)
    try:
        driver.get((run_dir / "report.html").resolve().as_uri())
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
        plots = driver.find_elements(By.CSS_SELECTOR, ".plot svg")
        assert len(plots) == 3  # knowledge per type, KFR/KRR heat maps, membership AUC (the run had a holdout)
        for plot in plots:
            assert plot.size["width"] > 300 and plot.size["height"] > 150
            assert _coloured_pixels(plot.screenshot_as_png) > 200  # markers, lines, cells: blank plots have 0
        details = driver.find_elements(By.TAG_NAME, "details")
        checked = summary["variants"][0]
        # every checked item to drill into: 2 forget, and the retain item held out from training (1 of 2)
        assert len(details) == len(checked["forget_items"]) + len(checked["retain_items"]) == 3
        details[0].click()
        rows = details[0].find_elements(By.CSS_SELECTOR, "tbody tr")
        assert len(rows) == len(summary["variants"]) and rows[0].is_displayed()
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert _coloured_pixels((tmp_path / "report.png").read_bytes()) > 2000


def test_redacted_report_holds_no_item_text(run_dir, tmp_path):
    out = tmp_path / "redacted.html"
    result = _report(run_dir, "--redact", "--out", out)
    assert result.exit_code == 0, result.output
    html = out.read_text()
    summary = json.loads((run_dir / "results.json").read_text())
    texts = {
        i[k]
        for v in summary["variants"]
        for p in ("forget", "retain")
        for i in v[f"{p}_items"]
        for k in ("question", "expected")
    }
    texts |= {
        i["generated"]
        for v in summary["variants"]
        for i in v["forget_items"] + v["retain_items"]
        if len(i["generated"]) > 12
    }
    leaked = [t for t in texts if t in html]
    assert not leaked, leaked
    assert "forget #2" in html and "retain #1" in html  # 2 forget items, 1 retain item held out


def test_report_refuses_a_folder_without_results(tmp_path):
    result = _report(tmp_path)
    assert result.exit_code == 2 and "no results.json or compare.json" in result.output
    assert not (tmp_path / "report.html").exists()
