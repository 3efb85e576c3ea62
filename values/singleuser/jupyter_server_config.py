"""jupyter_server runs this file (from /usr/local/etc/jupyter, next to the JSON settings) before it loads
server extensions: it makes the extensions in ./extensions importable. Setting PYTHONPATH on the pod
instead would replace a PYTHONPATH the user's image sets for itself."""

import os
import sys

# traitlets runs config files with __file__ set to the file's own path.
EXTENSIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extensions")
if EXTENSIONS not in sys.path:
    sys.path.append(EXTENSIONS)
