"""What hosting needs: the Read the Docs and CI files, the SQLAlchemy inventory, the site's
metadata (Open Graph, sitemap, 404 page, favicon) and the downloads; the hosted build, served
under its sub-path as GitHub Pages serves it, in Chromium (tests/test_browser.py's browser):
its 404 page and its search.

The two configuration files cannot run here: they are validated against their published JSON
schemas, vendored in tests/schemas/ (see its README), and checked to build the way `nox -s docs`
does.
"""

from __future__ import annotations

import functools
import io
import json
import re
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import test_browser
import yaml
from test_browser import QuietHandler, Visit, expect, screenshot, serving
from test_search import QUERIES, result_pages, type_search

from conftest import HOSTED_BASE_URL
from sitebuild import EXAMPLE_PAGES, EXAMPLES, ROOT

SCHEMAS = Path(__file__).parent / "schemas"
INVENTORY = ROOT / "docs" / "_inventories" / "sqlalchemy-objects.inv"
EXAMPLE_PAGE = "auto_examples/synchronize_session/four_strategies.html"


class YamlLoader(yaml.SafeLoader):
    """YAML 1.2 booleans only: GitHub reads `on:` as a key, PyYAML's YAML 1.1 as True."""


YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def load_yaml(relative: str):
    return yaml.load((ROOT / relative).read_text(encoding="utf-8"), Loader=YamlLoader)


def validate(document, schema_name: str) -> None:
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


# ---------------------------------------------------------------------------------------------
# Read the Docs and the CI workflow
# ---------------------------------------------------------------------------------------------


def test_readthedocs_config_matches_its_schema():
    validate(load_yaml(".readthedocs.yaml"), "readthedocs.json")


def test_readthedocs_builds_like_nox_with_the_pinned_versions():
    config = load_yaml(".readthedocs.yaml")
    assert config["build"]["tools"]["python"] == "3.11"
    install = " ".join(config["build"]["jobs"]["install"])
    assert "-c requirements/constraints.txt" in install
    assert "-r requirements/docs.in" in install
    build = " ".join(config["build"]["jobs"]["build"]["html"])
    for part in ("-c .", "-W", "--keep-going", "-n", "docs", "$READTHEDOCS_OUTPUT/html"):
        assert part in build, part


@pytest.mark.parametrize("workflow", ["docs.yml", "release-watch.yml"])
def test_ci_workflow_matches_its_schema(workflow):
    validate(load_yaml(f".github/workflows/{workflow}"), "github-workflows.json")


def test_the_release_watch_runs_weekly_and_on_demand():
    workflow = load_yaml(".github/workflows/release-watch.yml")
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads on: as True
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit(), "once a week"
    runs = " ".join(step.get("run", "") for step in workflow["jobs"]["watch"]["steps"])
    assert "nox -s release_watch" in runs


def test_ci_workflow_builds_strictly_and_publishes_build_html_to_pages():
    workflow = load_yaml(".github/workflows/docs.yml")
    build = workflow["jobs"]["build"]
    runs = " ".join(step.get("run", "") for step in build["steps"])
    # That the docs session itself passes -W --keep-going -n: tests/test_strict_builds.py.
    assert "nox -s docs-full" in runs, "the published build is the full one"
    uploads = [s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages")]
    assert uploads and uploads[0]["with"]["path"] == "build/html"
    deploy = workflow["jobs"]["deploy"]
    assert set(deploy["needs"]) == {"build", "test"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in deploy["steps"])
    test = workflow["jobs"]["test"]
    runs = [step.get("run", "") for step in test["steps"]]
    assert any("bash .ci/run" in run for run in runs)
    assert any("nox -s lint" in run for run in runs)


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "$CALLS"
case " $* " in *" $FAIL_ON "*) exit 3 ;; esac
"""


def run_ci_script(
    tmp_path: Path, chromium_installed: bool, fail_on: str = "no such call", npm_installed=True
):
    """.ci/run with apt-get and python3 replaced by stubs that record their arguments.

    The copy looks for Chromium and npm at paths of the test's choosing instead of /usr/bin.
    """
    (tmp_path / ".ci").mkdir(parents=True)
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for program, installed in (("chromium", chromium_installed), ("npm", npm_installed)):
        path = tmp_path / program
        if installed:
            path.write_text("#!/bin/sh\n")
            path.chmod(0o755)
        check = f"[ ! -x /usr/bin/{program} ]"
        assert check in script, "the check this test redirects"
        script = script.replace(check, f"[ ! -x {path} ]")
    (tmp_path / ".ci" / "run").write_text(script)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name in ("apt-get", "python3"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    calls = tmp_path / "calls"
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "CALLS": str(calls), "FAIL_ON": fail_on}
    result = subprocess.run(
        ["bash", str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True
    )
    said = calls.read_text().splitlines() if calls.exists() else []
    return result, said


CI_SESSIONS = [
    f"python3 -m nox -s {name}" for name in ("tests", "dialects", "other-versions", "lint")
]


def test_ci_script_installs_chromium_then_runs_every_session(tmp_path):
    result, calls = run_ci_script(tmp_path, chromium_installed=False)
    assert result.returncode == 0, result.stderr
    assert calls == [
        "apt-get update",
        "apt-get install -y chromium chromium-driver",
        "python3 -m pip install --quiet nox",
        *CI_SESSIONS,
    ], calls


def test_ci_script_installs_node_and_npm_when_missing(tmp_path):
    result, calls = run_ci_script(tmp_path, chromium_installed=True, npm_installed=False)
    assert result.returncode == 0, result.stderr
    assert calls[:2] == ["apt-get update", "apt-get install -y nodejs npm"], calls
    result, calls = run_ci_script(tmp_path / "both", chromium_installed=False, npm_installed=False)
    assert "apt-get install -y chromium chromium-driver nodejs npm" in calls, calls


def test_ci_script_leaves_an_installed_chromium_alone(tmp_path):
    result, calls = run_ci_script(tmp_path, chromium_installed=True)
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls if call.startswith("apt-get")], calls
    assert calls[-len(CI_SESSIONS) :] == CI_SESSIONS, calls


@pytest.mark.parametrize("failing", ["tests", "dialects"])
def test_ci_script_stops_at_the_first_failing_session(tmp_path, failing):
    result, calls = run_ci_script(tmp_path, chromium_installed=True, fail_on=failing)
    assert result.returncode != 0, "a failing session fails CI"
    assert calls[-1] == f"python3 -m nox -s {failing}", calls


# ---------------------------------------------------------------------------------------------
# The SQLAlchemy inventory: in the repository, so that the build downloads nothing
# ---------------------------------------------------------------------------------------------


def inventory_names() -> dict[str, str]:
    data = INVENTORY.read_bytes()
    header, body = data.split(b"\n", 4)[:4], data.split(b"\n", 4)[4]
    assert header[0] == b"# Sphinx inventory version 2"
    names = {}
    for line in zlib.decompress(body).decode().splitlines():
        name, role, _priority, uri = line.split(" ", 4)[:4]
        names[f"{role} {name}"] = uri
    return names


def test_inventory_is_a_local_file_with_sqlalchemy_names_and_public_aliases():
    read = "import json, runpy; print(json.dumps(runpy.run_path('conf.py')['intersphinx_mapping']))"
    mapping = json.loads(
        subprocess.run(
            [sys.executable, "-c", read], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    )
    target, location = mapping["sqlalchemy"]
    assert target.startswith("https://") and not location.startswith(("http:", "https:"))
    assert Path(location) == INVENTORY and INVENTORY.exists()
    names = inventory_names()
    for entry in (
        "py:class sqlalchemy.orm.Session",
        "py:method sqlalchemy.orm.Session.commit",
        "py:exception sqlalchemy.orm.exc.StaleDataError",
        "py:function sqlalchemy.update",
        "py:function sqlalchemy.select",
        "py:class sqlalchemy.String",
        "std:label orm_queryguide_update_delete_sync",
    ):
        assert entry in names, entry
    assert names["py:function sqlalchemy.update"].endswith("#sqlalchemy.sql.expression.update")


def test_example_code_links_sqlalchemy_names_to_the_official_docs(site):
    page = site.soup(EXAMPLE_PAGE)
    links = {
        a.get_text(): a["href"]
        for a in page.select("div.highlight-Python a[href]")
        if a["href"].startswith("https://docs.sqlalchemy.org/")
    }
    for name in ("update", "select", "create_engine", "Session", "mapped_column"):
        assert name in links, (name, sorted(links))
    assert links["update"].endswith("core/dml.html#sqlalchemy.sql.expression.update")


def prose_links(site, relative: str) -> dict[str, str]:
    page = site.soup(relative)
    return {a.get_text(): a["href"] for a in page.select("article a.sqlalchemy-link")}


def test_sqlalchemy_names_in_prose_link_to_the_official_docs(site):
    links = prose_links(site, "index.html")
    docs = "https://docs.sqlalchemy.org/en/21/"
    expected = {
        "Session.commit()": "orm/session_api.html#sqlalchemy.orm.Session.commit",
        "synchronize_session": "orm/queryguide/dml.html#orm-queryguide-update-delete-sync",
        "expire_on_commit": "orm/session_api.html#sqlalchemy.orm.Session.params.expire_on_commit",
        "refresh()": "orm/session_api.html#sqlalchemy.orm.Session.refresh",
        "update()": "core/dml.html#sqlalchemy.sql.expression.update",
    }
    for text, target in expected.items():
        assert links.get(text) == docs + target, (text, links.get(text))


def test_sql_keywords_literals_and_expressions_stay_plain_code(site):
    page = site.soup("index.html")
    plain = [c.get_text() for c in page.select("article code.literal") if not c.find_parent("a")]
    for text in ("'fetch'", "False"):
        assert text in plain, (text, plain)
    for relative in ("index.html", EXAMPLE_PAGE):
        for text in prose_links(site, relative):
            assert not text.isupper(), f"an SQL keyword was linked: {text}"
            assert not text.startswith(("'", '"')), f"a string was linked: {text}"


# ---------------------------------------------------------------------------------------------
# Metadata a host and a link preview read
# ---------------------------------------------------------------------------------------------


def test_pages_have_open_graph_tags_and_a_favicon(site):
    page = site.soup(EXAMPLE_PAGE)
    properties = {m["property"]: m["content"] for m in page.select("meta[property^='og:']")}
    for key in ("og:title", "og:type", "og:site_name", "og:description"):
        assert properties.get(key), key
    assert "og:image" not in properties, "no generated social card images"
    icon = page.select_one("link[rel~='icon']")
    assert icon and icon["href"].endswith("favicon.svg")
    assert (site.html / "_static" / "favicon.svg").read_text().lstrip().startswith("<svg")


LOCAL_ADDRESS = re.compile(
    r"(?:https?:)?//(?:127\.\d+\.\d+\.\d+|localhost|\[::1\]|0\.0\.0\.0)(?![\w.-])"
)


def published_text_files(html: Path) -> list[Path]:
    return sorted(
        path
        for pattern in ("**/*.html", "**/*.md", "*.txt", "**/llms.txt", "*.xml")
        for path in html.glob(pattern)
    )


def test_a_build_without_a_base_url_names_no_local_address(site):
    """A local build (no host said where the site lives) has no canonical address at all."""
    files = published_text_files(site.html)
    assert len(files) > len(EXAMPLE_PAGES), "the HTML, the Markdown copies and llms.txt"
    for path in files:
        found = LOCAL_ADDRESS.search(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(site.html)} names {found.group()}"
    assert not (site.html / "sitemap.xml").exists(), "no sitemap without a base URL"
    for relative in ("index.html", EXAMPLE_PAGE, "404.html"):
        page = site.soup(relative)
        assert not page.select("link[rel='canonical']"), relative
        assert not page.select("meta[property='og:url']"), relative


# The site built as the Pages workflow builds it, under a sub-path: conftest.py's `hosted`.
BASE_URL = HOSTED_BASE_URL


def test_a_hosted_build_names_each_page_by_its_address_under_the_base_url(hosted):
    for relative in ("index.html", EXAMPLE_PAGE):
        page = hosted.soup(relative)
        assert page.select_one("link[rel='canonical']")["href"] == BASE_URL + relative
        og_url = page.select_one("meta[property='og:url']")["content"]
        assert og_url == BASE_URL + relative, og_url
    sitemap = (hosted.html / "sitemap.xml").read_text(encoding="utf-8")
    locations = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    assert BASE_URL + "index.html" in locations
    for page in EXAMPLE_PAGES:
        assert BASE_URL + page in locations, page
    assert all(loc.startswith(BASE_URL) for loc in locations), locations
    assert not any(loc.endswith(("search.html", "404.html", "genindex.html")) for loc in locations)
    for loc in locations:
        assert (hosted.html / loc.removeprefix(BASE_URL)).is_file(), loc


def test_the_404_page_works_under_the_sub_path(hosted):
    """The host serves 404.html for /session-sync/any/depth: its links start at the sub-path."""
    page = hosted.soup("404.html")
    assert "Page not found" in page.get_text()
    prefix = "/" + BASE_URL.split("/", 3)[3]
    # Its assets: stylesheets, icons, scripts, images.
    links = [tag["href"] for tag in page.select("link[href]")]
    links += [tag["src"] for tag in page.select("script[src], img[src]")]
    # And the links of its text (sphinxext/not_found_links.py).
    links += [tag["href"] for tag in page.select("article a[href]")]
    local = [link for link in links if not link.startswith(("https:", "http:", "#", "data:"))]
    stylesheets = [link["href"] for link in page.select("link[rel='stylesheet']")]
    assert stylesheets and local, (stylesheets, local)
    for link in local:
        assert link.startswith(prefix), f"{link} would not resolve at any depth under {prefix}"
        target = hosted.html / link.removeprefix(prefix).split("#")[0].split("?")[0]
        assert target.is_file() or (target / "index.html").is_file(), link
    assert page.select_one("html")["data-content_root"] == prefix


# ---------------------------------------------------------------------------------------------
# Downloads
# ---------------------------------------------------------------------------------------------


def test_each_example_downloads_as_python_and_notebook_and_all_as_zips(site):
    page = site.soup(EXAMPLE_PAGE)
    downloads = [a["href"] for a in page.select(".sphx-glr-download a")]
    assert any(href.endswith("four_strategies.py") for href in downloads), downloads
    assert any(href.endswith("four_strategies.ipynb") for href in downloads), downloads
    gallery = site.soup("auto_examples/index.html")
    zips = [a["href"] for a in gallery.select("a[href$='.zip']")]
    assert any("python" in href for href in zips) and any("jupyter" in href for href in zips)
    for href in zips:
        archive = (site.html / "auto_examples" / href).resolve()
        with zipfile.ZipFile(archive) as bundle:
            assert len(bundle.namelist()) >= len(EXAMPLES), href


@pytest.fixture(scope="module")
def notebook(site):
    (path,) = site.html.glob("_downloads/*/four_strategies.ipynb")
    return json.loads(path.read_text(encoding="utf-8"))


def test_notebook_first_cell_installs_the_verified_sqlalchemy(notebook):
    import sqlalchemy

    first = "".join(notebook["cells"][0]["source"])
    assert notebook["cells"][0]["cell_type"] == "code"
    assert f"%pip install sqlalchemy=={sqlalchemy.__version__}" in first
    constraints = (ROOT / "requirements" / "constraints.txt").read_text()
    assert f"SQLAlchemy=={sqlalchemy.__version__}" in constraints, "built with the pinned version"
    assert "session_sync" not in json.dumps(notebook), "downloads carry none of our code"


# ---------------------------------------------------------------------------------------------
# The hosted build in the browser, served under its sub-path.
# ---------------------------------------------------------------------------------------------

browser = test_browser.browser


class SubPathHandler(QuietHandler):
    """A host that serves the site under /session-sync/ and 404.html for any missing address,
    with status 404, as GitHub Pages does."""

    prefix = "/" + HOSTED_BASE_URL.split("/", 3)[3]

    def send_head(self):
        path = urlsplit(self.path).path
        local = Path(self.directory) / path.removeprefix(self.prefix)
        if not path.startswith(self.prefix) or not (local.is_file() or local.is_dir()):
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            return io.BytesIO(body)
        self.path = "/" + path.removeprefix(self.prefix)
        return super().send_head()


@pytest.fixture(scope="module")
def hosted_url(hosted):
    """The hosted build (conftest.py), served under its sub-path on a free port."""
    with serving(functools.partial(SubPathHandler, directory=str(hosted.html))) as port:
        yield f"http://127.0.0.1:{port}{SubPathHandler.prefix}"


STYLESHEETS_LOADED = """() => [...document.querySelectorAll("link[rel='stylesheet']")].map(link => {
    let rules = 0;
    try { rules = link.sheet ? link.sheet.cssRules.length : 0; } catch (error) { rules = -1; }
    return {href: link.href, rules};
})"""


def test_the_404_page_works_deep_under_the_sub_path(browser, hosted_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    visit = Visit(context, hosted_url)
    missing = hosted_url + "auto_examples/no/such/deep/page.html"
    response = visit.page.goto(missing, wait_until="load")
    assert response.status == 404, "the host answers a missing address with 404"
    # That 404 is the point (and the browser's console says so once); any other counts: a
    # missing asset is an "HTTP 404" of its own.
    visit.errors.remove(f"HTTP 404: {missing}")
    said = [e for e in visit.errors if e.startswith("console error:") and " 404 " in e]
    if said:
        visit.errors.remove(said[0])
    page = visit.page
    expect(page.locator("h1").first).to_have_text(re.compile(r"^Page not found"))
    sheets = page.evaluate(STYLESHEETS_LOADED)
    assert sheets, "the page links its stylesheets"
    for sheet in sheets:
        assert urlsplit(sheet["href"]).path.startswith(SubPathHandler.prefix), sheet
        assert sheet["rules"] > 0, f"a stylesheet did not load: {sheet}"
    # Styled by furo: its colours are set, its sidebar laid out, not the browser's default page.
    colour = page.evaluate(
        "getComputedStyle(document.body).getPropertyValue('--color-background-primary')"
    )
    assert colour.strip(), "furo's stylesheet applies"
    expect(page.locator(".sidebar-drawer")).to_be_visible()
    for image in page.locator("img").all():
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), image
    screenshot(page, "404-under-sub-path", full_page=True)
    # Each link of the page reaches a real page of the site, under the sub-path.
    hrefs = page.locator("article a[href]").evaluate_all("links => links.map(a => a.href)")
    local = [
        href
        for href in hrefs
        if urlsplit(href).netloc == urlsplit(hosted_url).netloc
        and href.split("#")[0] != missing  # a heading's own anchor
    ]
    assert len(local) >= 8, local
    for href in dict.fromkeys(href.split("#")[0] for href in local):
        assert urlsplit(href).path.startswith(SubPathHandler.prefix), href
        assert context.request.get(href).status == 200, f"{href} is no page"
    page.locator("article a", has_text="home page").click()
    expect(page).to_have_url(hosted_url + "index.html")
    expect(page.locator(".landing-card").first).to_be_visible()
    visit.assert_clean()
    context.close()


HOSTED = ("DetachedInstanceError: Parent instance", "expire_on_comit", "synchronise_session")
HOSTED_QUERIES = [q for q in QUERIES if q["text"].startswith(HOSTED)][: len(HOSTED)]


@pytest.mark.parametrize("query", HOSTED_QUERIES, ids=lambda q: q["text"][:40])
def test_search_works_under_the_hosted_sub_path(browser, hosted_url, query):
    """The Pages build, served under its sub-path: the same first page, and its link opens."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Visit(context, hosted_url)
    try:
        page, results = type_search(tab, query["text"])
        assert result_pages(results, hosted_url)[0] == query["first"]
        results.first.locator(":scope > a").click()
        page.wait_for_load_state()
        assert page.url.startswith(hosted_url + query["first"]), page.url
        expect(page.locator("h1").first).to_be_visible()
        tab.assert_clean()
    finally:
        context.close()
