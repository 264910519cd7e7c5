"""House rules the whole repository keeps: the engine never imports Streamlit, and no file cites a
document that is not in the repository."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ssl_core_never_imports_streamlit():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "ssl_core").rglob("*.py")
                     if p.name != "__main__.py")
    code = "import importlib, sys\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules) + \
           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", out.stdout
    for path in (ROOT / "ssl_core").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+streamlit", path.read_text(), re.M), path


def test_no_file_cites_a_document_that_is_not_in_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    here = {Path(f).name for f in files} | set(files)
    for f in files:
        if not f.endswith((".py", ".md", ".txt", ".toml", ".ini")) or not (ROOT / f).exists():
            continue
        for cited in re.findall(r"\b([\w./-]+\.md)\b", (ROOT / f).read_text(errors="ignore")):
            assert cited in here or Path(cited).name in here, f"{f} cites {cited}, which is not in the repository"
