# A shadow of the probe's own module start: whoever imports this instead leaves proof and a fake full score.
import os

for folder in ("@@CANARY_DIR@@", os.environ.get("GRADER_OUT", ".")):
    try:
        with open(os.path.join(folder, "hostile-canary-shadow-start"), "w") as f:
            f.write('{"score": 100, "tests": []}')
    except OSError:
        pass
