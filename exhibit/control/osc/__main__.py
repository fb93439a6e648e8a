"""`python -m exhibit.control.osc OPTIONS_JSON`: the receiver process, started by OscServer (see receiver.py)."""
import json
import sys

from exhibit.control.osc.receiver import receive

sys.exit(receive(json.loads(sys.argv[1])))
