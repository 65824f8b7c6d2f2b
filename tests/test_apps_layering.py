"""Imports only go downward: the application layer (data, analysis, train, cli) is never imported below it."""
import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[1] / "spikeDE"
APPS = ("data", "analysis", "train", "cli")
# what each application package may import from the others
ALLOWED = {"data": set(), "analysis": set(), "train": {"data", "analysis"}, "cli": {"data", "analysis", "train"}}


def _imported_spikede_parts(path: pathlib.Path):
    rel = path.relative_to(PKG.parent).with_suffix("").parts        # ('spikeDE', 'train', 'run')
    pkg = rel[:-1]                                                  # the package the module lives in
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - node.level + 1])
                mod = base + (node.module.split(".") if node.module else [])
                names = [mod + [a.name] for a in node.names] if not node.module else [mod]
            else:
                names = [node.module.split(".")] if node.module else []
            for n in names:
                if n and n[0] == "spikeDE" and len(n) > 1:
                    yield n[1]
        elif isinstance(node, ast.Import):
            for a in node.names:
                n = a.name.split(".")
                if n[0] == "spikeDE" and len(n) > 1:
                    yield n[1]


def test_lower_layers_do_not_import_the_application_layer():
    bad = []
    for path in PKG.rglob("*.py"):
        own = path.relative_to(PKG).parts[0].removesuffix(".py")
        for part in _imported_spikede_parts(path):
            if part in APPS and part != own and (own not in APPS or part not in ALLOWED[own]):
                bad.append(f"{path.relative_to(PKG.parent)} imports spikeDE.{part}")
    assert not bad, "\n".join(bad)


def test_the_scanner_sees_relative_imports():
    assert "analysis" in set(_imported_spikede_parts(PKG / "train" / "run.py"))       # from ..analysis.x import
    assert "data" in set(_imported_spikede_parts(PKG / "train" / "trainer.py"))       # from ..data.batching import
    assert "train" in set(_imported_spikede_parts(PKG / "cli.py"))                    # from .train.x import
    assert "order" in set(_imported_spikede_parts(PKG / "analysis" / "orders.py"))   # from ..order import
