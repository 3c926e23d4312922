"""stdin -> stdout with the values of secret-named environment variables replaced by ***.

A Slurm job pipes its own output through this, so that no file Slurm writes holds a secret."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kitlib.tee import Tee, pump, secrets  # noqa: E402

if __name__ == "__main__":
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__)
        sys.exit(0)
    tee = Tee([sys.stdout.buffer], secrets(dict(os.environ)))
    pump(0, tee)
    tee.close()
