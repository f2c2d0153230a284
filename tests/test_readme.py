"""The README's Python examples run as written; its quick start matches what CI runs."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks():
    text = README.read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_the_two_quick_start_commands():
    text = README.read_text()
    main = re.search(r"<!-- ci:main -->\n```bash\n(.*?)```", text, re.S).group(1)
    test = re.search(r"<!-- ci:test -->\n```bash\n(.*?)```", text, re.S).group(1)
    assert main.strip().startswith("pip install . && fastnn run all")
    assert test.strip() == 'pip install ".[test]" && pytest -q'


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_block_runs(index, tmp_path, monkeypatch):
    code = _python_blocks()[index]
    if 'load("mnist",' in code or 'load("mnist")' in code:
        pytest.skip("downloads full MNIST: no network here (the download path is tested in test_datasets.py)")
    if "dask" in code:
        pytest.importorskip("distributed", reason="dask.distributed is an optional extra")
    if "tensorboard" in code:
        pytest.importorskip("tensorboardX", reason="tensorboardX is an optional extra")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README block {index}", "exec"), {"__name__": "__main__"})
