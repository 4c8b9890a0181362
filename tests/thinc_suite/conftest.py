# The Thinc-suite runner (run.py) is a script, not a test module: the repo's own
# pytest run collects nothing here. See run.py's docstring for how to use it.
collect_ignore_glob = ["*"]
