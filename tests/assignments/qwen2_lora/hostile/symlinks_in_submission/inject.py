# Read through the links; whatever comes back leaves in an exception, whose text the report shows.
# (/etc/passwd is the sandbox's own read-only /etc: reading it is no leak.)
import os as _os

_here = _os.path.dirname(_os.path.abspath(__file__))
_found = []
for _name in ("reference_train.py", "secret.txt", "shadow", "host_root/root/.bashrc"):
    try:
        with open(_os.path.join(_here, _name), "rb") as _f:
            _data = _f.read()
        if _data:
            _found.append(f"{_name}: {_data[:300]!r}")
    except OSError:
        pass
if _found:
    raise RuntimeError("hostile: read through links: " + " | ".join(_found))
