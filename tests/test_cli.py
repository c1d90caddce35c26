import subprocess
import sys

import numpy as np
import pytest

from motionmill.cli import COMMANDS, build_parser


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_documents_itself(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*name.split(), "--help"])
    assert exit_info.value.code == 0
    first_doc_line = COMMANDS[name][0].__doc__.split()[0:3]
    assert " ".join(first_doc_line) in " ".join(capsys.readouterr().out.split())


def test_the_console_script_prints_no_traceback_on_bad_input(tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((5, 300), np.float32))
    proc = subprocess.run([sys.executable, "-m", "motionmill.cli", "convert", str(tmp_path / "wide.npy"),
                           str(tmp_path / "out.html")], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    expected = f"motionmill: error: {tmp_path / 'wide.npy'}: features must have shape (T, 272), got (5, 300)"
    assert proc.stderr.strip() == expected
