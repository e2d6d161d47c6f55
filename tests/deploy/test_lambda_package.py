"""`chalice package` for prod, as deployed: Lambda-safe wheels, compiled bytecode, within
budget, one SAM template with infra/ that cfn-lint accepts, operations settings in place.

Building downloads the pinned wheels from PyPI (about a minute); it happens once per run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devtools import lambda_package
from devtools.emulators.moto_server import FAKE_CREDENTIALS
from infra.configure import read_config

pytestmark = pytest.mark.no_aws

STAGE = "prod"


@pytest.fixture
def built(merged_prod: Path) -> Path:
    return merged_prod


def _sam(built: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads((built / "sam.json").read_text(encoding="utf-8"))
    return template


def test_prod_package_is_lambda_safe_compiled_and_within_budget(
        built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    package = built / "deployment.zip"
    assert lambda_package.main(["check", str(package)]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "deployment.zip:" in printed and " MB (budget" in printed
    report = lambda_package.check(package)
    # Every runtime requirement arrived as a wheel Lambda can load.
    pinned = {line.split("==")[0].lower().replace("-", "_")
              for line in (lambda_package.ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    shipped = {dist.split("-")[0].lower() for dist in report.wheels}
    assert pinned <= shipped, pinned - shipped
    assert report.compiled > 100


def test_package_imports_the_app_from_its_own_files_using_the_bytecode(built: Path, tmp_path: Path) -> None:
    """Unzipped alone (no venv, no repo), `import app` works, and no module is compiled
    again: Python neither rewrites a .pyc nor writes a new one."""
    task = tmp_path / "task"
    with zipfile.ZipFile(built / "deployment.zip") as package:
        package.extractall(task)
    before = {p: p.stat().st_mtime_ns for p in task.rglob("*.pyc")}
    env = {"PATH": os.environ["PATH"], "STAGE": STAGE, "AWS_REGION": "eu-north-1",
           "APP_SECRET_PARAMETER": "/borgerdialog/prod/app-secret", "LOG_FORMAT": "text"}
    probe = ("import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
             "sys.path.insert(0, '.'); import app; print(len(app.app.routes))")
    done = subprocess.run([sys.executable, "-I", "-c", probe], cwd=task, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0
    after = {p: p.stat().st_mtime_ns for p in task.rglob("*.pyc")}
    assert after == before


def test_package_carries_the_aws_models_the_lambda_calls_and_no_others(built: Path, tmp_path: Path) -> None:
    """From the unzipped package alone, a client of every service the Lambda's code calls is
    made and one of its operations loads; a service it does not call has no model there."""
    from devtools import aws_actions

    services = lambda_package.lambda_services()
    assert {"dynamodb", "s3", "sesv2", "ses", "sqs", "ssm"} <= services
    # Every AWS action the IAM reader finds in the Lambda's code is a kept service's.
    prefixes = {aws_actions.IAM_PREFIX.get(service, service) for service in services}
    assert {call.action.split(":")[0] for call in aws_actions.code_calls()} <= prefixes
    task = tmp_path / "task"
    with zipfile.ZipFile(built / "deployment.zip") as package:
        package.extractall(task)
    probe = ("import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p]; "
             "sys.path.insert(0, '.'); import boto3\n"
             f"for name in {sorted(services)!r}:\n"
             "    client = boto3.session.Session().client(name, region_name='eu-north-1')\n"
             "    client.meta.service_model.operation_model(client.meta.service_model.operation_names[0])\n"
             "print(boto3.session.Session().get_available_services())")
    env = {"PATH": os.environ["PATH"], **FAKE_CREDENTIALS}
    done = subprocess.run([sys.executable, "-I", "-c", probe], cwd=task, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert set(eval(done.stdout)) == services  # noqa: S307 - our own probe's printed list
    report = lambda_package.check(built / "deployment.zip")
    assert report.services == sorted(services) and report.size < lambda_package.BUDGET_MB * 1e6


def test_check_refuses_a_package_without_a_model_the_lambda_calls(tmp_path: Path) -> None:
    files = {"botocore/data/endpoints.json": b"{}", "botocore/data/s3/2006-03-01/service-2.json.gz": b"x"}
    report = lambda_package.check(_zip(tmp_path / "pruned.zip", files), "python3.11",
                                  services=frozenset({"s3", "sqs"}))
    assert "no AWS API model for sqs, which the Lambda calls" in report.problems


def test_merged_template_passes_cfn_lint(built: Path) -> None:
    from cfnlint.api import ManualArgs, lint_file

    assert [str(match) for match in lint_file(built / "sam.json", ManualArgs())] == []


def test_merged_template_carries_runtime_throttling_concurrency_and_infra(built: Path) -> None:
    template = _sam(built)
    resources = template["Resources"]
    config = read_config()["stages"][STAGE]
    functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert functions
    for name, function in functions.items():
        # The Python running chalice (3.11 here) is the Lambda runtime: no other is possible.
        assert function["Properties"]["Runtime"] == lambda_package.runtime() == "python3.11", name
        assert function["Properties"].get("ReservedConcurrentExecutions", 0) >= 1, name
    settings = resources["RestAPI"]["Properties"]["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == config["api_throttling"]["rate_limit"]
    assert settings["ThrottlingBurstLimit"] == config["api_throttling"]["burst_limit"]
    assert template["Parameters"]["Stage"]["Default"] == STAGE
    assert {"SiteDistribution", "ArticlesTable", "Api5xxRateAlarm"} <= set(resources)
    # aws/chalice#2079 worked around: the log group names the function that exists.
    log_groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"
                  and r["Properties"]["LogGroupName"]["Fn::Sub"].startswith("/aws/lambda/")]
    assert log_groups
    for group in log_groups:
        referred = group["Properties"]["LogGroupName"]["Fn::Sub"].split("${")[1].rstrip("}")
        assert referred in resources


def test_chalice_deploy_reuses_the_compiled_package(built: Path) -> None:
    """The zip `chalice deploy` looks for (Chalice's own name for this code and these
    requirements) is the compiled one, so it prints "Reusing existing deployment package."."""
    from chalice.deploy.packager import LambdaDeploymentPackager
    from chalice.utils import OSUtils

    packager = LambdaDeploymentPackager(osutils=OSUtils(), dependency_builder=None, ui=None)  # type: ignore[arg-type]
    expected = Path(packager.deployment_package_filename(str(lambda_package.ROOT), lambda_package.runtime()))
    assert expected.exists(), "chalice deploy would build a package of its own (without .pyc)"
    assert lambda_package._sha256(expected) == lambda_package._sha256(built / "deployment.zip")
    with zipfile.ZipFile(expected) as package:
        assert any(name.endswith(".pyc") for name in package.namelist())


def test_every_function_has_a_concurrency_budget_in_every_deployed_stage() -> None:
    """Reserved concurrency per function (.chalice/config.json lambda_functions): a new
    handler gets its entry there; the SQS worker's must cover its maximum concurrency."""
    from chalice.app import SQSEventConfig

    from app import app

    functions: dict[str, object] = {"api_handler": None} if app.routes else {}
    functions.update({source.name: source for source in app.event_sources})
    functions.update({function.name: None for function in app.pure_lambda_functions})
    for stage in ("dev", "prod"):
        configured = read_config()["stages"][stage].get("lambda_functions", {})
        for name, source in functions.items():
            reserved = configured.get(name, {}).get("reserved_concurrency")
            assert isinstance(reserved, int) and reserved >= 1, (
                f"{stage}: add lambda_functions.{name}.reserved_concurrency to .chalice/config.json")
            if isinstance(source, SQSEventConfig) and source.maximum_concurrency:
                assert reserved >= source.maximum_concurrency, (stage, name)


# --- the check itself, on small packages made here ---------------------------------------

def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as package:
        for name, data in files.items():
            package.writestr(name, data)
    return path


def _good_files(tmp_path: Path) -> dict[str, bytes]:
    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    import py_compile

    pyc = tmp_path / "mod.pyc"
    py_compile.compile(str(source), str(pyc), invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    return {
        "mod.py": source.read_bytes(),
        f"__pycache__/mod.{sys.implementation.cache_tag}.pyc": pyc.read_bytes(),
        "fast/_speed.cpython-311-x86_64-linux-gnu.so": b"\x7fELF",
        "fast-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: cp311-cp311-manylinux2014_x86_64\n",
        "fast-1.0.dist-info/RECORD": b"fast/_speed.cpython-311-x86_64-linux-gnu.so,,4\n",
        "pure-2.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n",
    }


def test_check_passes_a_good_package(tmp_path: Path) -> None:
    report = lambda_package.check(_zip(tmp_path / "ok.zip", _good_files(tmp_path)), "python3.11")
    assert report.problems == [] and report.compiled == 1 and len(report.wheels) == 2


def test_check_refuses_a_wheel_built_on_this_machine(tmp_path: Path) -> None:
    files = _good_files(tmp_path)
    files["fast-1.0.dist-info/WHEEL"] = b"Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n"
    problems = lambda_package.check(_zip(tmp_path / "bad.zip", files), "python3.11").problems
    assert any("fast-1.0.dist-info" in p and "linux_x86_64" in p for p in problems)
    assert any("_speed" in p and "compiled extension" in p for p in problems)


def test_check_refuses_missing_or_timestamp_bytecode(tmp_path: Path) -> None:
    files = _good_files(tmp_path)
    pyc = f"__pycache__/mod.{sys.implementation.cache_tag}.pyc"
    stale = dict(files)
    stale[pyc] = files[pyc][:4] + (0).to_bytes(4, "little") + files[pyc][8:]  # timestamp-based
    assert any("unchecked-hash" in p for p in lambda_package.check(
        _zip(tmp_path / "stale.zip", stale), "python3.11").problems)
    del files[pyc]
    assert any("mod.py: no" in p for p in lambda_package.check(
        _zip(tmp_path / "none.zip", files), "python3.11").problems)


def test_check_refuses_a_package_over_budget(tmp_path: Path) -> None:
    files = _good_files(tmp_path)
    files["data.bin"] = os.urandom(200_000)
    report = lambda_package.check(_zip(tmp_path / "big.zip", files), "python3.11", budget_mb=0.1)
    assert any("over the budget" in p for p in report.problems)


@pytest.mark.parametrize(("tag", "ok"), [
    ("py3-none-any", True),
    ("cp311-cp311-manylinux2014_x86_64", True),
    ("cp311-cp311-manylinux_2_17_x86_64", True),
    ("cp38-abi3-manylinux_2_17_x86_64", True),
    ("cp311-cp311-manylinux_2_28_x86_64", False),  # newer glibc than python3.11's Amazon Linux 2
    ("cp311-cp311-linux_x86_64", False),  # built here
    ("cp311-cp311-musllinux_1_2_x86_64", False),
    ("cp311-cp311-manylinux2014_aarch64", False),
    ("cp312-cp312-manylinux2014_x86_64", False),
])
def test_wheel_tags_lambda_can_load(tag: str, ok: bool) -> None:
    assert lambda_package._tag_ok(tag, "python3.11") is ok


def test_build_output_is_not_committed() -> None:
    ignored = (lambda_package.ROOT / ".gitignore").read_text()
    assert "build/" in ignored and ".chalice/deployments/" in ignored
