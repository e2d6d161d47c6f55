"""Build the Lambda package Chalice deploys, with compiled bytecode, and check it is Lambda-safe.

    python -m devtools.lambda_package build --stage prod                    # build/prod/
    python -m devtools.lambda_package build --stage prod --merge-template   # + infra/ in one SAM template
    python -m devtools.lambda_package check build/prod/deployment.zip

``build`` runs ``chalice package`` (which takes manylinux wheels for the Python running it:
3.11 here, Lambda's ``python3.11``), then compiles every ``.py`` in the zip to ``.pyc``
with that same Python. Lambda's file system is read-only, so a package without bytecode
compiles every imported module again at each cold start. The bytecode is
*unchecked-hash* (PEP 552): Lambda's unzipped files keep no reliable mtime, and the code
never changes after the build, so Python loads the ``.pyc`` without looking at the source.
The same rewrite leaves out the API models botocore ships for every AWS service but those
the Lambda calls (``lambda_services()``: its ``aws.client(...)`` calls and pynamodb's
DynamoDB): they were half the zip (docs/decisions/lambda-package.md).

The compiled zip also replaces the one Chalice keeps in ``.chalice/deployments/``, so a
following ``chalice deploy --stage <stage>`` prints "Reusing existing deployment package."
and ships the compiled zip; it rebuilds (without bytecode) only if the code changed since.
(Deployed stages are deployed from the merged template, never by ``chalice deploy``:
docs/decisions/deploy-path.md.)

With ``--merge-template``, infra/template.yaml goes into the same SAM template: the one
template every deployed stage is deployed from (``infra/merged.py`` says what it adds: the
stage's defaults, ``/api/*`` wired to the stack's own REST API, throttling, gateway
responses, the functions' names, failure destinations and alarms). It also works around
aws/chalice#2079 (the API handler's log group refers to ``ApiHandler``, which is named
``APIHandler`` in the SAM template).

``check`` fails when a distribution in the zip is not a manylinux or pure wheel that
Lambda's runtime can load (glibc 2.26 for python3.11, 2.34 from 3.12), when a compiled
extension belongs to no such wheel, when a ``.py`` has no valid ``.pyc``, when the API model
of a service the Lambda calls is missing, or when the zip is over the size budget; it
prints the zip's size either way.
"""

from __future__ import annotations

import argparse
import compileall
import csv
import hashlib
import importlib.util
import io
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
# Lambda allows 50 MB zipped for a direct upload and 250 MB unzipped. The package is ~15 MB
# (Pillow with its bundled libraries 8.5, botocore's code and the models of the services the
# Lambda calls 2.5); the budget leaves room for growth and is noticed (a heavy new
# dependency, a service model kept by mistake) well before AWS refuses a deploy.
BUDGET_MB = 30.0
UNZIPPED_LIMIT_MB = 250.0
# The glibc of Lambda's runtime image: Amazon Linux 2 up to python3.11, AL2023 from 3.12.
RUNTIME_GLIBC = {"python3.10": (2, 26), "python3.11": (2, 26), "python3.12": (2, 34),
                 "python3.13": (2, 34), "python3.14": (2, 34)}
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_PYC_UNCHECKED_HASH = 0b01
LAMBDA_TASK_ROOT = "/var/task"


def runtime() -> str:
    """The Lambda runtime Chalice targets: the Python running it."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


# --- build ---------------------------------------------------------------------------------

def merge_template(stage: str, out: Path) -> Path:
    """The stage's part of the one stack (``infra.merged.merge_template``), for chalice's merge."""
    from infra import merged
    from infra.configure import read_config

    config = read_config()
    template = merged.merge_template(stage, config["stages"][stage], config["app_name"])
    path = out.parent / f"merge-{stage}.json"
    path.write_text(json.dumps(template, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _wire_functions(out: Path, stage: str) -> None:
    """Chalice's functions wired into the stack (``infra.merged.wire_functions``)."""
    from infra import merged

    path = out / "sam.json"
    template = json.loads(path.read_text(encoding="utf-8"))
    merged.wire_functions(template, stage)
    path.write_text(json.dumps(template, indent=2, ensure_ascii=False), encoding="utf-8")


def _fix_chalice_2079(out: Path) -> None:
    for path in out.glob("sam.*"):
        text = path.read_text(encoding="utf-8")
        if "${ApiHandler}" in text and '"ApiHandler"' not in text and "\nApiHandler:" not in text:
            path.write_text(text.replace("${ApiHandler}", "${APIHandler}"), encoding="utf-8")


# pynamodb's client: DynamoDB is called through models, never through ``aws.client``.
_MODEL_SERVICES = frozenset({"dynamodb"})
_BOTOCORE_DATA = "botocore/data/"


def lambda_services() -> frozenset[str]:
    """The AWS services whose API models the Lambda loads: every ``aws.client("...")`` in
    the modules the Lambda imports (``devtools.aws_actions.lambda_modules``), and DynamoDB."""
    from devtools.aws_actions import lambda_modules

    found = set(_MODEL_SERVICES)
    for path in lambda_modules():
        source = path.read_text(encoding="utf-8")
        found.update(re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']\s*\)""", source))
    return frozenset(found)


def _shipped(name: str, services: frozenset[str]) -> bool:
    """botocore ships the API models of every AWS service (about 16 MB of the zip); the
    package keeps those of ``services`` and botocore's shared files (endpoints, retries)."""
    if not name.startswith(_BOTOCORE_DATA):
        return True
    service, _, rest = name[len(_BOTOCORE_DATA):].partition("/")
    return not rest or service in services


def compile_zip(path: Path, services: frozenset[str] | None = None) -> int:
    """Rewrite the zip with unchecked-hash .pyc beside every .py and only the AWS API models
    of ``services`` (default: ``lambda_services()``); returns how many modules it compiled."""
    services = lambda_services() if services is None else services
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        with zipfile.ZipFile(path) as source:
            infos = [info for info in source.infolist()
                     if "__pycache__/" not in info.filename and not info.filename.endswith(".pyc")
                     and _shipped(info.filename, services)]
            for info in infos:
                source.extract(info, tree)
        # Tracebacks name the files where Lambda unpacks them, not this temporary tree.
        ok = compileall.compile_dir(
            tree, quiet=2, workers=0, stripdir=str(tree), prependdir=LAMBDA_TASK_ROOT,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        if not ok:
            raise SystemExit("some .py in the package does not compile with this Python")
        pycs = sorted(tree.rglob("*.pyc"))
        rewritten = path.with_suffix(".tmp.zip")
        with zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
            for info in infos:
                # Keep each entry's metadata (permissions, times) as chalice wrote it.
                target.writestr(info, (tree / info.filename).read_bytes()
                                if not info.is_dir() else b"")
            for pyc in pycs:
                target.write(pyc, pyc.relative_to(tree).as_posix())
        rewritten.replace(path)
        return len(pycs)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chalice_cache(original_sha: str) -> Path | None:
    """The zip Chalice keeps in .chalice/deployments that this package was copied from."""
    deployments = ROOT / ".chalice" / "deployments"
    for candidate in sorted(deployments.glob(f"*-{runtime()}*.zip"), key=os.path.getmtime, reverse=True):
        if _sha256(candidate) == original_sha:
            return candidate
    return None


def _clean_environment() -> dict[str, str]:
    """This shell's environment without app settings (a test's CAPTCHA_TEST_ANSWER, a local
    APP_SECRET, ...): chalice imports the app for the stage with the stage's own settings."""
    from infra.configure import read_config

    settings = {"APP_SECRET", "CAPTCHA_TEST_ANSWER", "AWS_ENDPOINT_URL", "LOG_FORMAT"}
    for stage_config in read_config()["stages"].values():
        settings.update(stage_config.get("environment_variables", {}))
    return {key: value for key, value in os.environ.items() if key not in settings}


def build(stage: str, out: Path, merge: bool = False) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [str(Path(sys.executable).with_name("chalice")), "package", "--stage", stage]
    if merge:
        command += ["--merge-template", str(merge_template(stage, out))]
    command.append(str(out))
    env = {**_clean_environment(), "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-north-1")}
    print("$", " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    _fix_chalice_2079(out)
    if merge:
        _wire_functions(out, stage)
    package = out / "deployment.zip"
    cache = chalice_cache(_sha256(package))
    count = compile_zip(package)
    if cache is not None:
        shutil.copyfile(package, cache)
    print(f"compiled {count} modules to .pyc ({runtime()}, unchecked-hash)"
          + (f"; chalice deploy will reuse {cache.relative_to(ROOT)}" if cache else ""))
    return package


# --- check ---------------------------------------------------------------------------------

@dataclass
class Report:
    size: int
    unzipped: int
    wheels: dict[str, str] = field(default_factory=dict)  # dist-info -> the tag that made it OK
    compiled: int = 0
    services: list[str] = field(default_factory=list)  # the AWS API models shipped
    problems: list[str] = field(default_factory=list)

    def summary(self, budget_mb: float) -> str:
        return (f"deployment.zip: {self.size / 1e6:.1f} MB (budget {budget_mb:.0f} MB), "
                f"{self.unzipped / 1e6:.1f} MB unzipped, {len(self.wheels)} wheels manylinux/pure, "
                f"{self.compiled} modules compiled, AWS API models of {', '.join(self.services)}")


def _tag_ok(tag: str, target: str) -> bool:
    """``cp311-abi3-manylinux_2_17_x86_64``: loadable by Lambda's ``target`` runtime (x86_64)?"""
    interpreter, abi, platform = tag.split("-")
    if platform == "any":
        return True
    version = target.removeprefix("python").replace(".", "")
    if abi not in {f"cp{version}", "abi3", "none"}:
        return False
    if abi == f"cp{version}" and interpreter != f"cp{version}":
        return False
    legacy = re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_x86_64", platform)
    perennial = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", platform)
    if legacy:
        glibc = _LEGACY_MANYLINUX[legacy.group(1)]
    elif perennial:
        glibc = (int(perennial.group(1)), int(perennial.group(2)))
    else:
        return False  # linux_x86_64 (built here, against this machine's libraries), macOS, musl, ...
    return glibc <= RUNTIME_GLIBC[target]


def check(path: Path, target: str | None = None, budget_mb: float = BUDGET_MB,
          services: frozenset[str] | None = None) -> Report:
    target = target or runtime()
    services = lambda_services() if services is None else services
    magic = importlib.util.MAGIC_NUMBER
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(path) as package:
        infos = package.infolist()
        names = {info.filename for info in infos}
        report = Report(size=path.stat().st_size, unzipped=sum(info.file_size for info in infos))
        dist_infos = sorted({name.split("/", 1)[0] for name in names
                             if name.split("/", 1)[0].endswith(".dist-info")})
        owned: set[str] = set()
        for dist in dist_infos:
            if f"{dist}/WHEEL" not in names:
                report.problems.append(f"{dist}: not installed from a wheel (no WHEEL file)")
                continue
            wheel = package.read(f"{dist}/WHEEL").decode()
            tags = [line.split(":", 1)[1].strip() for line in wheel.splitlines() if line.startswith("Tag:")]
            good = [t for t in tags if _tag_ok(t, target)]
            if good:
                report.wheels[dist] = good[0]
            else:
                report.problems.append(f"{dist}: wheel tags {tags} are neither pure nor manylinux "
                                       f"for {target} (glibc {RUNTIME_GLIBC[target]})")
            if f"{dist}/RECORD" in names and good:
                record = package.read(f"{dist}/RECORD").decode()
                owned.update(row[0] for row in csv.reader(io.StringIO(record)) if row)
        for name in sorted(names):
            if re.search(r"\.so(\.|$)", name) and name not in owned:
                report.problems.append(f"{name}: a compiled extension no manylinux wheel brought")
            if name.endswith(".py"):
                directory, _, module = name.rpartition("/")
                pyc = f"{directory + '/' if directory else ''}__pycache__/{module[:-3]}.{tag}.pyc"
                if pyc not in names:
                    report.problems.append(f"{name}: no {pyc}")
                    continue
                header = package.read(pyc)[:8]
                flags = int.from_bytes(header[4:8], "little")
                if header[:4] != magic or flags != _PYC_UNCHECKED_HASH:
                    report.problems.append(f"{pyc}: not unchecked-hash bytecode for {target}")
                    continue
                report.compiled += 1
        report.services = sorted({name[len(_BOTOCORE_DATA):].split("/", 1)[0] for name in names
                                  if name.startswith(_BOTOCORE_DATA) and name.count("/") > 2})
        if any(name.startswith(_BOTOCORE_DATA) for name in names):
            report.problems.extend(f"no AWS API model for {service}, which the Lambda calls"
                                   for service in sorted(services - set(report.services)))
    if report.size > budget_mb * 1e6:
        report.problems.append(f"the zip is {report.size / 1e6:.1f} MB, over the budget of {budget_mb} MB")
    if report.unzipped > UNZIPPED_LIMIT_MB * 1e6:
        report.problems.append(f"unzipped {report.unzipped / 1e6:.1f} MB: over Lambda's 250 MB")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="chalice package + .pyc, then check")
    build_cmd.add_argument("--stage", required=True)
    build_cmd.add_argument("--out", type=Path, help="default: build/<stage>")
    build_cmd.add_argument("--merge-template", action="store_true", help="merge infra/template.yaml")
    check_cmd = commands.add_parser("check", help="check a built deployment.zip")
    check_cmd.add_argument("zip", type=Path)
    for command in (build_cmd, check_cmd):
        command.add_argument("--budget-mb", type=float, default=BUDGET_MB)
    args = parser.parse_args(argv)
    if args.command == "build":
        package = build(args.stage, args.out or BUILD / args.stage, args.merge_template)
    else:
        package = args.zip
    report = check(package, budget_mb=args.budget_mb)
    print(report.summary(args.budget_mb))
    for problem in report.problems:
        print(f"  problem: {problem}", file=sys.stderr)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
