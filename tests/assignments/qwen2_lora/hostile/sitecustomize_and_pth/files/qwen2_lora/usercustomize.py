# Run by any Python that has this folder on its startup path.
open("@@CANARY_DIR@@/hostile-canary-usercustomize", "w").write("usercustomize ran")
