"""``python -m thinc_fast`` runs the ``thinc-fast`` command line."""
from .cli import main

main(prog_name="thinc-fast")
