import os

# Everything the judge knows about the checks, printed where the student's report might show it.
for root, dirs, files in os.walk("@@REPO@@/grader"):
    for name in files:
        try:
            with open(os.path.join(root, name), encoding="utf-8") as f:
                print("hostile: read", name, len(f.read()))
        except OSError as exc:
            print("hostile:", exc)
try:
    import grader.judge.fresh_text as fresh
    print("hostile: fresh records", fresh.records(0)[:2])
except Exception as exc:
    print("hostile: no grader package:", exc)
