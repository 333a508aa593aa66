"""Static checks of deploy/terraform/aws that need no Terraform binary.

Parses every .tf and .tfvars file with python-hcl2 (a real HCL2 parser) and
checks that:
  * every variable, of the root module and of each module, has a type and a
    description, and every output a description;
  * every module call passes each variable the module requires (no default)
    and no variable the module does not declare;
  * every environment's terraform.tfvars sets each required root variable
    (except DEPLOY_TIME ones, passed by the deploy with -var) and nothing
    the root module does not declare.

Usage: python check_hcl.py [deploy/terraform/aws]; exit 1 with the list of
problems, 0 when there are none.
"""

import pathlib
import sys

import hcl2

# Given on the command line by the deploy, never written in a file: the
# image digest that release.yml built and stage ran.
DEPLOY_TIME = {"image"}


def unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def load(path: pathlib.Path) -> dict:
    with path.open() as f:
        try:
            return hcl2.load(f)
        except Exception as e:  # the parser's own errors name the place
            raise SystemExit(f"{path}: does not parse as HCL: {e}")


def blocks(module_dir: pathlib.Path, kind: str) -> dict[str, tuple[pathlib.Path, dict]]:
    """Blocks of one kind (variable, output, module) in a module, by name."""
    found = {}
    for path in sorted(module_dir.glob("*.tf")):
        for block in load(path).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = (path, body)
    return found


def check_module(module_dir: pathlib.Path, problems: list[str]) -> dict[str, bool]:
    """Checks a module's variables and outputs; returns {variable: required}."""
    variables = {}
    for name, (path, body) in blocks(module_dir, "variable").items():
        if not unquote(str(body.get("description", ""))).strip():
            problems.append(f"{path}: variable {name} has no description")
        if "type" not in body:
            problems.append(f"{path}: variable {name} has no type")
        variables[name] = "default" not in body
    for name, (path, body) in blocks(module_dir, "output").items():
        if not unquote(str(body.get("description", ""))).strip():
            problems.append(f"{path}: output {name} has no description")
    if not variables and not list(module_dir.glob("*.tf")):
        problems.append(f"{module_dir}: no .tf files")
    return variables


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/terraform/aws")
    problems: list[str] = []
    root_vars = check_module(root, problems)
    modules = sorted(p for p in (root / "modules").iterdir() if p.is_dir())
    module_vars = {m.name: check_module(m, problems) for m in modules}

    called = set()
    for name, (path, body) in blocks(root, "module").items():
        source = unquote(str(body.get("source", "")))
        target = (root / source).resolve()
        if target.parent != (root / "modules").resolve() or target.name not in module_vars:
            problems.append(f"{path}: module {name} has source {source}, not one of ./modules/*")
            continue
        called.add(target.name)
        declared = module_vars[target.name]
        given = {k for k in body if k not in ("source", "__is_block__", "depends_on", "providers", "count", "for_each")}
        for missing in sorted(v for v, required in declared.items() if required and v not in given):
            problems.append(f"{path}: module {name} does not set its required variable {missing}")
        for unknown in sorted(given - declared.keys()):
            problems.append(f"{path}: module {name} sets {unknown}, which ./modules/{target.name} does not declare")
    for unused in sorted(module_vars.keys() - called):
        problems.append(f"{root}/modules/{unused}: no module call uses it")

    environments = sorted(p for p in (root / "environments").iterdir() if p.is_dir())
    if not environments:
        problems.append(f"{root}/environments: no environment")
    for env in environments:
        tfvars = env / "terraform.tfvars"
        if not tfvars.exists():
            problems.append(f"{env}: no terraform.tfvars")
            continue
        values = {k: v for k, v in load(tfvars).items() if not k.startswith("__")}
        for missing in sorted(v for v, required in root_vars.items()
                              if required and v not in values and v not in DEPLOY_TIME):
            problems.append(f"{tfvars}: does not set the required variable {missing}")
        for unknown in sorted(values.keys() - root_vars.keys()):
            problems.append(f"{tfvars}: sets {unknown}, which the root module does not declare")
        for given in sorted(DEPLOY_TIME & values.keys()):
            problems.append(f"{tfvars}: sets {given}, which the deploy passes (the promoted digest)")
        if unquote(str(values.get("environment", ""))) != env.name:
            problems.append(f"{tfvars}: environment is {values.get('environment')}, not {env.name}")

    for problem in problems:
        print(f"terraform: {problem}", file=sys.stderr)
    n_vars = len(root_vars) + sum(len(v) for v in module_vars.values())
    print(f"terraform: {len(modules)} modules, {n_vars} variables, {len(environments)} environments: "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
