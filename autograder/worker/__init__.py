"""Running a submission's code in a separate process that only exchanges data.

``wire``: the data-only encoding of everything that crosses the process
boundary. ``zygote``: a pre-warmed parent (torch imported once) that forks one
worker per notebook. ``runtime``: what runs inside a worker. ``client``: the
grader's handle on a worker.
"""
