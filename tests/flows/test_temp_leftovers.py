"""A stage run deletes the temporary files a killed earlier run's atomic writes left in its outs: hidden from mira,
they were hashed and pushed by DVC (a persist out like data/embeddings kept them for good) and piled up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from flows.common import run_log
from mira_core.layout import Layout


def test_a_killed_write_leaves_a_temporary_file_that_the_next_run_of_its_stage_removes(tmp_path):
    lay = Layout(tmp_path)
    shard = lay.embeddings / "s" / "part-00000.parquet"
    # a real kill inside atomic_path: the child writes into its temporary file and is killed before the rename
    child = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom mira_core.io import atomic_path\n"
        f"with atomic_path({str(shard)!r}) as tmp:\n    tmp.write_bytes(b'x' * 1000)\n"
        "    print('writing', flush=True)\n    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    child.wait()
    (left,) = [f for f in shard.parent.iterdir()]
    assert left.name.startswith(".part-00000.parquet.") and left.name.endswith(".tmp") and not shard.exists()
    shard.write_bytes(b"a finished shard")
    (shard.parent / ".keep").write_text("")  # a hidden file of another shape is not mkstemp's: left alone
    other = lay.scores / "g" / f".part-00000.parquet.{'a' * 8}.tmp"  # another stage's out: not this stage's to clean
    other.parent.mkdir(parents=True)
    other.write_text("")
    with run_log(lay, "embed") as log:
        pass  # the stage's work
    assert sorted(f.name for f in shard.parent.iterdir()) == [".keep", "part-00000.parquet"] and other.exists()
    assert log["removed_leftovers"] == 1
    assert json.loads(lay.run_log("embed").read_text())["removed_leftovers"] == 1
