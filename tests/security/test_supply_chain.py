"""Supply chain: the locked dependencies, their vulnerability audit, and a secret scan of the tree.

`make setup` installs requirements.lock with pip's hash checking; these tests keep the lock honest
against pyproject.toml, audit the locked set with pip-audit (PyPI's vulnerability data: this machine
reaches PyPI, not osv.dev), and scan every file git would commit with detect-secrets against the audited
baseline. An unreachable vulnerability service fails the audit loudly: it never passes by default.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stockula_pipelines.settings import project_dir

ROOT = project_dir()
LOCK = ROOT / "requirements.lock"
BASELINE = ROOT / ".secrets.baseline"
ACCEPTED = ROOT / "pip-audit-accepted.txt"
SECURITY_DOC = ROOT / "docs" / "security.md"
AUDIT_TIMEOUT_S = 300
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")  # name[extras]==version


def locked() -> dict[str, tuple[str, int]]:
    """{name: (version, number of hashes)} of requirements.lock."""
    pins: dict[str, tuple[str, int]] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            pins[current] = (match[2], 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    extras = project["optional-dependencies"]
    # The lock holds the dev and executors extras (Makefile: make lock).
    return [Requirement(r) for r in project["dependencies"] + extras["dev"] + extras["executors"] + build]


def test_the_lock_pins_every_declared_dependency_with_hashes():
    pins = locked()
    assert len(pins) > 50
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is declared in pyproject.toml but not locked: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {name}=={version}, outside pyproject.toml's {requirement}: run `make lock`")
    unhashed = [name for name, (_, hashes) in pins.items() if hashes == 0]
    assert unhashed == [], f"pins without a hash: {unhashed}"


def test_make_setup_installs_from_the_lock_with_hash_checking():
    setup = (ROOT / "infra/local/setup.sh").read_text()
    assert "install -q --require-hashes -r requirements.lock" in setup
    assert "--no-deps --no-build-isolation -e ." in setup  # the project itself pulls in nothing unlocked
    assert re.search(r"^lock:", (ROOT / "Makefile").read_text(), re.M)


def accepted() -> tuple[dict[str, str], dict[str, str]]:
    """From pip-audit-accepted.txt: {vulnerability ID: reason} and {package==version: reason} of pins
    accepted as not auditable here. Lines: `<ID> <package> <reason>` or `UNAUDITED <package>==<version> <reason>`."""
    vulns, unaudited = {}, {}
    for line in ACCEPTED.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, what, reason = (line.split(None, 2) + ["", ""])[:3]
        assert what and len(reason) > 20, f"{ACCEPTED.name}: each entry names its package and a reason: {line}"
        if key == "UNAUDITED":
            unaudited[canonicalize_name(what.split("==")[0]) + "==" + what.split("==")[1]] = reason
        else:
            vulns[key] = reason
    return vulns, unaudited


def _pip_audit(tmp_path: Path, ignored: list[str]) -> dict[str, dict]:
    """pip-audit's own PyPI service over the lock: {name: its JSON entry}."""
    pip_audit = Path(sys.executable).with_name("pip-audit")
    if not pip_audit.exists():
        pytest.fail("pip-audit is not installed in the virtualenv: `make setup` installs it from requirements.lock")
    report = tmp_path / "audit.json"
    args = [str(pip_audit), "--vulnerability-service", "pypi", "--disable-pip", "--require-hashes",
            "-r", str(LOCK), "--progress-spinner", "off", "--format", "json", "--output", str(report),
            "--cache-dir", str(tmp_path / "cache")]
    for vuln_id in ignored:
        args += ["--ignore-vuln", vuln_id]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=AUDIT_TIMEOUT_S)
    if not report.exists() or not report.read_text().strip():
        pytest.fail("THE DEPENDENCY AUDIT DID NOT RUN: pip-audit could not ask PyPI's vulnerability data "
                    f"(exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return {canonicalize_name(d["name"]): d for d in json.loads(report.read_text())["dependencies"]}


def _latest_release(name: str) -> dict:
    """PyPI's JSON for the project's newest release (the one document this machine's PyPI serves)."""
    import requests

    try:
        response = requests.get(f"https://pypi.org/pypi/{name}/json", timeout=30)
        response.raise_for_status()
        return response.json()
    except requests.RequestException as exc:
        pytest.fail(f"THE DEPENDENCY AUDIT DID NOT RUN: PyPI's JSON API did not answer for {name}: {exc}")


def test_the_locked_dependencies_have_no_unaccepted_vulnerability(tmp_path):
    """pip-audit with its PyPI service; where that service finds nothing to ask (this machine's PyPI answers
    only /pypi/<name>/json, never the per-version document pip-audit reads, so pip-audit skips every pin
    as "not found"), the newest release's document answers for pins that are the newest release. A pin
    neither can audit must be listed as UNAUDITED with its reason, and the test says which on every run."""
    from concurrent.futures import ThreadPoolExecutor

    accepted_vulns, accepted_unaudited = accepted()
    pins = locked()
    audited = _pip_audit(tmp_path, list(accepted_vulns))
    assert set(audited) == set(pins), "pip-audit must be given exactly the locked set"
    findings: list[str] = []
    for name, entry in audited.items():
        findings += [f"{name} {entry['version']}: {v['id']}" for v in entry.get("vulns", [])]
    skipped = sorted(name for name, entry in audited.items() if entry.get("skip_reason"))
    with ThreadPoolExecutor(max_workers=8) as pool:
        latest = dict(zip(skipped, pool.map(_latest_release, skipped), strict=True))
    unaudited = []
    for name in skipped:
        version = pins[name][0]
        document = latest[name]
        if document["info"]["version"] != version:
            unaudited.append(f"{name}=={version}")
            continue
        findings += [f"{name} {version}: {v['id']} (fixed in {', '.join(v.get('fixed_in') or []) or 'nothing yet'})"
                     for v in document.get("vulnerabilities") or []
                     if not v.get("withdrawn") and v["id"] not in accepted_vulns
                     and not set(v.get("aliases") or []) & set(accepted_vulns)]
    assert findings == [], ("known vulnerabilities in requirements.lock: upgrade (`make lock`) or accept each in "
                            f"{ACCEPTED.name} with its reason:\n" + "\n".join(findings))
    if unaudited:
        warnings.warn(f"{len(unaudited)} of {len(pins)} locked pins could not be audited on this machine "
                      f"(older than their newest release; accepted in {ACCEPTED.name}): {', '.join(unaudited)}",
                      stacklevel=1)
    new = sorted(set(unaudited) - set(accepted_unaudited))
    assert new == [], (f"NOT AUDITED: no vulnerability data reachable for {new}; upgrade them or list each as "
                       f"UNAUDITED in {ACCEPTED.name} with the reason it is pinned below its newest release")
    stale = sorted(set(accepted_unaudited) - set(unaudited))
    assert stale == [], f"{ACCEPTED.name} lists as UNAUDITED pins that are audited now (remove them): {stale}"
    assert len(pins) - len(unaudited) > 100


def tree_files() -> list[str]:
    """Every file git would commit: tracked, plus untracked ones not ignored."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.fail("the secret scan needs the git checkout (git ls-files)")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout.decode()
    return sorted(f for f in out.split("\0") if f and (ROOT / f).is_file())


def _scan(files: list[str]):
    from detect_secrets import SecretsCollection
    from detect_secrets.core import baseline

    known = baseline.load(baseline.load_from_file(str(BASELINE)), str(BASELINE))  # also sets its plugins/filters
    found = SecretsCollection()  # file names relative to the working directory, as in the baseline
    found.scan_files(*files, num_processors=1)
    return known, found


def test_the_secret_scan_finds_nothing_beyond_the_audited_baseline(monkeypatch):
    monkeypatch.chdir(ROOT)
    files = tree_files()
    assert "requirements.lock" in files and ".env" not in files
    known, found = _scan(files)
    new = [f"{name}:{secret.line_number} ({secret.type})" for name, secret in (found - known)]
    assert new == [], ("possible secrets not in .secrets.baseline (remove them, or if false positives, "
                       "`detect-secrets scan --baseline .secrets.baseline`, audit, and explain them in "
                       "docs/security.md):\n" + "\n".join(new))
    raw = json.loads(BASELINE.read_text())
    doc = SECURITY_DOC.read_text()
    for name, entries in raw["results"].items():
        for entry in entries:
            assert entry.get("is_secret") is False, f"{name}:{entry['line_number']} is not audited as a false positive"
        assert f"`{name}`" in doc, f"docs/security.md does not explain the baseline entries of {name}"


def test_the_secret_scan_would_see_a_secret(tmp_path, monkeypatch):
    """The same scan with the same settings flags a planted key and a password literal."""
    planted = tmp_path / "planted.py"
    key = "AKIA" + "J7QZ4XW2MB5RT6NP"
    planted.write_text(f'aws_key = "{key}"\ndb_password = "{"Xq7#" + "v9Lp2rT8wZ"}"\n')
    monkeypatch.chdir(tmp_path)
    _, found = _scan(["planted.py"])
    kinds = {secret.type for _, secret in found}
    assert "AWS Access Key" in kinds and "Secret Keyword" in kinds, kinds


def test_local_secret_files_are_never_committed():
    proc = subprocess.run(["git", "check-ignore", ".env", ".stack/stack.env", ".venv/x"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.stdout.split() == [".env", ".stack/stack.env", ".venv/x"]
